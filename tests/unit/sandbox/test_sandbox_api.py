"""The read API: athlete, activity list and detail, stats, and Strava's error answers."""

from __future__ import annotations

import calendar
import time
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.fixtures.sandbox import bearer

INVALID_TOKEN = {
    "message": "Authorization Error",
    "errors": [{"resource": "Athlete", "field": "access_token", "code": "invalid"}],
}
MISSING_ACTIVITY_READ = {
    "message": "Authorization Error",
    "errors": [{"resource": "AccessToken", "field": "activity:read_permission", "code": "missing"}],
}
NOT_FOUND = {
    "message": "Record Not Found",
    "errors": [{"resource": "Activity", "field": "id", "code": "invalid"}],
}


def token(
    client: FlaskClient, scope: str = "read,activity:read_all", athlete_id: int = 1001
) -> str:
    body = {"athlete_id": athlete_id, "scope": scope}
    return str(client.post("/_sandbox/tokens", json=body).json["access_token"])


def get(client: FlaskClient, path: str, access_token: str, **params: Any) -> Any:
    return client.get(f"/api/v3{path}", headers=bearer(access_token), query_string=params)


def every_activity(client: FlaskClient, access_token: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    page = 1
    while batch := get(client, "/athlete/activities", access_token, page=page, per_page=200).json:
        found.extend(batch)
        page += 1
    return found


def test_athlete_is_the_detailed_athlete_of_the_token(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()

    body = get(client, "/athlete", token(client)).json

    assert body["id"] == 1001
    assert body["resource_state"] == 3
    assert (body["firstname"], body["lastname"], body["city"]) == ("Ada", "Lovelace", "London")
    assert body["profile"] == "https://sandbox.invalid/avatars/1001/large.jpg"
    assert body["measurement_preference"] == "meters"
    for key in ("username", "sex", "premium", "created_at", "follower_count", "ftp", "weight"):
        assert key in body


def test_activities_are_newest_first_paged_and_summary_shaped(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()
    access = token(client)

    first = get(client, "/athlete/activities", access).json
    second = get(client, "/athlete/activities", access, page=2).json
    everything = get(client, "/athlete/activities", access, per_page=200).json

    assert len(first) == 30
    assert everything[:30] == first
    assert everything[30:60] == second
    starts = [a["start_date"] for a in everything]
    assert starts == sorted(starts, reverse=True)
    newest = first[0]
    assert newest["resource_state"] == 2
    assert newest["athlete"] == {"id": 1001, "resource_state": 1}
    assert newest["map"]["resource_state"] == 2
    assert newest["start_date"].endswith("Z")
    assert newest["timezone"].endswith("Europe/London")


def test_before_and_after_filter_by_start_time(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()
    access = token(client)
    everything = get(client, "/athlete/activities", access, per_page=200).json
    pivot = everything[10]["start_date"]
    epoch = calendar.timegm(time.strptime(pivot, "%Y-%m-%dT%H:%M:%SZ"))

    before = get(client, "/athlete/activities", access, before=epoch, per_page=5).json
    after = get(client, "/athlete/activities", access, after=epoch).json

    assert [a["id"] for a in before] == [a["id"] for a in everything[11:16]]
    assert [a["id"] for a in after] == [a["id"] for a in everything[:10]]


def test_per_page_over_200_is_a_validation_error(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()

    response = get(client, "/athlete/activities", token(client), per_page=201)

    assert response.status_code == 400
    assert response.json["errors"][0]["field"] == "per_page"


def test_private_activities_need_activity_read_all(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()
    narrow, wide = token(client, "read,activity:read"), token(client, "read,activity:read_all")

    visible = every_activity(client, narrow)
    everything = every_activity(client, wide)
    private = [a for a in everything if a["visibility"] == "only_me"]

    assert len(private) == 2
    assert all(a["private"] for a in private)
    assert len(visible) == len(everything) - 2
    assert not any(a["visibility"] == "only_me" for a in visible)
    assert get(client, f"/activities/{private[0]['id']}", narrow).json == NOT_FOUND
    assert get(client, f"/activities/{private[0]['id']}", wide).status_code == 200


def test_activity_detail_has_photos_and_detail_fields(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()
    access = token(client)
    newest = get(client, "/athlete/activities", access, per_page=1).json[0]

    detail = get(client, f"/activities/{newest['id']}", access).json

    assert detail["resource_state"] == 3
    assert detail["name"] == newest["name"]
    assert detail["photos"]["count"] >= 1
    primary = detail["photos"]["primary"]
    assert primary["source"] == 1
    assert set(primary["urls"]) == {"100", "600"}
    assert primary["urls"]["600"].startswith("https://sandbox.invalid/photos/")
    for key in ("description", "calories", "device_name", "embed_token"):
        assert key in detail


def test_activity_without_photos_says_so(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()
    added = client.post("/_sandbox/athletes/1001/activities", json={"name": "Plain"}).json

    detail = get(client, f"/activities/{added['id']}", token(client)).json

    assert detail["photos"] == {"primary": None, "count": 0}


def test_someone_elses_activity_is_not_found(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()
    theirs = client.get("/_sandbox/athletes/1002/activities").json[0]["id"]

    response = get(client, f"/activities/{theirs}", token(client))

    assert response.status_code == 404
    assert response.json == NOT_FOUND


def test_bad_expired_and_missing_tokens_get_stravas_401(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()
    short = client.post(
        "/_sandbox/tokens", json={"athlete_id": 1001, "scope": "read", "expires_in": 60}
    ).json["access_token"]
    client.post("/_sandbox/clock", json={"advance_seconds": 61})

    for response in (
        get(client, "/athlete", "a" * 40),
        get(client, "/athlete", short),
        client.get("/api/v3/athlete"),
    ):
        assert response.status_code == 401
        assert response.json == INVALID_TOKEN


def test_missing_activity_scope_is_named(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()

    response = get(client, "/athlete/activities", token(client, "read"))

    assert response.status_code == 401
    assert response.json == MISSING_ACTIVITY_READ


def test_stats_are_computed_from_public_activities(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()
    client.post("/_sandbox/clock", json={"set_epoch": 1_750_000_000, "freeze": True})  # mid-June
    athlete = client.post("/_sandbox/athletes", json={"firstname": "Stat", "lastname": "S"}).json
    aid = athlete["id"]
    day = 86400

    def add(**fields: Any) -> None:
        response = client.post(f"/_sandbox/athletes/{aid}/activities", json=fields)
        assert response.status_code == 201, response.json

    add(
        sport_type="Run",
        distance=10000,
        moving_time=3000,
        elapsed_time=3100,
        total_elevation_gain=50,
        achievement_count=2,
        start_date=1_750_000_000 - 2 * day,
    )
    add(
        sport_type="TrailRun",
        distance=20000,
        moving_time=7000,
        elapsed_time=7500,
        total_elevation_gain=600,
        start_date=1_750_000_000 - 40 * day,
    )
    add(
        sport_type="GravelRide",
        distance=80000,
        moving_time=11000,
        elapsed_time=12000,
        total_elevation_gain=900,
        start_date=1_750_000_000 - 3 * day,
    )
    add(
        sport_type="Ride",
        distance=50000,
        moving_time=6000,
        elapsed_time=6100,
        total_elevation_gain=1200,
        start_date=1_750_000_000 - 400 * day,
    )
    add(
        sport_type="Run",
        distance=5000,
        moving_time=1500,
        elapsed_time=1500,
        visibility="only_me",
        start_date=1_750_000_000 - day,
    )
    add(sport_type="Swim", distance=2000, moving_time=2400, elapsed_time=2500,
        visibility="followers_only", start_date=1_750_000_000 - day)  # fmt: skip

    stats = get(client, f"/athletes/{aid}/stats", token(client, athlete_id=aid)).json

    assert stats["recent_run_totals"] == {
        "count": 1, "distance": 10000.0, "moving_time": 3000, "elapsed_time": 3100,
        "elevation_gain": 50.0, "achievement_count": 2,
    }  # fmt: skip
    assert stats["ytd_run_totals"]["count"] == 2
    assert stats["ytd_run_totals"]["distance"] == 30000.0
    assert stats["all_run_totals"]["count"] == 2
    assert stats["recent_ride_totals"]["distance"] == 80000.0
    assert stats["ytd_ride_totals"]["count"] == 1
    assert stats["all_ride_totals"]["count"] == 2
    assert stats["all_ride_totals"]["elevation_gain"] == 2100.0
    assert stats["all_swim_totals"]["count"] == 0
    assert stats["biggest_ride_distance"] == 80000.0
    assert stats["biggest_climb_elevation_gain"] == 1200.0


def test_stats_of_another_athlete_are_forbidden(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()

    response = get(client, "/athletes/1002/stats", token(client))

    assert response.status_code == 403
    assert response.json["message"] == "Forbidden"


def test_a_hidden_start_time_is_the_local_day_at_midnight_plus_one_second(
    sandbox_app: Flask,
) -> None:
    client = sandbox_app.test_client()
    # 2026-03-02 02:00 UTC is 2026-03-01 18:00 in Los Angeles: the local day is the 1st.
    start = calendar.timegm((2026, 3, 2, 2, 0, 0))
    created = client.post(
        "/_sandbox/athletes/1001/activities",
        json={"start_date": start, "timezone": "America/Los_Angeles", "hide_start_time": True},
    ).json
    shown = client.post(
        "/_sandbox/athletes/1001/activities",
        json={"start_date": start, "timezone": "America/Los_Angeles"},
    ).json

    detail = get(client, f"/activities/{created['id']}", token(client)).json
    listed = {a["id"]: a for a in every_activity(client, token(client))}

    for body in (detail, listed[created["id"]]):
        assert body["start_date"] == "2026-03-01T00:00:01Z"
        assert body["start_date_local"] == "2026-03-01T00:00:01Z"
    assert listed[shown["id"]]["start_date"] == "2026-03-02T02:00:00Z"
    assert listed[shown["id"]]["start_date_local"] == "2026-03-01T18:00:00Z"


def test_year_totals_sum_every_visibility_by_local_day_while_stats_count_public_ones(
    sandbox_app: Flask,
) -> None:
    client = sandbox_app.test_client()
    client.post("/_sandbox/clock", json={"set_epoch": 1_750_000_000, "freeze": True})  # 2025
    athlete = client.post("/_sandbox/athletes", json={"firstname": "Year", "lastname": "Y"}).json
    aid = athlete["id"]
    new_year = 1_735_689_600  # 2025-01-01T00:00:00Z

    def add(**fields: Any) -> None:
        response = client.post(f"/_sandbox/athletes/{aid}/activities", json=fields)
        assert response.status_code == 201, response.json

    add(sport_type="Run", distance=10000, moving_time=3000, start_date=new_year + 86400)
    add(sport_type="Run", distance=5000, moving_time=1500, visibility="only_me",
        start_date=new_year + 2 * 86400)  # fmt: skip
    add(sport_type="Ride", distance=30000, moving_time=4000, total_elevation_gain=300,
        visibility="followers_only", start_date=new_year + 3 * 86400)  # fmt: skip
    # 2024-12-31T23:30Z is already 2025 in Paris (+1 h); 2025-01-01T00:30Z is still 2024 in
    # New York (-5 h): each counts in the year of its local day.
    add(sport_type="Swim", distance=1000, moving_time=1200, utc_offset=3600,
        start_date=new_year - 1800)  # fmt: skip
    add(sport_type="Swim", distance=2000, moving_time=2400, utc_offset=-18000,
        start_date=new_year + 1800)  # fmt: skip

    sums = client.get(f"/_sandbox/athletes/{aid}/year-totals").json
    stats = get(client, f"/athletes/{aid}/stats", token(client, athlete_id=aid)).json

    assert sums["year"] == 2025
    assert (sums["run"]["count"], sums["run"]["distance"], sums["run"]["moving_time"]) == (
        2,
        15000.0,
        4500,
    )
    assert (sums["ride"]["count"], sums["ride"]["elevation_gain"]) == (1, 300.0)
    assert (sums["swim"]["count"], sums["swim"]["distance"]) == (1, 1000.0)
    assert stats["ytd_run_totals"]["count"] == 1  # Strava's: public ones only
    assert stats["ytd_ride_totals"]["count"] == 0
    assert client.get("/_sandbox/athletes/999999/year-totals").status_code == 404
