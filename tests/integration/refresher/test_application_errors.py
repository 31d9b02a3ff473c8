"""A provider refusing the *application* (wrong or rotated client secret, bad client id) is a
configuration error: no athlete is blamed, the pass fails naming the setting, and the first
pass after the fix refreshes everyone."""

from __future__ import annotations

from collections.abc import Callable

from paceline.credential import CredentialState
from paceline.runstatus import read_run_status, refresh_totals

from tests.integration.refresher.conftest import (
    StravaSetup,
    finish,
    run_cli,
    scrape_metrics,
    spawn,
)


def test_rotated_client_secret_fails_the_pass_naming_the_setting_and_blames_no_athlete(
    strava_setup: Callable[..., StravaSetup],
) -> None:
    setup = strava_setup()
    good = setup.runtime()
    seeded = [setup.seed(good, 30 * 60) for _ in range(3)]
    # The secret was rotated at Strava; the refresher (the real command) still holds the old one.
    stale = setup.env(PACELINE_STRAVA_CLIENT_SECRET="the-secret-before-rotation")

    failed = finish(spawn(stale))

    assert failed.code == 1
    plain = [line for line in failed.stderr.splitlines() if not line.startswith("{")]
    assert plain == [
        "token-refresher: strava refused the application's credentials: fix "
        "PACELINE_STRAVA_CLIENT_SECRET (no credential was changed)"
    ], failed.stderr
    assert "the-secret-before-rotation" not in failed.stderr + failed.stdout
    for credential in seeded:
        kept = good.store.get("strava", credential.account_id)
        assert kept is not None
        assert kept.state is CredentialState.ACTIVE
        assert (kept.version, kept.refresh_token) == (credential.version, credential.refresh_token)
        assert setup.sandbox.refresh_token_valid(kept.refresh_token)
    assert refresh_totals(good.redis)[("strava", "application_error")] == 3
    assert ("strava", "needs_reauth") not in refresh_totals(good.redis)
    status = read_run_status(good.redis)
    assert status is not None and status.ok is False
    assert status.application_errors == {"strava": "PACELINE_STRAVA_CLIENT_SECRET"}
    scraped = scrape_metrics(good)
    assert (
        'paceline_refresher_application_error{provider="strava",'
        'setting="PACELINE_STRAVA_CLIENT_SECRET"} 1.0'
    ) in scraped

    # The operator fixes the secret: the very next pass refreshes all of them (no back-off).
    fixed = run_cli(good)

    assert fixed.code == 0, fixed.stderr
    for credential in seeded:
        after = good.store.get("strava", credential.account_id)
        assert after is not None and after.state is CredentialState.ACTIVE
        assert after.version == credential.version + 1
    status = read_run_status(good.redis)
    assert status is not None and status.ok and status.application_errors == {}
    assert (
        'paceline_refresher_application_error{provider="strava",setting=""} 0.0'
        in scrape_metrics(good)
    )


def test_unknown_client_id_names_the_client_id_setting(
    strava_setup: Callable[..., StravaSetup],
) -> None:
    setup = strava_setup()
    good = setup.runtime()
    credential = setup.seed(good, 30 * 60)
    failed = finish(spawn(setup.env(PACELINE_STRAVA_CLIENT_ID="999999")))

    assert failed.code == 1
    assert "PACELINE_STRAVA_CLIENT_ID" in failed.stderr
    kept = good.store.get("strava", credential.account_id)
    assert kept is not None and kept.state is CredentialState.ACTIVE
