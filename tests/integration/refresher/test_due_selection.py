"""Which credentials a pass refreshes, and the CLI flags that narrow or widen it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.integration.refresher.conftest import StravaSetup, run_cli

HOUR = 3600


def snapshot(setup_runtime: Any) -> dict[bytes, bytes | None]:
    client = setup_runtime.redis
    return {key: client.dump(key) for key in sorted(client.keys("*"))}


def test_only_credentials_within_the_lead_are_refreshed(
    strava_setup: Callable[..., StravaSetup],
) -> None:
    setup = strava_setup()
    runtime = setup.runtime()
    later = setup.seed(runtime, 3 * HOUR)
    soon = setup.seed(runtime, 50 * 60)
    expired = setup.seed(runtime, 30 * 60, stored_expires_in=-10 * 60)

    result = run_cli(runtime)

    assert result.code == 0
    assert setup.token_posts() == 2
    left_alone = runtime.store.get("strava", later.account_id)
    assert left_alone is not None and left_alone.version == later.version
    assert left_alone.refresh_token == later.refresh_token
    for before in (soon, expired):
        after = runtime.store.get("strava", before.account_id)
        assert after is not None and after.version == before.version + 1
        assert after.access_token != before.access_token
        assert after.expires_at > setup.clock.now() + 5 * HOUR
        assert setup.sandbox.refresh_token_valid(after.refresh_token)
    assert not setup.sandbox.refresh_token_valid(soon.refresh_token)  # Strava rotated it


def test_strava_lead_is_seventy_minutes_and_configurable(
    strava_setup: Callable[..., StravaSetup],
) -> None:
    setup = strava_setup()
    runtime = setup.runtime()
    outside = setup.seed(runtime, 71 * 60)
    inside = setup.seed(runtime, 69 * 60)

    assert run_cli(runtime).code == 0

    assert runtime.store.get("strava", outside.account_id).version == outside.version  # type: ignore[union-attr]
    assert runtime.store.get("strava", inside.account_id).version == inside.version + 1  # type: ignore[union-attr]

    wider = setup.runtime(strava_refresh_lead_seconds=2 * HOUR)
    assert run_cli(wider).code == 0
    assert runtime.store.get("strava", outside.account_id).version == outside.version + 1  # type: ignore[union-attr]


def test_dry_run_prints_the_plan_and_calls_and_changes_nothing(
    strava_setup: Callable[..., StravaSetup],
) -> None:
    setup = strava_setup()
    runtime = setup.runtime()
    setup.seed(runtime, 3 * HOUR)
    due = setup.seed(runtime, 50 * 60)
    run_cli(runtime, "--account", "nobody")  # a first pass: restore marker and run status exist
    setup.sandbox.reset_calls()
    before = snapshot(runtime)
    mirror_before = {p.name: p.read_bytes() for p in setup.mirror_dir.glob("*.json")}

    result = run_cli(runtime, "--dry-run")

    assert result.code == 0
    assert f"would refresh strava:{due.account_id}" in result.stdout
    assert "1 to refresh, 1 not due" in result.stdout
    assert setup.sandbox.calls()["total"] == 0
    assert snapshot(runtime) == before
    assert {p.name: p.read_bytes() for p in setup.mirror_dir.glob("*.json")} == mirror_before


def test_account_and_provider_flags_narrow_the_pass(
    strava_setup: Callable[..., StravaSetup],
) -> None:
    setup = strava_setup()
    runtime = setup.runtime()
    first = setup.seed(runtime, 30 * 60)
    second = setup.seed(runtime, 30 * 60)

    assert run_cli(runtime, "--provider", "fitbit").code == 0
    assert run_cli(runtime, "--account", first.account_id).code == 0

    assert setup.token_posts() == 1
    assert runtime.store.get("strava", first.account_id).version == first.version + 1  # type: ignore[union-attr]
    assert runtime.store.get("strava", second.account_id).version == second.version  # type: ignore[union-attr]


def test_force_refreshes_a_credential_that_is_not_due(
    strava_setup: Callable[..., StravaSetup],
) -> None:
    setup = strava_setup()
    runtime = setup.runtime()
    fresh = setup.seed(runtime, 3 * HOUR)

    assert run_cli(runtime).code == 0
    assert setup.token_posts() == 0
    assert run_cli(runtime, "--force", "--account", fresh.account_id).code == 0

    assert setup.token_posts() == 1
    after = runtime.store.get("strava", fresh.account_id)
    assert after is not None and after.version == fresh.version + 1
