"""Revocation found without a webhook: a refused refresh whose grant the provider confirms dead
erases the account at once; a refusal the provider does not confirm keeps it (needs_reauth),
and nothing is served past the retention limit."""

from __future__ import annotations

from paceline.credential import CredentialState
from paceline.erasure import account_data_keys
from paceline.revocation import grant_is_dead
from paceline.runstatus import refresh_totals
from token_refresher.refresher import PassOptions, run_pass

from tests.integration.activity_api.conftest import Harness, HarnessFactory, make_athlete

HOUR = 3600


def test_a_grant_revoked_at_the_provider_without_an_event_is_erased_by_one_refresher_pass(
    harness: Harness,
) -> None:
    h = harness
    athlete = make_athlete(h.sandbox)
    account = h.connect(athlete, expires_in=30 * 60)  # due for refresh
    path = f"/v1/strava/athletes/{account}/summary"
    assert h.client.get(path).status_code == 200
    assert account_data_keys(h.runtime.redis, "strava", account)  # a summary is cached

    assert h.sandbox.revoke(athlete, emit_webhook=False)  # no event reaches us
    report = run_pass(h.runtime, PassOptions())

    assert report.counts["revoked"] == 1 and not report.failed
    assert h.runtime.store.get("strava", account) is None
    assert account_data_keys(h.runtime.redis, "strava", account) == []
    assert refresh_totals(h.runtime.redis)[("strava", "revoked")] == 1
    gone = h.client.get(path)
    assert gone.status_code == 404
    assert "Morning run" not in gone.get_data(as_text=True)


def test_a_refused_refresh_whose_access_token_still_works_is_kept_as_needs_reauth(
    harness: Harness,
) -> None:
    h = harness
    athlete = make_athlete(h.sandbox)
    account = h.connect(athlete, expires_in=30 * 60)
    stored = h.runtime.store.get("strava", account)
    assert stored is not None
    # The refresh token alone is refused (a lost chain, say); the grant itself is alive.
    h.runtime.store.save(stored.replace(refresh_token="0" * 40), expected_version=stored.version)

    report = run_pass(h.runtime, PassOptions())

    assert report.counts["needs_reauth"] == 1
    kept = h.runtime.store.get("strava", account)
    assert kept is not None and kept.state is CredentialState.NEEDS_REAUTH
    assert grant_is_dead(h.runtime, kept) is False


def test_an_expired_access_token_proves_nothing_so_the_account_is_kept(harness: Harness) -> None:
    h = harness
    athlete = make_athlete(h.sandbox)
    account = h.connect(athlete, expires_in=30 * 60)
    h.sandbox.revoke(athlete, emit_webhook=False)
    h.advance(31 * 60)  # our copy of the access token has expired meanwhile

    credential = h.runtime.store.get("strava", account)
    assert credential is not None
    calls = h.total_api_calls()

    assert grant_is_dead(h.runtime, credential) is False
    assert h.total_api_calls() == calls  # not even asked: a refusal would prove nothing


def test_a_needs_reauth_summary_is_not_served_past_the_retention_limit(
    harness_factory: HarnessFactory,
) -> None:
    h = harness_factory(summary_keep_seconds=2 * 86400)
    athlete = make_athlete(h.sandbox)
    account = h.connect(athlete)
    path = f"/v1/strava/athletes/{account}/summary"
    assert h.client.get(path).status_code == 200
    stored = h.runtime.store.get("strava", account)
    assert stored is not None
    h.runtime.store.save(
        stored.replace(state=CredentialState.NEEDS_REAUTH), expected_version=stored.version
    )

    h.advance(2 * 86400 - 60)
    assert h.client.get(path).status_code == 200  # stale, but inside the limit
    h.advance(120)
    late = h.client.get(path)

    assert late.status_code == 503
    assert "Morning run" not in late.get_data(as_text=True)
