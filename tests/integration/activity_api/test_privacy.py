"""An activity made private leaves the public summary: within seconds through Strava's privacy
event when the athlete granted activity:read_all (paceline's default), and within the capped
freshness when they did not (Strava sends such apps no privacy event at all)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from activity_api.events import SUBSCRIPTION_KEY
from flask import Flask
from paceline.history import goal_pacing
from paceline.strava_api import BudgetExhausted
from paceline.year_ledger import ledger_key

from tests.integration.activity_api.conftest import (
    VERIFY_TOKEN,
    Harness,
    HarnessFactory,
    event,
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
    assert h.builds_done()
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


# --- honest totals (issue 17): every activity counted, none published -------------------------
GOAL = 1_000_000


def honest(
    harness_factory: HarnessFactory, sandbox_factory: Any, **overrides: Any
) -> tuple[Harness, str, str]:
    """An athlete with private and followers-only activities whose owner opted in (unless
    ``overrides`` say otherwise): the harness, the account and its summary's path."""
    sandbox = sandbox_factory()
    athlete = make_athlete(sandbox, photos_on_latest=0)
    # Its private run started an hour ago, in Paris (UTC+1): its local start time would read
    # exactly like the summary's fetched_at (now, in UTC). Moved, so a scan can tell them apart.
    [secret] = [a for a in sandbox.activities(athlete) if a["name"] == "Secret run"]
    sandbox.update_activity(secret["id"], start_date=int(sandbox.now()) - 4321)
    sandbox.add_activity(
        athlete, name="Hidden swim", sport_type="Swim", private=True, distance=1500.0,
        moving_time=2000, start_date=int(sandbox.now()) - 7200 - 1234,
    )  # fmt: skip
    sandbox.add_activity(
        athlete, name="Club hill run", visibility="followers_only", distance=8000.0,
        total_elevation_gain=240.0, start_date=int(sandbox.now()) - 20 * 3600 - 777,
    )  # fmt: skip
    settings: dict[str, Any] = {
        "private_totals_accounts": str(athlete),
        "primary_account": str(athlete),
        "summary_goals": f'{{"run": {{"distance_m": {GOAL}}}}}',
        **overrides,
    }
    h = harness_factory(sandbox=sandbox, **settings)
    assert h.connect(athlete, scope="read,activity:read_all") == str(athlete)
    return h, str(athlete), f"/v1/strava/athletes/{athlete}/summary"


def as_served(sums: dict[str, Any]) -> dict[str, Any]:
    """The sandbox's sums of one family in the summary's names."""
    return {
        "count": sums["count"],
        "distance_m": sums["distance"],
        "moving_time_s": sums["moving_time"],
        "elevation_gain_m": sums["elevation_gain"],
    }


def stravas_stats(h: Harness, account: str) -> dict[str, Any]:
    response = requests.get(
        f"{h.sandbox.api_url}/athletes/{account}/stats",
        headers={"Authorization": f"Bearer {h.issued[-1]['access_token']}"},
        timeout=5,
    )
    stats: dict[str, Any] = response.json()
    return stats


def test_honest_totals_and_pacing_count_every_activity_as_the_sandbox_sums_them(
    harness_factory: HarnessFactory, sandbox_factory: Any
) -> None:
    h, account, path = honest(harness_factory, sandbox_factory)

    body = h.client.get(path).get_json()

    sums = h.sandbox.year_totals(int(account))
    for family in ("run", "ride", "swim"):
        assert body["totals"][family]["year_to_date"] == as_served(sums[family]), family
    stats = stravas_stats(h, account)
    assert sums["run"]["count"] > stats["ytd_run_totals"]["count"]  # Strava's count is short
    assert sums["swim"]["count"] > stats["ytd_swim_totals"]["count"]
    [goal] = body["goals"]
    today = dt.datetime.fromtimestamp(h.clock.now(), dt.UTC).date()
    assert goal["current"] == sums["run"]["distance"]
    assert {k: goal[k] for k in ("expected_by_today", "ahead_by", "projected_year_end")} == (
        goal_pacing(sums["run"]["distance"], GOAL, today)
    )
    assert h.api_calls()["GET /api/v3/athlete/activities"] == 2  # the build's page + one year page


