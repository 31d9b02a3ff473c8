"""SIGKILL at every step of a refresh, then a new pass: no token is ever lost silently.

Each refresher process is killed for real (``PACELINE_TEST_CRASH_AT`` makes it SIGKILL itself
when a refresh reaches the named step; one more test kills it from outside while the provider
is answering). With a reuse-grace window nothing is lost. Without one, a rotating provider
makes the kill between its answer and our save fatal to that credential's chain, and only
that one: the next pass detects it at once, marks the credential ``needs_reauth``, fails the
run and counts ``lost_chain``.
"""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest
from paceline.credential import Credential, CredentialState
from paceline.refresh import CHECKPOINTS, inflight_key
from paceline.runstatus import refresh_totals
from paceline.runtime import Runtime

from tests.integration.refresher.conftest import (
    StravaSetup,
    finish,
    scrape_metrics,
    spawn,
    wait_for_unlocked,
)

MODES: dict[str, dict[str, Any]] = {
    "strava_no_grace": {"rotation": "sometimes", "reuse_grace_seconds": 0},
    "single_use_no_grace": {"rotation": "always-single-use", "reuse_grace_seconds": 0},
    "single_use_with_grace": {"rotation": "always-single-use", "reuse_grace_seconds": 600},
}
# The one step where the provider has rotated the token and we do not have the answer stored.
BETWEEN_ANSWER_AND_SAVE = "answered"
# Short lock and HTTP timeouts, so the locks of killed processes expire within a second.
SHORT_LOCK = {"PACELINE_REFRESH_LOCK_TTL_SECONDS": "1", "PACELINE_HTTP_TIMEOUT_SECONDS": "0.4"}


def mirrored_version(setup: StravaSetup, account: str) -> int:
    record = json.loads((setup.mirror_dir / f"strava.{account}.json").read_text())
    return int(record["version"])


def metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    match = re.search(rf"^{name}\{{{re.escape(wanted)}\}} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def assert_refreshable(setup: StravaSetup, runtime: Runtime, before: Credential) -> None:
    after = runtime.store.get("strava", before.account_id)
    assert after is not None and after.state is CredentialState.ACTIVE
    assert setup.sandbox.refresh_token_valid(after.refresh_token)
    assert mirrored_version(setup, before.account_id) == after.version


def assert_lost_and_reported(setup: StravaSetup, runtime: Runtime, before: Credential) -> None:
    after = runtime.store.get("strava", before.account_id)
    assert after is not None and after.state is CredentialState.NEEDS_REAUTH
    assert "refresh chain lost" in (after.last_error or "")
    assert after.refresh_token == before.refresh_token  # nothing overwritten
    assert mirrored_version(setup, before.account_id) == after.version
    assert runtime.redis.get(inflight_key("strava", before.account_id)) is None


@pytest.mark.parametrize("mode", list(MODES), ids=list(MODES))
def test_sigkill_at_each_step_then_a_new_pass_loses_nothing_silently(
    strava_setup: Callable[..., StravaSetup], mode: str
) -> None:
    setup = strava_setup(**MODES[mode])
    runtime = setup.runtime()
    # Half an hour left: due, and inside Strava's last hour, so even "sometimes" rotates.
    seeded = {step: setup.seed(runtime, 30 * 60) for step in CHECKPOINTS}
    env = setup.env(**SHORT_LOCK)

    killed = {
        step: spawn({**env, "PACELINE_TEST_CRASH_AT": step}, "--account", cred.account_id)
        for step, cred in seeded.items()
    }
    for step, process in killed.items():
        run = finish(process)
        assert run.code == -signal.SIGKILL, (step, run.stderr)
    wait_for_unlocked(runtime, [c.account_id for c in seeded.values()])

    recovery = finish(spawn(setup.env()))

    grace = MODES[mode]["reuse_grace_seconds"] > 0
    lost = set() if grace else {BETWEEN_ANSWER_AND_SAVE}
    for step, before in seeded.items():
        if step in lost:
            assert_lost_and_reported(setup, runtime, before)
        else:
            assert_refreshable(setup, runtime, before)
    handled = {
        line["account"]: line
        for line in recovery.log_lines()
        if line["msg"] == "credential handled"
    }
    answered = handled[seeded[BETWEEN_ANSWER_AND_SAVE].account_id]
    assert answered["result"] == ("refreshed" if grace else "lost_chain")
    assert handled[seeded["recorded"].account_id].get("recovered") is True
    assert recovery.code == (1 if lost else 0)
    assert refresh_totals(runtime.redis).get(("strava", "lost_chain"), 0) == len(lost)
    metrics = scrape_metrics(runtime)
    assert metric(
        metrics, "paceline_token_refresh_total", provider="strava", result="lost_chain"
    ) == len(lost)
    assert metric(metrics, "paceline_tokens", provider="strava", state="needs_reauth") == len(lost)
    summary = recovery.pass_summary()
    assert summary["msg"] == "refresher pass finished" and summary["ok"] is (not lost)


@pytest.mark.parametrize("grace", [0, 600], ids=["no_grace", "grace"])
def test_sigkill_from_outside_while_the_provider_is_answering(
    strava_setup: Callable[..., StravaSetup], grace: int
) -> None:
    """The request reached the provider, which rotated the token; the answer died with us."""
    setup = strava_setup(rotation="always-single-use", reuse_grace_seconds=grace)
    runtime = setup.runtime()
    before = setup.seed(runtime, 30 * 60)
    setup.sandbox.fault("/oauth/token", latency_ms=800, times=1)

    process = spawn(setup.env(PACELINE_REFRESH_LOCK_TTL_SECONDS="1"))
    deadline = time.monotonic() + 10
    while runtime.redis.get(inflight_key("strava", before.account_id)) is None:
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.01)
    time.sleep(0.3)  # the token post is now waiting inside the provider
    process.send_signal(signal.SIGKILL)
    assert finish(process).code == -signal.SIGKILL
    deadline = time.monotonic() + 5
    while setup.token_posts() < 1:  # the provider finishes its work (and rotates) anyway
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert not setup.sandbox.refresh_token_valid(before.refresh_token) or grace
    wait_for_unlocked(runtime, [before.account_id])

    recovery = finish(spawn(setup.env()))

    if grace:
        assert recovery.code == 0
        assert_refreshable(setup, runtime, before)
    else:
        assert recovery.code == 1
        assert_lost_and_reported(setup, runtime, before)
        assert '"result": "lost_chain"' in recovery.stderr
