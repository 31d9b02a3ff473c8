"""Weekly and monthly history, streaks and goal pacing, with an injected date (no clock)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from paceline.history import goal_pacing, history, monthly, streaks, weekly

TODAY = dt.date(2026, 3, 11)  # a Wednesday; its week starts on Monday 9 March


def run(day: str, km: float = 10, minutes: int = 50, sport: str = "Run") -> dict[str, Any]:
    return {
        "start_time_local": f"{day}T07:30:00+01:00",
        "sport_type": sport,
        "distance_m": km * 1000,
        "moving_time_s": minutes * 60,
    }


def test_weeks_sum_distance_and_time_per_sport_oldest_first() -> None:
    activities = [
        run("2026-03-10"),
        run("2026-03-09", km=5, minutes=25),
        run("2026-03-08", km=40, minutes=90, sport="GravelRide"),
        run("2025-12-22"),  # the oldest of the twelve weeks
        run("2025-12-21"),  # a week too old to be shown
    ]
    chart = weekly(activities, TODAY, known_since=None)
    assert chart["week_starts"][0] == "2025-12-22"
    assert chart["week_starts"][-1] == "2026-03-09"
    assert len(chart["week_starts"]) == 12
    assert chart["run"]["distance_m"][-1] == 15000.0
    assert chart["run"]["moving_time_s"][-1] == 75 * 60
    assert chart["ride"]["distance_m"][-2] == 40000.0 and chart["ride"]["distance_m"][-1] == 0
    assert chart["all"]["distance_m"][-2] == 40000.0
    assert chart["run"]["distance_m"][0] == 10000.0
    assert sum(chart["all"]["distance_m"]) == 65000.0
    assert chart["swim"]["distance_m"] == [0] * 12


def test_weeks_before_what_was_fetched_are_unknown_not_zero() -> None:
    chart = weekly([run("2026-03-10"), run("2026-02-20")], TODAY, dt.date(2026, 2, 20))
    # 2026-02-16's week holds the oldest fetched activity: its Monday to Thursday were not
    # fetched, so the week is unknown, not the short sum of what was; known from the next one
    assert chart["week_starts"].index("2026-02-16") == 8
    assert chart["run"]["distance_m"][:9] == [None] * 9
    assert chart["run"]["distance_m"][9:] == [0, 0, 10000.0]
    assert chart["known_since"] == "2026-02-20"


def test_months_sum_per_calendar_month_across_the_year_end() -> None:
    activities = [
        run("2026-03-11"),
        run("2026-03-01", km=5, minutes=25),  # first day of this month
        run("2026-02-28", km=40, minutes=90, sport="Ride"),  # last day of February
        run("2026-01-01", km=3),  # first day of the year
        run("2025-12-31", km=7),  # last day of the year before
        run("2025-04-30", km=2),  # the oldest of the twelve months, its last day
        run("2025-03-31", km=99),  # a month too old to be shown
    ]
    chart = monthly(activities, TODAY, known_since=None)
    assert chart["month_starts"][0] == "2025-04-01"
    assert chart["month_starts"][-1] == "2026-03-01"
    assert chart["month_starts"][-4:-1] == ["2025-12-01", "2026-01-01", "2026-02-01"]
    assert len(chart["month_starts"]) == 12
    assert chart["run"]["distance_m"][-1] == 15000.0
    assert chart["run"]["moving_time_s"][-1] == 75 * 60
    assert chart["ride"]["distance_m"][-2] == 40000.0 and chart["run"]["distance_m"][-2] == 0
    assert chart["run"]["distance_m"][-3] == 3000.0
    assert chart["run"]["distance_m"][-4] == 7000.0
    assert chart["run"]["distance_m"][0] == 2000.0
    assert sum(chart["all"]["distance_m"]) == 67000.0
    assert chart["swim"]["distance_m"] == [0] * 12


def test_twelve_months_from_january_reach_back_into_the_year_before() -> None:
    chart = monthly([run("2026-01-31")], dt.date(2026, 1, 31), known_since=None)
    assert chart["month_starts"][0] == "2025-02-01"
    assert chart["month_starts"][-1] == "2026-01-01"
    assert chart["all"]["distance_m"][-1] == 10000.0
    december = monthly([run("2025-12-31")], dt.date(2025, 12, 31), known_since=None)
    assert december["month_starts"][0] == "2025-01-01"
    assert december["all"]["distance_m"][-1] == 10000.0


def test_months_before_what_was_fetched_are_unknown_not_zero() -> None:
    since = dt.date(2025, 11, 30)  # the last day of November: November is partly known
    chart = monthly([run("2026-03-10"), run("2025-11-30")], TODAY, since)
    assert chart["month_starts"].index("2025-11-01") == 7
    assert chart["run"]["distance_m"][:8] == [None] * 8  # November is not a month's sum
    assert chart["run"]["moving_time_s"][:8] == [None] * 8
    assert chart["run"]["distance_m"][8:] == [0, 0, 0, 10000.0]
    assert chart["known_since"] == "2025-11-30"
    # known from the first of a month: that day may hold more than was fetched, so that month
    # is unknown too, and the next one is whole
    later = monthly([run("2025-12-01"), run("2026-01-05")], TODAY, dt.date(2025, 12, 1))
    assert later["all"]["distance_m"][8] is None and later["all"]["distance_m"][9] == 10000.0


def test_history_holds_weeks_months_and_streaks() -> None:
    found = history([run("2026-03-10")], TODAY, None)
    assert set(found) == {"weekly", "monthly", "streaks"}
    assert found["monthly"]["all"]["distance_m"][-1] == found["weekly"]["all"]["distance_m"][-1]


def test_day_streak_is_current_until_a_day_is_missed() -> None:
    days = [run("2026-03-10"), run("2026-03-09"), run("2026-03-08"), run("2026-03-05")]
    found = streaks(days, TODAY, None)
    # yesterday counts: today is not over yet
    assert found["days"] == {"current": 3, "longest": 3}
    assert streaks(days, dt.date(2026, 3, 12), None)["days"] == {"current": 0, "longest": 3}
    two_runs_a_day = [*days, run("2026-03-10", km=3), run("2026-03-11")]
    assert streaks(two_runs_a_day, TODAY, None)["days"] == {"current": 4, "longest": 4}


def test_week_streak_counts_weeks_with_any_activity() -> None:
    activities = [run("2026-03-02"), run("2026-02-25"), run("2026-02-18"), run("2026-02-01")]
    found = streaks(activities, TODAY, None)
    # this week has nothing yet, last week does: the streak of three weeks is still alive
    assert found["weeks"] == {"current": 3, "longest": 3}
    later = streaks(activities, dt.date(2026, 3, 16), None)
    assert later["weeks"] == {"current": 0, "longest": 3}


def test_streaks_count_only_from_what_was_fetched() -> None:
    days = [run("2026-03-10"), run("2026-03-09"), run("2026-03-08")]
    found = streaks(days, TODAY, dt.date(2026, 3, 9))
    assert found["days"] == {"current": 2, "longest": 2}
    assert found["counted_since"] == "2026-03-09"


def test_future_dated_activities_do_not_make_a_streak() -> None:
    assert streaks([run("2026-03-20")], TODAY, None)["days"] == {"current": 0, "longest": 0}


def test_goal_pacing_on_even_pace_is_zero_ahead() -> None:
    # 11 March 2026 is day 70 of 365
    pacing = goal_pacing(current=70.0 * 10, target=3650.0, today=TODAY)
    assert pacing == {"expected_by_today": 700.0, "ahead_by": 0.0, "projected_year_end": 3650.0}


def test_goal_pacing_says_how_far_behind_and_where_the_year_ends() -> None:
    pacing = goal_pacing(current=350.0, target=3650.0, today=TODAY)
    assert pacing["ahead_by"] == -350.0
    assert pacing["projected_year_end"] == 1825.0


@pytest.mark.parametrize(
    ("day", "share"), [(dt.date(2024, 12, 31), 1.0), (dt.date(2024, 1, 1), 1 / 366)]
)
def test_goal_pacing_first_and_last_day_of_a_leap_year(day: dt.date, share: float) -> None:
    pacing = goal_pacing(current=100.0, target=1000.0, today=day)
    assert pacing["expected_by_today"] == round(1000 * share, 1)
    assert pacing["projected_year_end"] == round(100 / share, 1)