def needles(h: Harness, athlete: int) -> dict[str, str]:
    """What would identify each private or followers-only activity: name, id, start times."""
    found: dict[str, str] = {}
    for activity in h.sandbox.activities(athlete):
        if activity["visibility"] == "everyone":
            continue
        found[activity["name"]] = "name"
        found[str(activity["id"])] = "id"
        found[activity["start_date"][:16]] = "start time (UTC)"
        found[activity["start_date_local"][:16]] = "start time (local)"
    return found


def test_no_output_names_dates_or_identifies_a_private_activity(
    harness_factory: HarnessFactory, sandbox_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    h, account, path = honest(harness_factory, sandbox_factory)
    athlete = int(account)
    secrets = needles(h, athlete)
    assert {"Secret run", "Friends ride", "Hidden swim", "Club hill run"} <= secrets.keys()
    # An event about a private activity goes through the consumer too (logs, metrics).
    private_ids = [a["id"] for a in h.sandbox.activities(athlete) if a["visibility"] != "everyone"]
    h.client.post(
        "/webhooks/strava", json=event(account, aspect_type="update", object_id=private_ids[0])
    )
    h.consumer.run_once(block_ms=10)

    routes = [
        path,
        "/v1/strava/summary",  # what the widget reads
        f"/v1/strava/athletes/{account}/activities?limit=30",
        *(f"/v1/strava/card.svg?sport={sport}" for sport in ("all", "run", "ride", "swim")),
        *(f"/v1/strava/athletes/{account}/card.svg?sport={s}" for s in ("all", "run", "swim")),
    ]
    outputs: dict[str, str] = {}
    for route in routes:
        response = h.client.get(route)
        assert response.status_code == 200, route
        outputs[route] = response.get_data(as_text=True)
    metrics_port = f"http://localhost:{h.runtime.settings.metrics_port}"
    outputs["/metrics"] = h.client.get("/metrics", base_url=metrics_port).get_data(as_text=True)
    # paceline's own log lines (urllib3's DEBUG URLs are kept at INFO by paceline.log, and the
    # sandbox's request log is Strava's side).
    outputs["logs"] = "\n".join(
        f"{r.getMessage()} {r.__dict__}"
        for r in caplog.records
        if r.name.split(".")[0] in ("paceline", "activity_api")
    )
    assert "year ledger paged" in outputs["logs"]

    summary = json.loads(outputs["/v1/strava/summary"])
    assert summary["totals"]["swim"]["year_to_date"]["count"] >= 1  # the private swim counts
    leaks = [
        f"{what} {needle!r} in {where}"
        for where, text in outputs.items()
        for needle, what in secrets.items()
        if needle in text
    ]
    assert leaks == []


def test_an_event_about_a_private_activity_moves_the_totals_without_listing_the_year(
    harness_factory: HarnessFactory, sandbox_factory: Any
) -> None:
    h, account, path = honest(harness_factory, sandbox_factory)
    before = h.client.get(path).get_json()["totals"]["swim"]["year_to_date"]
    calls = h.api_calls()

    added = h.sandbox.add_activity(
        int(account), name="Dawn swim", sport_type="Swim", private=True, distance=2000.0,
        moving_time=2500, total_elevation_gain=0.0,
    )  # fmt: skip
    h.client.post("/webhooks/strava", json=event(account, object_id=added["id"]))
    assert h.consumer.run_once(block_ms=10) == 1
    created = h.client.get(path).get_json()["totals"]["swim"]["year_to_date"]

    assert created == as_served(h.sandbox.year_totals(int(account))["swim"])
    assert created["count"] == before["count"] + 1
    assert created["distance_m"] == round(before["distance_m"] + 2000.0, 1)

    h.sandbox.delete_activity(added["id"])
    h.advance(h.runtime.settings.webhook_cooldown_seconds + 1)
    h.client.post(
        "/webhooks/strava", json=event(account, aspect_type="delete", object_id=added["id"])
    )
    assert h.consumer.run_once(block_ms=10) == 1
    deleted = h.client.get(path).get_json()["totals"]["swim"]["year_to_date"]

    assert deleted == before == as_served(h.sandbox.year_totals(int(account))["swim"])
    spent = {k: n - calls.get(k, 0) for k, n in h.api_calls().items() if n != calls.get(k, 0)}
    # Two calls per event (the activity's detail, Strava's stats), never the year's list again.
    assert spent == {"GET /api/v3/activities/{id}": 2, "GET /api/v3/athletes/{id}/stats": 2}


def test_without_opt_in_the_totals_are_stravas_public_ones(
    harness_factory: HarnessFactory, sandbox_factory: Any
) -> None:
    h, account, path = honest(harness_factory, sandbox_factory, private_totals_accounts="")

    body = h.client.get(path).get_json()

    stats = stravas_stats(h, account)
    for family in ("run", "ride", "swim"):
        raw = stats[f"ytd_{family}_totals"]
        assert body["totals"][family]["year_to_date"] == {
            "count": raw["count"],
            "distance_m": raw["distance"],
            "moving_time_s": raw["moving_time"],
            "elevation_gain_m": raw["elevation_gain"],
        }
    assert body["totals"]["swim"]["year_to_date"]["count"] == 0  # the private swim is not there
    assert h.api_calls()["GET /api/v3/athlete/activities"] == 1  # no year listing
    assert not h.runtime.redis.exists(ledger_key(account))


def test_a_cache_miss_that_cannot_list_the_year_is_refreshed_with_honest_totals_next(
    harness_factory: HarnessFactory, sandbox_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    h, account, path = honest(harness_factory, sandbox_factory)
    ledgers = h.summaries.builder.year_ledger
    listing = ledgers.page_year

    def spent(*args: Any, **kwargs: Any) -> Any:
        raise BudgetExhausted("GET /athlete/activities: rate budget spent", retry_after=60)

    monkeypatch.setattr(ledgers, "page_year", spent)
    first = h.client.get(path)
    monkeypatch.setattr(ledgers, "page_year", listing)

    assert first.status_code == 200  # the visitor is not failed for want of a listing
    ytd = first.get_json()["totals"]["run"]["year_to_date"]
    assert ytd["count"] == stravas_stats(h, account)["ytd_run_totals"]["count"]
    assert h.client.get(path).get_json()["meta"]["stale"] is True  # due: refreshing
    assert h.builds_done(timeout=10)
    honest_body = h.client.get(path).get_json()
    assert honest_body["meta"]["stale"] is False
    sums = h.sandbox.year_totals(int(account))
    assert honest_body["totals"]["run"]["year_to_date"] == as_served(sums["run"])


def test_a_private_activity_changed_to_another_sport_moves_between_totals(
    harness_factory: HarnessFactory, sandbox_factory: Any
) -> None:
    h, account, path = honest(harness_factory, sandbox_factory)
    before = h.client.get(path).get_json()["totals"]
    [secret] = [a for a in h.sandbox.activities(int(account)) if a["name"] == "Secret run"]

    h.sandbox.update_activity(secret["id"], sport_type="Ride")
    h.client.post(
        "/webhooks/strava",
        json=event(account, aspect_type="update", object_id=secret["id"], updates={"type": "Ride"}),
    )
    assert h.consumer.run_once(block_ms=10) == 1
    after = h.client.get(path).get_json()["totals"]

    sums = h.sandbox.year_totals(int(account))
    assert after["run"]["year_to_date"]["count"] == before["run"]["year_to_date"]["count"] - 1
    assert after["ride"]["year_to_date"]["count"] == before["ride"]["year_to_date"]["count"] + 1
    for family in ("run", "ride"):
        assert after[family]["year_to_date"] == as_served(sums[family])
