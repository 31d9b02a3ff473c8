"""Weekly and monthly history, streaks, goal pacing: pure functions over summary activities.

The summary holds the latest public activities (one page of the activity list, the page the
build fetches anyway), so the history costs no extra Strava call. It is honest about what it
does not know: when the page was full, activities older than its oldest one were not fetched,
so weeks and months that begin on or before ``known_since`` are ``null`` (unknown: not wholly
fetched, their sums would be short), not zero, and the
streaks count only from ``known_since``. Only public activities are counted: a weekly bar would
otherwise reveal a private activity's distance and week.

Days, weeks and months are the athlete's local ones (the date of ``start_time_local``); weeks
start on Monday (ISO 8601), months are calendar months. ``today`` is injected, so tests need no
clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from paceline.settings import SPORT_FAMILIES

WEEKS = 12
MONTHS = 12
# Strava's sport types counted in each family of its totals (run, ride, swim).
SPORT_TYPES: dict[str, frozenset[str]] = {
    "run": frozenset({"Run", "TrailRun", "VirtualRun"}),
    "ride": frozenset(
        {
            "Ride",
            "GravelRide",
            "MountainBikeRide",
            "VirtualRide",
            "EBikeRide",
            "EMountainBikeRide",
            "Velomobile",
            "Handcycle",
        }
    ),
    "swim": frozenset({"Swim"}),
}
# Each Strava sport type counted in a family's totals, and its family.
FAMILY_OF = {sport: family for family, sports in SPORT_TYPES.items() for sport in sports}


def view_day(activity: Mapping[str, Any]) -> dt.date | None:
    """The local day of a served activity: from its start time, or, when the athlete hides the
    start time, from the day alone (``start_date_local``)."""
    for name in ("start_time_local", "start_date_local"):
        value = activity.get(name)
        if isinstance(value, str) and value:
            try:
                return dt.date.fromisoformat(value[:10])
            except ValueError:
                continue
    return None


def week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def as_number(value: Any) -> float:
    """A JSON number as a float; anything else (missing, null, text, a boolean) as 0."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _months_back(day: dt.date, months: int) -> dt.date:
    """The first day of the month ``months`` before ``day``'s (across year ends)."""
    index = day.year * 12 + day.month - 1 - months
    return dt.date(index // 12, index % 12 + 1, 1)


def _series(
    activities: Iterable[Mapping[str, Any]],
    bounds: Sequence[dt.date],
    start_of: Callable[[dt.date], dt.date],
    known_since: dt.date | None,
) -> dict[str, dict[str, list[float | None]]]:
    """Distance and moving time per period for ``all`` and each sport family, oldest first:
    period ``n`` runs from ``bounds[n]`` to the day before ``bounds[n + 1]``, and
    ``start_of(day)`` is the start of the period holding ``day``. A period that began on or
    before ``known_since`` is unknown (``None``), not zero: it is not wholly covered (the
    fetched page may also stop part-way through that first day), so its sum would be short."""
    index = {start: n for n, start in enumerate(bounds[:-1])}
    count = len(bounds) - 1
    series: dict[str, dict[str, list[float | None]]] = {
        name: {"distance_m": [0.0] * count, "moving_time_s": [0.0] * count}
        for name in ("all", *SPORT_FAMILIES)
    }
    for activity in activities:
        day = view_day(activity)
        position = index.get(start_of(day)) if day is not None else None
        if position is None:
            continue
        family = FAMILY_OF.get(str(activity.get("sport_type")))
        for name in ("all", family) if family else ("all",):
            for field in ("distance_m", "moving_time_s"):
                value = series[name][field][position]
                series[name][field][position] = (value or 0.0) + as_number(activity.get(field))
    for values in series.values():
        for field, numbers in values.items():
            for n, start in enumerate(bounds[:-1]):
                number = numbers[n]
                if known_since is not None and start <= known_since:
                    numbers[n] = None
                elif number is not None:
                    numbers[n] = round(number, 1) if field == "distance_m" else round(number)
    return series


def weekly(
    activities: Iterable[Mapping[str, Any]],
    today: dt.date,
    known_since: dt.date | None,
    weeks: int = WEEKS,
) -> dict[str, Any]:
    """Distance and moving time per week (oldest first) for ``all`` and each sport family."""
    this_week = week_start(today)
    bounds = [this_week - dt.timedelta(weeks=weeks - 1 - n) for n in range(weeks + 1)]
    return {
        "week_starts": [start.isoformat() for start in bounds[:-1]],
        "known_since": known_since.isoformat() if known_since else None,
        **_series(activities, bounds, week_start, known_since),
    }


def monthly(
    activities: Iterable[Mapping[str, Any]],
    today: dt.date,
    known_since: dt.date | None,
    months: int = MONTHS,
) -> dict[str, Any]:
    """Distance and moving time per calendar month (oldest first, this month last) for ``all``
    and each sport family; a month that began on or before ``known_since`` is unknown."""
    bounds = [_months_back(today, months - 1 - n) for n in range(months + 1)]
    return {
        "month_starts": [start.isoformat() for start in bounds[:-1]],
        "known_since": known_since.isoformat() if known_since else None,
        **_series(activities, bounds, month_start, known_since),
    }


def _runs(ordinals: Sequence[int]) -> tuple[int, int]:
    """(length of the run of consecutive numbers ending at the last, longest run)."""
    longest = current = 0
    previous: int | None = None
    for value in ordinals:
        current = current + 1 if previous is not None and value == previous + 1 else 1
        longest = max(longest, current)
        previous = value
    return current, longest


def streaks(
    activities: Iterable[Mapping[str, Any]], today: dt.date, known_since: dt.date | None
) -> dict[str, Any]:
    """Current and longest streak of active days and of active weeks.

    A streak is still current when its last day is today or yesterday (today is not over),
    and its last week this week or last week. Counted from ``known_since`` when history
    before it was not fetched.
    """
    days = sorted(
        {
            d
            for d in (view_day(a) for a in activities)
            if d is not None and d <= today and (known_since is None or d >= known_since)
        }
    )
    day_numbers = [d.toordinal() for d in days]
    week_numbers = sorted({week_start(d).toordinal() // 7 for d in days})
    current_days, longest_days = _runs(day_numbers)
    current_weeks, longest_weeks = _runs(week_numbers)
    if not day_numbers or day_numbers[-1] < today.toordinal() - 1:
        current_days = 0
    if not week_numbers or week_numbers[-1] < week_start(today).toordinal() // 7 - 1:
        current_weeks = 0
    return {
        "days": {"current": current_days, "longest": longest_days},
        "weeks": {"current": current_weeks, "longest": longest_weeks},
        "counted_since": known_since.isoformat() if known_since else None,
    }


def history(
    activities: Sequence[Mapping[str, Any]], today: dt.date, known_since: dt.date | None
) -> dict[str, Any]:
    return {
        "weekly": weekly(activities, today, known_since),
        "monthly": monthly(activities, today, known_since),
        "streaks": streaks(activities, today, known_since),
    }


def goal_pacing(current: float, target: float, today: dt.date) -> dict[str, Any]:
    """How far ahead (positive) or behind (negative) the even pace to ``target`` by the end of
    ``today``'s year ``current`` is, and the year-end figure at the pace so far."""
    first = dt.date(today.year, 1, 1)
    days_in_year = (dt.date(today.year + 1, 1, 1) - first).days
    elapsed = (today - first).days + 1  # today counts: its activities are in ``current``
    share = elapsed / days_in_year
    expected = target * share
    return {
        "expected_by_today": round(expected, 1),
        "ahead_by": round(current - expected, 1),
        "projected_year_end": round(current / share, 1),
    }
