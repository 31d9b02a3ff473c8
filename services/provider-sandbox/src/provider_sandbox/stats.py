"""ActivityStats computed from an athlete's activities, relative to the sandbox clock.

Strava's totals count only activities visible to everyone: "Returns the activity stats of an
athlete. Only includes data from activities set to Everyone visibility" (developers.strava.com/
docs/reference/#api-Athletes-getStats), which is why widgets built on them show too little
for athletes with private activities (ianperrin/MMM-Strava#38, codingcyclist/ha_strava#48).
"recent" means the last four weeks and "ytd" the current calendar year (UTC here). Computing
them instead of storing them keeps the numbers consistent with whatever a test added, changed
or deleted. :func:`year_sums` is the sandbox's own answer to "what did the athlete really do
this year" (every activity, any visibility): the control API serves it so tests can check a
client's honest totals against it; Strava has no such endpoint.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterable
from typing import Any

from .models import RIDE_SPORTS, RUN_SPORTS, SWIM_SPORTS, Activity

RECENT_SECONDS = 28 * 86400


def _totals(activities: list[Activity]) -> dict[str, Any]:
    return {
        "count": len(activities),
        "distance": round(sum(a.distance for a in activities), 1),
        "moving_time": sum(a.moving_time for a in activities),
        "elapsed_time": sum(a.elapsed_time for a in activities),
        "elevation_gain": round(sum(a.total_elevation_gain for a in activities), 1),
        "achievement_count": sum(a.achievement_count for a in activities),
    }


def compute(activities: Iterable[Activity], now: float) -> dict[str, Any]:
    """The body of GET /api/v3/athletes/{id}/stats."""
    public = [a for a in activities if a.visibility == "everyone"]
    year_start = calendar.timegm((time.gmtime(now).tm_year, 1, 1, 0, 0, 0, 0, 0, 0))
    recent_start = now - RECENT_SECONDS
    families = {"ride": RIDE_SPORTS, "run": RUN_SPORTS, "swim": SWIM_SPORTS}
    rides = [a for a in public if a.sport_type in RIDE_SPORTS]
    body: dict[str, Any] = {
        "biggest_ride_distance": max((a.distance for a in rides), default=None),
        "biggest_climb_elevation_gain": max((a.total_elevation_gain for a in rides), default=None),
    }
    for period, since in (("recent", recent_start), ("ytd", year_start), ("all", None)):
        for family, sports in families.items():
            chosen = [
                a
                for a in public
                if a.sport_type in sports and (since is None or a.start_date >= since)
            ]
            body[f"{period}_{family}_totals"] = _totals(chosen)
    return body


def local_year(activity: Activity) -> int:
    """The year of the activity's local day (as ``start_date_local`` gives it)."""
    return time.gmtime(activity.start_date + activity.utc_offset).tm_year


def year_sums(activities: Iterable[Activity], now: float) -> dict[str, Any]:
    """Every activity of the current year (sandbox clock, UTC year; each activity by its local
    day), whatever its visibility, summed per family like ActivityStats' ytd totals."""
    year = time.gmtime(now).tm_year
    this_year = [a for a in activities if local_year(a) == year]
    families = {"ride": RIDE_SPORTS, "run": RUN_SPORTS, "swim": SWIM_SPORTS}
    body: dict[str, Any] = {"year": year}
    for family, sports in families.items():
        body[family] = _totals([a for a in this_year if a.sport_type in sports])
    return body
