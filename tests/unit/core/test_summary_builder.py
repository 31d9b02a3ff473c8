"""The summary builder: pure functions from Strava's JSON to the public shape."""

from __future__ import annotations

from typing import Any

from paceline.settings import GoalSettings
from paceline.summary import (
    SummaryOptions,
    activities_response,
    activity_view,
    build_summary,
    latest_needing_detail,
    meta,
    primary_photo_url,
    summary_response,
    with_activity,
    without_activity,
)

ATHLETE = {
    "id": 4242,
    "firstname": "Ada",
    "lastname": "Runner",
    "profile": "https://cdn.example/ada/large.jpg",
    "profile_medium": "https://cdn.example/ada/medium.jpg",
}


def activity(activity_id: int, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": activity_id,
        "name": f"Run {activity_id}",
        "sport_type": "Run",
        "type": "Run",
        "distance": 10000.0,
        "moving_time": 3000,
        "elapsed_time": 3100,
        "total_elevation_gain": 42.04,
        "average_speed": 3.333,
        "start_date": "2026-03-01T06:30:00Z",
        "start_date_local": "2026-03-01T07:30:00Z",
        "timezone": "(GMT+01:00) Europe/Paris",
        "utc_offset": 3600.0,
        "private": False,
        "visibility": "everyone",
        "total_photo_count": 0,
        "map": {"id": "a1", "summary_polyline": "abc~poly", "resource_state": 2},
        "start_latlng": [48.85, 2.35],
        "end_latlng": [48.86, 2.36],
    }
    base.update(fields)
    return base


STATS = {
    "recent_run_totals": {
        "count": 3,
        "distance": 30000.0,
        "moving_time": 9000,
        "elevation_gain": 120.0,
    },
    "ytd_run_totals": {
        "count": 20,
        "distance": 250000.4,
        "moving_time": 80000,
        "elevation_gain": 900.0,
    },
    "all_run_totals": {
        "count": 200,
        "distance": 2500000.0,
        "moving_time": 800000,
        "elevation_gain": 9000.0,
    },
    "ytd_ride_totals": {
        "count": 2,
        "distance": 100000.0,
        "moving_time": 12000,
        "elevation_gain": 1500.0,
    },
}
FETCHED_AT = 1_772_348_400.0  # 2026-03-01T07:00:00Z


