"""Year-to-date totals over every activity: pure functions over an account's year ledger.

Strava's stats endpoint counts only activities visible to everyone ("Only includes data from
activities set to Everyone visibility", developers.strava.com/docs/reference/#api-Athletes-
getStats; ianperrin/MMM-Strava#38), so a widget built on it shows the wrong year for anyone
who keeps some activities private. For an account that opted in, paceline sums the year itself
from a ledger of the figures each activity adds (:class:`Figures`: sport family, local day,
distance, moving time, elevation), kept by :mod:`paceline.year_ledger`. Only the sums leave
it: no activity's name, id, time, place or route is ever published from the ledger.

An activity counts in the year of its *local* day (the date part of ``start_date_local``, as
the athlete saw it), never shifted through UTC. ``today`` is injected, so tests need no clock.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from paceline.history import FAMILY_OF, as_number
from paceline.settings import SPORT_FAMILIES, GoalSettings
from paceline.summary import goals_view, local_day

# A local day differs from the UTC day by at most a day (offsets run from -12 h to +14 h): the
# year's list is asked for from a day before January 1st UTC, and filtered by the local day.
DAY_SECONDS = 86400
# In a newest-first page that does not hold every activity, an activity of the ledger missing
# from the page is known to be gone only when its day is this much after the page's oldest day
# (local days of activities in different time zones may be out of order by a day or so).
WINDOW_MARGIN = dt.timedelta(days=2)


@dataclass(frozen=True)
class Figures:
    """What one activity adds to its sport family's year totals; nothing else of it is kept."""

    family: str
    day: dt.date
    distance_m: float
    moving_time_s: int
    elevation_gain_m: float


def figures(activity: Mapping[str, Any]) -> Figures | None:
    """The figures of a SummaryActivity or DetailedActivity as Strava returns it; None when it
    counts in no family's totals (a walk, a yoga session) or has no local day."""
    sport = activity.get("sport_type") or activity.get("type")
    family = FAMILY_OF.get(str(sport))
    day = local_day(activity)
    if family is None or day is None:
        return None
    try:
        parsed = dt.date.fromisoformat(day)
    except ValueError:
        return None
    return Figures(
        family=family,
        day=parsed,
        distance_m=as_number(activity.get("distance")),
        moving_time_s=int(as_number(activity.get("moving_time"))),
        elevation_gain_m=as_number(activity.get("total_elevation_gain")),
    )


def activity_id(activity: Mapping[str, Any]) -> int | None:
    value = activity.get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def page_after(year: int) -> int:
    """The ``after`` (epoch seconds) that lists every activity whose local day is in ``year``."""
    return calendar.timegm((year, 1, 1, 0, 0, 0)) - DAY_SECONDS


def of_year(activities: Iterable[Mapping[str, Any]], year: int) -> dict[int, Figures]:
    """The ledger entries of a listed year: the activities of ``year`` that count, by id."""
    entries: dict[int, Figures] = {}
    for activity in activities:
        number = activity_id(activity) if isinstance(activity, Mapping) else None
        counted = figures(activity) if number is not None else None
        if number is not None and counted is not None and counted.day.year == year:
            entries[number] = counted
    return entries


def merged(
    entries: Mapping[int, Figures],
    page: Sequence[Mapping[str, Any]],
    year: int,
    *,
    complete: bool,
) -> dict[int, Figures]:
    """The ledger after a newest-first page of the activity list (what every build fetches).

    Activities on the page are taken as they are now (created, changed, or no longer counted).
    A ``complete`` page (shorter than asked for) holds every activity: the rest are gone. Else
    an entry missing from the page is gone only when its day is well inside the page's span.
    """
    result = dict(entries)
    seen: set[int] = set()
    days: list[dt.date] = []
    for activity in page:
        number = activity_id(activity) if isinstance(activity, Mapping) else None
        if number is None:
            continue
        seen.add(number)
        counted = figures(activity)
        day = local_day(activity)
        if day is not None:
            days.append(dt.date.fromisoformat(day))
        if counted is not None and counted.day.year == year:
            result[number] = counted
        else:
            result.pop(number, None)
    if complete:
        return {n: f for n, f in result.items() if n in seen}
    if days:
        covered_from = min(days) + WINDOW_MARGIN
        return {n: f for n, f in result.items() if n in seen or f.day < covered_from}
    return result


def changed(
    entries: Mapping[int, Figures], number: int, detail: Mapping[str, Any] | None, year: int
) -> dict[int, Figures]:
    """The ledger after one activity was created, changed or removed (``detail`` None: gone or
    no longer the athlete's to see)."""
    result = dict(entries)
    counted = figures(detail) if detail is not None else None
    if counted is not None and counted.day.year == year:
        result[number] = counted
    else:
        result.pop(number, None)
    return result


def sums(entries: Iterable[Figures], year: int) -> dict[str, dict[str, Any]]:
    """Year-to-date totals per sport family, in the shape of the summary's ``year_to_date``."""
    raw: dict[str, list[float]] = {family: [0, 0.0, 0, 0.0] for family in SPORT_FAMILIES}
    for entry in entries:
        if entry.day.year != year or entry.family not in raw:
            continue
        totals = raw[entry.family]
        totals[0] += 1
        totals[1] += entry.distance_m
        totals[2] += entry.moving_time_s
        totals[3] += entry.elevation_gain_m
    return {
        family: {
            "count": int(count),
            "distance_m": round(distance, 1),
            "moving_time_s": int(moving),
            "elevation_gain_m": round(elevation, 1),
        }
        for family, (count, distance, moving, elevation) in raw.items()
    }


def with_year_totals(
    body: Mapping[str, Any],
    year_to_date: Mapping[str, Mapping[str, Any]],
    goals: Mapping[str, GoalSettings],
    today: dt.date,
) -> dict[str, Any]:
    """The summary body with its year-to-date totals replaced by ``year_to_date`` and its goals
    (progress and pacing) recomputed from them; the other periods stay Strava's."""
    totals = {
        sport: {**periods, "year_to_date": dict(year_to_date.get(sport) or {})}
        for sport, periods in (body.get("totals") or {}).items()
    }
    return {**body, "totals": totals, "goals": goals_view(totals, goals, today.year, today)}
