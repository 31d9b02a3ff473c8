"""Honest year-to-date totals: the ledger's pure arithmetic (paceline.year_totals)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from paceline.settings import GoalSettings
from paceline.summary import SummaryOptions, build_summary
from paceline.year_totals import (
    Figures,
    changed,
    figures,
    merged,
    of_year,
    page_after,
    sums,
    with_year_totals,
)


def activity(number: int, local: str, sport: str = "Run", **fields: Any) -> dict[str, Any]:
    """A SummaryActivity as Strava lists it (``local``: start_date_local's wall time)."""
    return {
        "id": number,
        "name": f"Activity {number}",
        "sport_type": sport,
        "start_date": fields.pop("start_date", f"{local}Z"),
        "start_date_local": f"{local}Z",
        "distance": fields.pop("distance", 10000.0),
        "moving_time": fields.pop("moving_time", 3000),
        "total_elevation_gain": fields.pop("total_elevation_gain", 50.0),
        "visibility": fields.pop("visibility", "everyone"),
        **fields,
    }


def test_an_activity_counts_in_the_year_of_its_local_day_not_of_its_utc_start() -> None:
    # 23:30 UTC on New Year's Eve is already 00:30 on January 1st in Paris.
    paris = activity(1, "2027-01-01T00:30:00", start_date="2026-12-31T23:30:00Z")
    # 00:30 UTC on January 1st is still New Year's Eve in New York.
    new_york = activity(2, "2026-12-31T19:30:00", start_date="2027-01-01T00:30:00Z")

    assert figures(paris) == Figures("run", dt.date(2027, 1, 1), 10000.0, 3000, 50.0)
    assert set(of_year([paris, new_york], 2027)) == {1}
    assert set(of_year([paris, new_york], 2026)) == {2}


def test_a_hidden_start_time_keeps_its_local_day() -> None:
    hidden = activity(
        3, "2027-01-01T00:00:01", start_date="2027-01-01T00:00:01Z", utc_offset=-36000
    )
    assert figures(hidden) is not None
    assert figures(hidden).day == dt.date(2027, 1, 1)  # type: ignore[union-attr]


def test_sport_types_fold_into_families_and_other_sports_count_in_none() -> None:
    assert figures(activity(1, "2026-05-01T07:00:00", "TrailRun")).family == "run"  # type: ignore[union-attr]
    assert figures(activity(2, "2026-05-01T07:00:00", "GravelRide")).family == "ride"  # type: ignore[union-attr]
    assert figures(activity(3, "2026-05-01T07:00:00", "Swim")).family == "swim"  # type: ignore[union-attr]
    assert figures(activity(4, "2026-05-01T07:00:00", "Yoga")) is None
    assert figures({"id": 5, "sport_type": "Run"}) is None  # no day: cannot be placed


def test_the_list_is_asked_from_a_day_before_new_year_utc() -> None:
    new_year = int(dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp())
    assert page_after(2026) == new_year - 86400


def test_sums_count_every_visibility_of_the_year_only() -> None:
    listed = [
        activity(1, "2026-03-01T08:00:00", distance=10000.0, moving_time=3000),
        activity(2, "2026-03-02T08:00:00", visibility="only_me", distance=5000.5),
        activity(3, "2026-03-03T08:00:00", "Ride", visibility="followers_only"),
        activity(4, "2025-12-30T08:00:00"),  # last year
        activity(5, "2026-03-04T08:00:00", "Walk"),
    ]
    totals = sums(of_year(listed, 2026).values(), 2026)

    assert totals["run"] == {
        "count": 2,
        "distance_m": 15000.5,
        "moving_time_s": 6000,
        "elevation_gain_m": 100.0,
    }
    assert totals["ride"]["count"] == 1
    assert totals["swim"] == {
        "count": 0,
        "distance_m": 0.0,
        "moving_time_s": 0,
        "elevation_gain_m": 0.0,
    }


def test_a_ledger_of_last_year_sums_to_nothing_in_the_new_one() -> None:
    entries = of_year([activity(1, "2026-12-31T08:00:00")], 2026)
    assert sums(entries.values(), 2027)["run"]["count"] == 0


def test_a_page_brings_new_and_changed_activities_and_drops_those_no_longer_counted() -> None:
    entries = of_year(
        [
            activity(1, "2026-03-01T08:00:00"),
            activity(2, "2026-03-02T08:00:00"),
            activity(3, "2026-03-03T08:00:00"),
        ],
        2026,
    )
    page = [
        activity(4, "2026-03-10T08:00:00", visibility="only_me"),  # new, private
        activity(3, "2026-03-03T08:00:00", distance=12000.0),  # changed
        activity(2, "2026-03-02T08:00:00", "Yoga"),  # no longer a run
    ]
    after = merged(entries, page, 2026, complete=False)

    assert set(after) == {1, 3, 4}  # 1 is older than the page: kept
    assert after[3].distance_m == 12000.0


def test_a_page_drops_what_is_missing_well_inside_its_span() -> None:
    entries = of_year(
        [activity(1, "2026-03-01T08:00:00"), activity(2, "2026-03-20T08:00:00")], 2026
    )
    page = [activity(3, "2026-03-25T08:00:00"), activity(4, "2026-03-10T08:00:00")]

    after = merged(entries, page, 2026, complete=False)

    assert set(after) == {1, 3, 4}  # 2 lies inside the page's span and is not on it: deleted


def test_a_complete_page_is_the_whole_list() -> None:
    entries = of_year(
        [activity(1, "2026-01-02T08:00:00"), activity(2, "2026-03-20T08:00:00")], 2026
    )
    after = merged(entries, [activity(2, "2026-03-20T08:00:00")], 2026, complete=True)
    assert set(after) == {2}


def test_one_activity_changes_the_ledger_by_its_detail() -> None:
    entries = of_year([activity(1, "2026-03-01T08:00:00")], 2026)

    created = changed(entries, 2, activity(2, "2026-03-05T08:00:00", visibility="only_me"), 2026)
    gone = changed(created, 1, None, 2026)
    moved_to_last_year = changed(gone, 2, activity(2, "2025-12-31T08:00:00"), 2026)

    assert set(created) == {1, 2}
    assert set(gone) == {2}
    assert moved_to_last_year == {}


def test_honest_totals_replace_the_year_to_date_and_the_goal_pacing_follows() -> None:
    today = dt.date(2026, 7, 2)  # day 183 of 365: almost exactly half the year
    stats = {"ytd_run_totals": {"count": 1, "distance": 100000.0, "moving_time": 30000}}
    body = build_summary(
        {"id": 7, "firstname": "Ada"},
        [],
        stats,
        SummaryOptions(),
        fetched_at=dt.datetime(2026, 7, 2, 12, tzinfo=dt.UTC).timestamp(),
    )
    goals = {"run": GoalSettings(distance_m=1_000_000)}
    honest = {
        "run": {
            "count": 50,
            "distance_m": 500000.0,
            "moving_time_s": 150000,
            "elevation_gain_m": 0.0,
        },
        "ride": {"count": 0, "distance_m": 0.0, "moving_time_s": 0, "elevation_gain_m": 0.0},
        "swim": {"count": 0, "distance_m": 0.0, "moving_time_s": 0, "elevation_gain_m": 0.0},
    }

    after = with_year_totals(body, honest, goals, today)

    assert after["totals"]["run"]["year_to_date"]["distance_m"] == 500000.0
    assert after["totals"]["run"]["all_time"] == body["totals"]["run"]["all_time"]  # Strava's
    [goal] = after["goals"]
    assert goal["current"] == 500000.0
    assert goal["progress_ratio"] == 0.5
    assert goal["expected_by_today"] == round(1_000_000 * 183 / 365, 1)
    assert goal["ahead_by"] == round(500000 - 1_000_000 * 183 / 365, 1)
    assert goal["projected_year_end"] == round(500000 / (183 / 365), 1)
