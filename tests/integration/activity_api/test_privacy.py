"""An activity made private leaves the public summary: within seconds through Strava's privacy
event when the athlete granted activity:read_all (paceline's default), and within the capped
freshness when they did not (Strava sends such apps no privacy event at all)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from activity_api.events import SUBSCRIPTION_KEY
from flask import Flask

from tests.integration.activity_api.conftest import (
    VERIFY_TOKEN,
    Harness,
    HarnessFactory,
    make_athlete,
)


def subscribed(h: Harness, serve: Callable[[Flask], str]) -> None:
    """A real push subscription from the sandbox to this app's webhook endpoint."""
    url = serve(h.app)
    subscription = h.sandbox.subscribe(f"{url}/webhooks/strava", verify_token=VERIFY_TOKEN)
    h.runtime.redis.set(SUBSCRIPTION_KEY, subscription)


def shown(h: Harness, path: str) -> list[str]:
    body: dict[str, Any] = h.client.get(path).get_json()
    names = [a["name"] for a in body["recent_activities"]]
    if body.get("latest_activity"):
        names.append(body["latest_activity"]["name"])
    return names


def test_with_default_scopes_an_activity_made_private_disappears_within_seconds(
    harness_factory: HarnessFactory, serve: Callable[[Flask], str]
) -> None:
    h = harness_factory(webhook_subscription_id=None, summary_webhook_fresh_seconds=86400)
    subscribed(h, serve)
    athlete = make_athlete(h.sandbox, photos_on_latest=0)
    account = h.connect(athlete, scope=h.runtime.settings.strava_scopes)
    assert h.runtime.settings.strava_scopes == "read,activity:read_all"
    path = f"/v1/strava/athletes/{account}/summary"
    assert "Morning run" in shown(h, path)
    [run] = [a for a in h.sandbox.activities(athlete) if a["name"] == "Morning run"]
    h.consumer.block_ms = 50
    h.consumer.start()
    try:
        started = time.monotonic()
        h.sandbox.update_activity(run["id"], private=True, emit_webhook=True)
        while "Morning run" in shown(h, path):
            assert time.monotonic() - started < 10, "the privacy event never hid the activity"
            time.sleep(0.05)
        took = time.monotonic() - started
    finally:
        h.consumer.stop()
    print(f"private activity left the summary {took:.2f} s after the change")
    [delivery] = h.sandbox.deliveries(wait=5)["deliveries"]
    assert delivery["event"]["updates"] == {"private": "true"}


def subscribed_with_privacy_cap(
    harness_factory: HarnessFactory, serve: Callable[[Flask], str]
) -> Harness:
    """Subscribed; summaries fresh 60 s, 24 h with webhooks, capped at 10 min for accounts
    whose private changes Strava does not announce."""
    h = harness_factory(
        webhook_subscription_id=None,
        summary_fresh_seconds=60,
        summary_webhook_fresh_seconds=86400,
        summary_privacy_fresh_seconds=600,
    )
    subscribed(h, serve)
    return h


def test_without_read_all_no_event_comes_and_the_capped_freshness_hides_it(
    harness_factory: HarnessFactory, serve: Callable[[Flask], str]
) -> None:
    h = subscribed_with_privacy_cap(harness_factory, serve)
    athlete = make_athlete(h.sandbox, photos_on_latest=0)
    account = h.connect(athlete, scope="read,activity:read")
    path = f"/v1/strava/athletes/{account}/summary"
    assert "Morning run" in shown(h, path)
    [run] = [a for a in h.sandbox.activities(athlete) if a["name"] == "Morning run"]

    h.sandbox.update_activity(run["id"], private=True, emit_webhook=True)

    assert h.sandbox.deliveries(wait=5)["deliveries"] == []  # Strava tells this app nothing
    h.advance(599)
    assert "Morning run" in shown(h, path)  # still fresh: inside the cap
    h.advance(2)
    shown(h, path)  # past the cap: served stale once while it refreshes
    assert h.summaries.wait_idle(timeout=10)
    assert "Morning run" not in shown(h, path)


def test_an_account_with_read_all_keeps_the_long_webhook_freshness(
    harness_factory: HarnessFactory, serve: Callable[[Flask], str]
) -> None:
    h = subscribed_with_privacy_cap(harness_factory, serve)
    account = h.connect(make_athlete(h.sandbox), scope="read,activity:read_all")
    path = f"/v1/strava/athletes/{account}/summary"
    h.client.get(path)
    calls = h.total_api_calls()

    h.advance(3600)
    body = h.client.get(path).get_json()

    assert body["meta"]["stale"] is False
    assert h.total_api_calls() == calls
