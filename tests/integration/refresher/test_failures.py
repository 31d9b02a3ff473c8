"""Provider failures: transient ones keep the credential and back off; refusals need re-auth."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cryptography.fernet import Fernet
from paceline import refresh
from paceline.credential import CredentialState
from paceline.refresh import Backoff, backoff_key, inflight_key
from paceline.runstatus import read_run_status, refresh_totals
from paceline_dev.launch import free_port

from tests.integration.refresher.conftest import StravaSetup, run_cli

TRANSIENT_FAULTS: dict[str, dict[str, Any]] = {
    "http_500": {"status": 500},
    "timeout": {"timeout": True, "hang_seconds": 3},
    "malformed_json": {"malformed": True},
}


@pytest.mark.parametrize("fault", list(TRANSIENT_FAULTS), ids=list(TRANSIENT_FAULTS))
def test_transient_failure_keeps_the_credential_fails_the_run_and_backs_off(
    strava_setup: Callable[..., StravaSetup], fault: str
) -> None:
    setup = strava_setup()
    runtime = setup.runtime()
    due = setup.seed(runtime, 30 * 60)
    setup.sandbox.fault("/oauth/token", times=1, **TRANSIENT_FAULTS[fault])

    failed = run_cli(runtime)

    assert failed.code == 1
    kept = runtime.store.get("strava", due.account_id)
    assert kept is not None
    assert (kept.version, kept.access_token, kept.refresh_token, kept.expires_at) == (
        due.version,
        due.access_token,
        due.refresh_token,
        due.expires_at,
    )
    assert kept.state is CredentialState.ACTIVE
    assert refresh_totals(runtime.redis)[("strava", "transient_error")] == 1
    status = read_run_status(runtime.redis)
    assert status is not None and status.ok is False and status.last_success_at is None

    # The next pass, a minute later, waits: no token post, still a failed run.
    posts = setup.token_posts()
    setup.clock.advance(30)
    deferred = run_cli(runtime)
    assert deferred.code == 1
    assert setup.token_posts() == posts
    assert '"result": "deferred"' in deferred.stderr

    # Once the backoff has passed the pass tries again, succeeds, and forgets the failures.
    setup.clock.advance(31)
    recovered = run_cli(runtime)
    assert recovered.code == 0
    after = runtime.store.get("strava", due.account_id)
    assert after is not None and after.version == due.version + 1
    assert setup.sandbox.refresh_token_valid(after.refresh_token)
    assert runtime.redis.get(backoff_key("strava", due.account_id)) is None
    assert runtime.redis.get(inflight_key("strava", due.account_id)) is None
    status = read_run_status(runtime.redis)
    assert status is not None and status.ok and status.last_success_at is not None


def test_connection_refused_keeps_the_credential_and_fails_the_run(
    strava_setup: Callable[..., StravaSetup],
) -> None:
    setup = strava_setup()
    runtime = setup.runtime()
    due = setup.seed(runtime, 30 * 60)
    unreachable = setup.runtime(strava_base_url=f"http://127.0.0.1:{free_port()}")

    result = run_cli(unreachable)

    assert result.code == 1
    assert '"result": "transient_error"' in result.stderr
    kept = runtime.store.get("strava", due.account_id)
    assert kept is not None and kept.version == due.version
    assert kept.refresh_token == due.refresh_token


def test_backoff_doubles_per_failure_and_force_ignores_it(
    strava_setup: Callable[..., StravaSetup],
) -> None:
    setup = strava_setup()
    runtime = setup.runtime()
    due = setup.seed(runtime, 30 * 60)
    setup.sandbox.fault("/oauth/token", status=503)
    key = backoff_key("strava", due.account_id)

    records = []
    for _ in range(3):
        assert run_cli(runtime, "--force").code == 1
        record = Backoff.parse(runtime.redis.get(key))
        assert record is not None
        records.append(record)
    assert [round(r.next_attempt_at - setup.clock.now()) for r in records] == [60, 120, 240]
    assert [r.attempts for r in records] == [1, 2, 3]
    assert setup.token_posts() == 3

    setup.sandbox.clear_faults()
    assert run_cli(runtime).code == 1  # backing off
    assert run_cli(runtime, "--force").code == 0
    assert runtime.redis.get(key) is None


def test_rate_limited_token_post_waits_at_least_retry_after(
    strava_setup: Callable[..., StravaSetup],
) -> None:
    setup = strava_setup()
    runtime = setup.runtime()
    due = setup.seed(runtime, 30 * 60)
    setup.sandbox.fault("/oauth/token", status=429, times=1)

    assert run_cli(runtime).code == 1

    record = Backoff.parse(runtime.redis.get(backoff_key("strava", due.account_id)))
    assert record is not None and record.next_attempt_at - setup.clock.now() >= 60


def test_refused_refresh_token_marks_needs_reauth_and_keeps_it_for_inspection(
    strava_setup: Callable[..., StravaSetup],
) -> None:
    setup = strava_setup()
    runtime = setup.runtime()
    good = setup.seed(runtime, 30 * 60)
    bad = setup.seed(runtime, 30 * 60)
    revoked = runtime.store.save(
        bad.replace(refresh_token="0" * 40), expected_version=bad.version
    ).credential

    result = run_cli(runtime)

    assert result.code == 1
    flagged = runtime.store.get("strava", bad.account_id)
    assert flagged is not None
    assert flagged.state is CredentialState.NEEDS_REAUTH
    assert flagged.refresh_token == revoked.refresh_token  # kept as it was, for inspection
    assert flagged.access_token == revoked.access_token
    assert "provider refused the refresh token" in (flagged.last_error or "")
    assert "invalid" in (flagged.last_error or "")
    refreshed = runtime.store.get("strava", good.account_id)
    assert refreshed is not None and refreshed.version == good.version + 1
    totals = refresh_totals(runtime.redis)
    assert totals[("strava", "needs_reauth")] == 1 and totals[("strava", "refreshed")] == 1

    # It is never posted again on its own; later runs are judged on their own work.
    posts = setup.token_posts()
    again = run_cli(runtime, "--force")
    assert setup.token_posts() == posts + 1  # only the good one
    assert again.code == 0


def test_a_refusal_is_counted_with_the_mark_even_if_the_process_dies_right_after(
    strava_setup: Callable[..., StravaSetup], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The needs_reauth mark and its count are one write: a process that dies between the
    mark and any later step (here: the separate counting a refreshed credential gets) still
    leaves the failure counted, so no alert on the counter misses it."""
    setup = strava_setup()
    runtime = setup.runtime()
    bad = setup.seed(runtime, 30 * 60)
    runtime.store.save(bad.replace(refresh_token="0" * 40), expected_version=bad.version)

    def die(*_: Any) -> None:
        raise SystemExit("killed after the mark")

    monkeypatch.setattr(refresh, "record_refresh", die)
    outcome = refresh.refresh_credential(runtime, "strava", bad.account_id, force=True)

    assert outcome.result is refresh.RefreshResult.NEEDS_REAUTH
    flagged = runtime.store.get("strava", bad.account_id)
    assert flagged is not None and flagged.state is CredentialState.NEEDS_REAUTH
    assert refresh_totals(runtime.redis) == {("strava", "needs_reauth"): 1}


def test_credential_sealed_with_another_key_fails_the_pass_and_the_others_still_refresh(
    strava_setup: Callable[..., StravaSetup],
) -> None:
    setup = strava_setup()
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    stranded = setup.seed(setup.runtime(encryption_key=old_key), 30 * 60)
    runtime = setup.runtime(encryption_key=new_key)
    current = setup.seed(runtime, 30 * 60)

    result = run_cli(runtime)

    assert result.code == 1  # the CronJob's verdict: something needs a person
    assert setup.token_posts() == 1
    refreshed = runtime.store.get("strava", current.account_id)
    assert refreshed is not None and refreshed.version == current.version + 1
    kept = setup.runtime(encryption_key=old_key).store.get("strava", stranded.account_id)
    assert kept == stranded  # nothing written over what could not be read
    unreadable = [line for line in result.log_lines() if line.get("msg") == "credential unreadable"]
    assert [(line["account"], line["error"]) for line in unreadable] == [
        (stranded.account_id, "TokenDecryptError")
    ]
    assert stranded.refresh_token not in result.stderr + result.stdout
