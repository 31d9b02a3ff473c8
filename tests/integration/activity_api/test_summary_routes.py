"""The read API against the sandbox: shape, privacy, caching headers, CORS, call budget."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from tests.integration.activity_api.conftest import ORIGIN, Harness, HarnessFactory, make_athlete

BUILD_WITH_PHOTO = {
    "GET /api/v3/athlete": 1,
    "GET /api/v3/athlete/activities": 1,
    "GET /api/v3/athletes/{id}/stats": 1,
    "GET /api/v3/activities/{id}": 1,
}


def test_summary_has_the_documented_shape_and_hides_private_activities(harness: Harness) -> None:
    athlete_id = make_athlete(harness.sandbox)
    account = harness.connect(athlete_id)

    response = harness.client.get(f"/v1/strava/athletes/{account}/summary")

    assert response.status_code == 200
    body = response.get_json()
    assert body["athlete"]["id"] == athlete_id
    assert body["athlete"]["display_name"] == "Ada Runner"
    assert body["athlete"]["profile_url"] == f"{harness.sandbox.url}/athletes/{athlete_id}"
    latest = body["latest_activity"]
    assert latest["name"] == "Morning run"
    assert latest["distance_m"] == 10000.0
    assert latest["moving_time_s"] == 3000
    assert latest["pace_s_per_km"] == 300.0
    assert latest["photo_url"] and latest["photo_url"].startswith("http")
    assert latest["start_time_local"].endswith(("+01:00", "+02:00"))
    assert latest["timezone"] == "Europe/Paris"
    names = [a["name"] for a in body["recent_activities"]]
    assert "Secret run" not in names and "Friends ride" not in names
    assert "Secret run" not in response.get_data(as_text=True)
    assert not {"map_polyline", "start_latlng", "end_latlng"} & latest.keys()
    assert body["totals"]["run"]["all_time"]["count"] >= 4
    assert body["meta"]["stale"] is False
    assert body["meta"]["age_seconds"] == 0
    assert harness.api_calls() == BUILD_WITH_PHOTO


def test_without_photos_a_build_is_three_calls(harness: Harness) -> None:
    account = harness.connect(make_athlete(harness.sandbox, photos_on_latest=0))
    assert harness.client.get(f"/v1/strava/athletes/{account}/summary").status_code == 200
    assert harness.api_calls() == {
        "GET /api/v3/athlete": 1,
        "GET /api/v3/athlete/activities": 1,
        "GET /api/v3/athletes/{id}/stats": 1,
    }


def test_a_thousand_requests_build_the_summary_once(harness: Harness) -> None:
    account = harness.connect(make_athlete(harness.sandbox))
    for _ in range(1000):
        assert harness.client.get(f"/v1/strava/athletes/{account}/summary").status_code == 200
    assert harness.api_calls() == BUILD_WITH_PHOTO


def test_primary_summary_is_the_first_connected_account(harness: Harness) -> None:
    first = harness.connect(make_athlete(harness.sandbox))
    harness.clock.advance(1)
    harness.connect(make_athlete(harness.sandbox))
    body = harness.client.get("/v1/strava/summary").get_json()
    assert str(body["athlete"]["id"]) == first


def test_a_disconnected_primary_gives_way_at_once(harness: Harness) -> None:
    first = harness.connect(make_athlete(harness.sandbox))
    harness.clock.advance(1)
    second = harness.connect(make_athlete(harness.sandbox))
    assert str(harness.client.get("/v1/strava/summary").get_json()["athlete"]["id"]) == first
    harness.runtime.store.delete("strava", first)
    body = harness.client.get("/v1/strava/summary").get_json()
    assert str(body["athlete"]["id"]) == second
    harness.runtime.store.delete("strava", second)
    assert harness.client.get("/v1/strava/summary").status_code == 404


def test_primary_summary_follows_settings(harness_factory: HarnessFactory) -> None:
    h = harness_factory()
    h.connect(make_athlete(h.sandbox))
    second = h.connect(make_athlete(h.sandbox))
    configured = harness_factory(sandbox=h.sandbox, primary_account=second)
    assert str(configured.client.get("/v1/strava/summary").get_json()["athlete"]["id"]) == second


def test_no_account_connected_is_a_404_not_an_error(harness: Harness) -> None:
    response = harness.client.get("/v1/strava/summary")
    assert response.status_code == 404
    assert response.get_json()["error"] == "no_account"


def test_unknown_athletes_cost_no_upstream_call(harness: Harness) -> None:
    for path in (
        "/v1/strava/athletes/999999/summary",
        "/v1/strava/athletes/abc/summary",
        "/v1/strava/athletes/0/activities",
    ):
        response = harness.client.get(path)
        assert response.status_code == 404
        assert response.get_json()["error"] == "not_found"
    assert harness.total_api_calls() == 0


def test_etag_and_if_none_match_answer_304(harness: Harness) -> None:
    account = harness.connect(make_athlete(harness.sandbox))
    path = f"/v1/strava/athletes/{account}/summary"
    first = harness.client.get(path)
    etag = first.headers["ETag"]
    assert etag.startswith('W/"')
    cache_control = first.headers["Cache-Control"]
    assert "public" in cache_control
    assert "max-age=60" in cache_control
    assert "stale-while-revalidate=600" in cache_control

    harness.clock.advance(30)  # age changes; the data does not
    again = harness.client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.get_data() == b""
    assert again.headers["ETag"] == etag
    assert harness.client.get(path, headers={"If-None-Match": 'W/"other"'}).status_code == 200


def test_cors_only_for_allowed_origins(harness: Harness) -> None:
    account = harness.connect(make_athlete(harness.sandbox))
    path = f"/v1/strava/athletes/{account}/summary"
    allowed = harness.client.get(path, headers={"Origin": ORIGIN})
    assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "ETag" in allowed.headers["Access-Control-Expose-Headers"]
    assert "Origin" in allowed.headers["Vary"]
    other = harness.client.get(path, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    preflight = harness.client.options(
        path, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}
    )
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "GET" in preflight.headers["Access-Control-Allow-Methods"]
    webhook = harness.client.get("/webhooks/strava", headers={"Origin": ORIGIN})
    assert "Access-Control-Allow-Origin" not in webhook.headers


def test_cors_also_under_the_ingress_path_prefix(harness_factory: HarnessFactory) -> None:
    """The ingress routes ``/api``; CORS sees the path without it, as the routes do."""
    harness = harness_factory(path_prefix="/api")
    account = harness.connect(make_athlete(harness.sandbox))
    for prefix in ("/api", ""):
        answer = harness.client.get(
            f"{prefix}/v1/strava/athletes/{account}/summary", headers={"Origin": ORIGIN}
        )
        assert answer.status_code == 200
        assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert answer.headers.getlist("Vary") == ["Origin"]
    webhook = harness.client.get("/api/webhooks/strava", headers={"Origin": ORIGIN})
    assert "Access-Control-Allow-Origin" not in webhook.headers


def test_maps_are_shown_only_for_accounts_that_opted_in(harness_factory: HarnessFactory) -> None:
    plain = harness_factory()
    hidden_id = plain.connect(make_athlete(plain.sandbox))
    shown_id = plain.connect(make_athlete(plain.sandbox))
    h = harness_factory(sandbox=plain.sandbox, show_maps_accounts=shown_id)
    hidden = h.client.get(f"/v1/strava/athletes/{hidden_id}/summary").get_json()
    shown = h.client.get(f"/v1/strava/athletes/{shown_id}/summary").get_json()
    assert "start_latlng" not in hidden["latest_activity"]
    assert shown["latest_activity"]["start_latlng"] == [48.8566, 2.3522]
    assert "map_polyline" in shown["latest_activity"]


def test_goals_come_from_settings_with_progress(harness_factory: HarnessFactory) -> None:
    h = harness_factory(summary_goals='{"run": {"distance_m": 1000000, "count": 50}}')
    account = h.connect(make_athlete(h.sandbox))
    goals = h.client.get(f"/v1/strava/athletes/{account}/summary").get_json()["goals"]
    assert {g["metric"] for g in goals} == {"distance_m", "count"}
    for goal in goals:
        assert goal["sport"] == "run"
        assert goal["progress_ratio"] == round(goal["current"] / goal["target"], 4)


def test_activities_route_is_bounded(harness: Harness) -> None:
    account = harness.connect(make_athlete(harness.sandbox))
    base = f"/v1/strava/athletes/{account}/activities"
    two = harness.client.get(f"{base}?limit=2").get_json()
    assert [a["name"] for a in two["activities"]] == ["Morning run", "Easy run 0"]
    assert two["meta"]["stale"] is False
    for bad in ("0", "31", "-1", "ten", "1e3"):
        response = harness.client.get(f"{base}?limit={bad}")
        assert response.status_code == 400, bad
    everything = harness.client.get(f"{base}?limit=30").get_json()["activities"]
    assert len(everything) == 5  # the 5 public ones, never the private or followers-only
    assert harness.api_calls() == BUILD_WITH_PHOTO  # the summary and the list share one build


def test_a_stale_summary_is_served_at_once_and_refreshed_once(harness: Harness) -> None:
    account = harness.connect(make_athlete(harness.sandbox))
    path = f"/v1/strava/athletes/{account}/summary"
    harness.client.get(path)
    harness.sandbox.add_activity(int(account), name="Evening run")
    harness.clock.advance(harness.runtime.settings.summary_fresh_seconds + 1)

    stale = [harness.client.get(path).get_json() for _ in range(20)]
    assert all(body["meta"]["stale"] for body in stale[:1])
    assert stale[0]["latest_activity"]["name"] == "Morning run"  # served at once, old data
    assert harness.builds_done()

    fresh = harness.client.get(path).get_json()
    assert fresh["meta"]["stale"] is False
    assert fresh["latest_activity"]["name"] == "Evening run"
    # one initial build and exactly one background refresh (the new latest has no photo)
    calls = harness.api_calls()
    assert calls["GET /api/v3/athlete"] == 2
    assert calls["GET /api/v3/athletes/{id}/stats"] == 2


def test_with_a_webhook_subscription_a_summary_stays_fresh_longer(
    harness_factory: HarnessFactory,
) -> None:
    h = harness_factory(summary_webhook_fresh_seconds=6 * 3600)
    account = h.connect(make_athlete(h.sandbox, photos_on_latest=0))
    path = f"/v1/strava/athletes/{account}/summary"
    h.client.get(path)
    h.advance(h.runtime.settings.summary_fresh_seconds + 1)
    assert h.client.get(path).get_json()["meta"]["stale"] is False  # events keep it current
    h.advance(6 * 3600, sandbox=True)
    assert h.client.get(path).get_json()["meta"]["stale"] is True  # the safety net
    assert h.builds_done()
    assert h.api_calls()["GET /api/v3/athlete"] == 2


def test_without_a_subscription_the_short_freshness_holds(harness_factory: HarnessFactory) -> None:
    h = harness_factory(webhook_subscription_id=None, summary_webhook_fresh_seconds=6 * 3600)
    account = h.connect(make_athlete(h.sandbox, photos_on_latest=0))
    path = f"/v1/strava/athletes/{account}/summary"
    h.client.get(path)
    h.advance(h.runtime.settings.summary_fresh_seconds + 1)
    assert h.client.get(path).get_json()["meta"]["stale"] is True
    assert h.builds_done()


def test_a_hidden_start_time_is_served_as_its_day_only(harness: Harness) -> None:
    athlete = harness.sandbox.add_athlete(
        firstname="Wes", lastname="Coast", timezone="America/Los_Angeles"
    )
    account = harness.connect(int(athlete["id"]))
    # Yesterday evening in Los Angeles is already today in UTC.
    now = int(harness.sandbox.now())
    start = now - now % 86400 + 2 * 3600 - 86400  # 02:00 UTC yesterday
    harness.sandbox.add_activity(
        int(account), name="Quiet run", start_date=start, hide_start_time=True
    )

    latest = harness.client.get(f"/v1/strava/athletes/{account}/summary").get_json()[
        "latest_activity"
    ]

    zone = ZoneInfo("America/Los_Angeles")
    local_day = dt.datetime.fromtimestamp(start, zone).date().isoformat()
    assert local_day != dt.datetime.fromtimestamp(start, dt.UTC).date().isoformat()
    assert latest["name"] == "Quiet run"
    assert latest["start_time_hidden"] is True
    assert latest["start_time_local"] is None
    assert latest["start_date_local"] == local_day