def build(activities: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
    return build_summary(
        ATHLETE, activities, STATS, SummaryOptions(**options), fetched_at=FETCHED_AT
    )


def test_private_and_followers_only_activities_are_never_shown() -> None:
    body = build(
        [
            activity(3, private=True, visibility="only_me"),
            activity(2, visibility="followers_only"),
            activity(1),
        ]
    )
    assert [a["id"] for a in body["activities"]] == [1]
    assert summary_response(body, 5)["latest_activity"]["id"] == 1


def test_units_are_si_and_field_names_say_them() -> None:
    view = activity_view(activity(1), SummaryOptions())
    assert view["distance_m"] == 10000.0
    assert view["moving_time_s"] == 3000
    assert view["elapsed_time_s"] == 3100
    assert view["elevation_gain_m"] == 42.0
    assert view["average_speed_m_per_s"] == 3.333
    assert view["pace_s_per_km"] == 300.0  # 5:00 per km
    assert view["start_time_local"] == "2026-03-01T07:30:00+01:00"
    assert view["timezone"] == "Europe/Paris"
    assert view["url"] == "https://www.strava.com/activities/1"


def test_pace_only_for_runs() -> None:
    ride = activity_view(activity(1, sport_type="Ride", type="Ride"), SummaryOptions())
    assert ride["pace_s_per_km"] is None
    trail = activity_view(activity(2, sport_type="TrailRun"), SummaryOptions())
    assert trail["pace_s_per_km"] == 300.0


def test_maps_and_coordinates_left_out_unless_the_account_opted_in() -> None:
    hidden = activity_view(activity(1), SummaryOptions())
    assert not {"map_polyline", "start_latlng", "end_latlng"} & hidden.keys()
    assert "abc~poly" not in str(hidden) and "48.85" not in str(hidden)
    shown = activity_view(activity(1), SummaryOptions(show_maps=True))
    assert shown["map_polyline"] == "abc~poly"
    assert shown["start_latlng"] == [48.85, 2.35]


def test_latest_activity_photo_needs_detail_only_when_it_has_photos() -> None:
    assert latest_needing_detail([activity(2), activity(1, total_photo_count=3)]) is None
    assert latest_needing_detail([activity(2, total_photo_count=1), activity(1)]) == 2
    # the latest *public* one counts: a private one with photos is skipped
    assert (
        latest_needing_detail([activity(3, private=True, total_photo_count=2), activity(2)]) is None
    )


def test_primary_photo_is_the_largest_size() -> None:
    detail = {
        "photos": {"primary": {"urls": {"100": "https://p/100.jpg", "600": "https://p/600.jpg"}}}
    }
    assert primary_photo_url(detail) == "https://p/600.jpg"
    assert primary_photo_url({"photos": {"primary": None, "count": 0}}) is None
    assert primary_photo_url(None) is None


def test_photo_goes_on_the_latest_activity_only() -> None:
    detail = {"id": 2, "photos": {"primary": {"urls": {"600": "https://p/600.jpg"}}}}
    body = build_summary(
        ATHLETE,
        [activity(2, total_photo_count=1), activity(1)],
        STATS,
        SummaryOptions(),
        latest_detail=detail,
        fetched_at=FETCHED_AT,
    )
    assert body["activities"][0]["photo_url"] == "https://p/600.jpg"
    assert body["activities"][1]["photo_url"] is None


def test_totals_per_sport_and_period() -> None:
    totals = build([activity(1)])["totals"]
    assert set(totals) == {"run", "ride", "swim"}
    assert totals["run"]["year_to_date"] == {
        "count": 20,
        "distance_m": 250000.4,
        "moving_time_s": 80000,
        "elevation_gain_m": 900.0,
    }
    assert totals["run"]["recent_4_weeks"]["count"] == 3
    assert totals["swim"]["all_time"] == {
        "count": 0,
        "distance_m": 0.0,
        "moving_time_s": 0,
        "elevation_gain_m": 0.0,
    }


def test_goals_show_progress_from_year_to_date() -> None:
    goals = {
        "run": GoalSettings(distance_m=1_000_000, count=100),
        "ride": GoalSettings(elevation_gain_m=3000),
    }
    body = build([activity(1)], goals=goals)
    by_metric = {(g["sport"], g["metric"]): g for g in body["goals"]}
    assert by_metric[("run", "distance_m")]["current"] == 250000.4
    assert by_metric[("run", "distance_m")]["progress_ratio"] == 0.25
    assert by_metric[("run", "count")]["progress_ratio"] == 0.2
    assert by_metric[("ride", "elevation_gain_m")]["progress_ratio"] == 0.5
    assert all(g["year"] == 2026 for g in body["goals"])


def test_athlete_has_display_name_avatar_and_profile_link() -> None:
    athlete = build([])["athlete"]
    assert athlete == {
        "id": 4242,
        "display_name": "Ada Runner",
        "avatar_url": "https://cdn.example/ada/large.jpg",
        "profile_url": "https://www.strava.com/athletes/4242",
    }


def test_links_follow_the_configured_base_url() -> None:
    body = build([activity(1)], web_url="http://127.0.0.1:9999")
    assert body["athlete"]["profile_url"] == "http://127.0.0.1:9999/athletes/4242"
    assert body["activities"][0]["url"] == "http://127.0.0.1:9999/activities/1"


def test_no_activities_gives_no_latest() -> None:
    response = summary_response(build([]), 5)
    assert response["latest_activity"] is None
    assert response["recent_activities"] == []


def test_recent_and_limit_slices() -> None:
    body = build([activity(i) for i in range(10, 0, -1)], activities_max=8)
    assert len(body["activities"]) == 8
    assert [a["id"] for a in summary_response(body, 3)["recent_activities"]] == [10, 9, 8]
    assert len(activities_response(body, 5)["activities"]) == 5
    assert activities_response(body, 5)["athlete_id"] == 4242


def test_meta_reports_age_and_staleness() -> None:
    assert meta(FETCHED_AT, FETCHED_AT + 90.7, True) == {
        "fetched_at": "2026-03-01T07:00:00Z",
        "age_seconds": 90,
        "stale": True,
    }


def test_dropping_an_activity_hides_it() -> None:
    body = build([activity(2), activity(1)])
    assert [a["id"] for a in without_activity(body, 2)["activities"]] == [1]


def test_a_new_activity_is_patched_in_as_a_rebuild_would_show_it() -> None:
    older = activity(1, start_date="2026-02-27T06:30:00Z")
    photos = {"primary": {"urls": {"100": "https://cdn.example/s.jpg"}}}
    newer = activity(2, start_date="2026-03-01T06:30:00Z", total_photo_count=1, photos=photos)
    more_stats = {**STATS, "ytd_run_totals": {**STATS["ytd_run_totals"], "count": 21}}
    patched = with_activity(build([older]), 2, newer, more_stats, SummaryOptions(), year=2026)
    rebuilt = build_summary(
        ATHLETE,
        [newer, older],
        more_stats,
        SummaryOptions(),
        latest_detail=newer,
        fetched_at=FETCHED_AT,
    )
    assert patched == rebuilt
    assert patched["activities"][0]["photo_url"] == "https://cdn.example/s.jpg"
    assert patched["totals"]["run"]["year_to_date"]["count"] == 21


def test_an_activity_gone_or_made_private_is_patched_out() -> None:
    body = build([activity(2), activity(1)])
    assert [
        a["id"]
        for a in with_activity(body, 2, None, STATS, SummaryOptions(), year=2026)["activities"]
    ] == [1]
    hidden = activity(2, visibility="only_me")
    patched = with_activity(body, 2, hidden, STATS, SummaryOptions(), year=2026)
    assert [a["id"] for a in patched["activities"]] == [1]


def test_a_patched_summary_keeps_the_page_size() -> None:
    body = build([activity(n, start_date=f"2026-02-{n:02d}T06:30:00Z") for n in (3, 2, 1)])
    newer = activity(9, start_date="2026-03-01T06:30:00Z")
    patched = with_activity(body, 9, newer, STATS, SummaryOptions(activities_max=3), year=2026)
    assert [a["id"] for a in patched["activities"]] == [9, 3, 2]


def test_odd_input_does_not_break_the_builder() -> None:
    odd = activity(1, distance=None, moving_time=None, average_speed=None, timezone=None)
    odd.pop("start_date")
    view = activity_view(odd, SummaryOptions())
    assert view["distance_m"] == 0.0
    assert view["pace_s_per_km"] is None
    assert view["start_time_local"] is None


def hidden(activity_id: int, day: str, **fields: Any) -> dict[str, Any]:
    """An activity whose start time the athlete hides, as Strava's API returns it."""
    return activity(
        activity_id,
        start_date=f"{day}T00:00:01Z",
        start_date_local=f"{day}T00:00:01Z",
        timezone="(GMT-08:00) America/Los_Angeles",
        utc_offset=-28800.0,
        **fields,
    )


def test_a_hidden_start_time_shows_the_day_only_and_the_right_day() -> None:
    [view] = build([hidden(7, "2026-03-01")])["activities"]

    assert view["start_time_hidden"] is True
    assert view["start_time_local"] is None  # no invented time of day
    assert view["start_date_local"] == "2026-03-01"  # not 2026-02-28 (00:00:01 minus 8 hours)


def test_a_visible_start_time_keeps_its_local_time_and_day() -> None:
    [view] = build([activity(1)])["activities"]

    assert view["start_time_hidden"] is False
    assert view["start_time_local"] == "2026-03-01T07:30:00+01:00"
    assert view["start_date_local"] == "2026-03-01"


def test_hidden_start_times_are_ordered_by_day_then_activity_id() -> None:
    # Strava's list order among same-day hidden activities says nothing; ids grow with uploads.
    listed = [
        hidden(10, "2026-03-01"),
        hidden(12, "2026-03-01"),
        activity(5, start_date="2026-02-27T06:30:00Z", start_date_local="2026-02-27T07:30:00Z"),
        hidden(11, "2026-02-28"),
    ]

    ids = [a["id"] for a in build(listed)["activities"]]

    assert ids == [12, 10, 11, 5]


def test_a_patched_in_hidden_start_activity_takes_its_place_by_day_and_id() -> None:
    body = build([hidden(10, "2026-03-01"), hidden(8, "2026-02-27")])
    patched = with_activity(body, 9, hidden(9, "2026-03-01"), STATS, SummaryOptions(), year=2026)

    assert [a["id"] for a in patched["activities"]] == [10, 9, 8]
