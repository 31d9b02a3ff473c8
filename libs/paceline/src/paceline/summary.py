"""Building an activity summary from Strava's JSON: pure functions, no I/O.

The input is what the API returned (athlete, one page of activities, stats and, when the
latest activity has photos, its detail); the output is the public, cacheable shape the widget
reads. Rules that protect the athlete live here, where they can be tested without a network:

* activities that are not visible to everyone are never included (``private`` or a
  ``visibility`` other than ``everyone``); Strava's own totals count only public ones too;
* maps (polylines) and start/end coordinates are left out unless the account opted in:
  privacy zones hide a home address only on Strava's pages, not in the raw coordinates;
* every quantity is in SI units and its field name says the unit (``distance_m``,
  ``moving_time_s``, ``average_speed_m_per_s``, ``pace_s_per_km``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from paceline.history import as_number, goal_pacing, history, view_day
from paceline.settings import SPORT_FAMILIES, GoalSettings

RUN_SPORTS = frozenset({"Run", "TrailRun", "VirtualRun"})
PERIODS = {"recent": "recent_4_weeks", "ytd": "year_to_date", "all": "all_time"}
GOAL_METRICS = {
    "distance_m": "distance_m",
    "moving_time_s": "moving_time_s",
    "elevation_gain_m": "elevation_gain_m",
    "count": "count",
}
_TZ_NAME = re.compile(r"^\(GMT[+-]\d{2}:\d{2}\)\s+(\S+)$")
# Strava's photo size keys are pixel widths ("100", "600", "2048"); the largest is the primary.
_PHOTO_SIZE = re.compile(r"^\d+$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class SummaryOptions:
    web_url: str = "https://www.strava.com"  # links to the athlete and activities
    show_maps: bool = False
    activities_max: int = 30
    goals: Mapping[str, GoalSettings] = field(default_factory=dict)


def is_public(activity: Mapping[str, Any]) -> bool:
    """Visible to everyone: neither ``private`` nor followers-only / only-me."""
    if activity.get("private") is True:
        return False
    return bool(activity.get("visibility", "everyone") == "everyone")


def public_activities(activities: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The public ones, newest first: Strava's order, or (day, activity id) when any start time
    is hidden (hidden ones all claim 00:00:01, so their times cannot order them)."""
    public = [a for a in activities if isinstance(a, Mapping) and is_public(a)]
    if any(start_time_hidden(a) for a in public):
        public.sort(key=lambda a: (local_day(a) or "", _whole(a.get("id"))), reverse=True)
    return public


# Since 2024 an athlete can hide an activity's start time; Strava's API then gives start_date
# and start_date_local as the local day at midnight plus one second ("...T00:00:01Z").
HIDDEN_START = "T00:00:01"


def start_time_hidden(activity: Mapping[str, Any]) -> bool:
    """True when Strava hides the activity's start time (both dates at 00:00:01)."""
    local, utc = activity.get("start_date_local"), activity.get("start_date")
    return (
        isinstance(local, str)
        and isinstance(utc, str)
        and local[10:19] == HIDDEN_START
        and utc[10:19] == HIDDEN_START
    )


def local_day(activity: Mapping[str, Any]) -> str | None:
    """The local calendar day (``YYYY-MM-DD``) as Strava reports it: the date part of
    ``start_date_local``, never shifted by an offset (a hidden start time's 00:00:01 moved west
    of UTC would land on the previous day)."""
    local = activity.get("start_date_local")
    if isinstance(local, str) and _DAY.match(local):
        return local[:10]
    start = local_start(activity)
    return start[:10] if start else None


def latest_needing_detail(activities: Sequence[Mapping[str, Any]]) -> int | None:
    """The id of the latest public activity if it has photos (its detail names the primary)."""
    public = public_activities(activities)
    if not public:
        return None
    latest = public[0]
    photos = latest.get("total_photo_count") or 0
    return int(latest["id"]) if isinstance(photos, int) and photos > 0 else None


def primary_photo_url(detail: Mapping[str, Any] | None) -> str | None:
    """The largest URL of the activity's primary photo, if any."""
    if not isinstance(detail, Mapping):
        return None
    photos = detail.get("photos")
    primary = photos.get("primary") if isinstance(photos, Mapping) else None
    urls = primary.get("urls") if isinstance(primary, Mapping) else None
    if not isinstance(urls, Mapping) or not urls:
        return None
    sized = [(int(k), v) for k, v in urls.items() if _PHOTO_SIZE.match(str(k)) and v]
    if sized:
        return str(max(sized, key=lambda pair: pair[0])[1])
    return str(next(iter(urls.values())))


def timezone_name(raw: Any) -> str | None:
    """``"(GMT+01:00) Europe/Paris"`` -> ``"Europe/Paris"``."""
    if not isinstance(raw, str):
        return None
    match = _TZ_NAME.match(raw.strip())
    return match.group(1) if match else (raw.strip() or None)


def parse_utc(raw: Any) -> dt.datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def local_start(activity: Mapping[str, Any]) -> str | None:
    """The local start time with its UTC offset, e.g. ``2026-03-01T07:30:00+01:00``; None when
    the athlete hides it."""
    if start_time_hidden(activity):
        return None
    start = parse_utc(activity.get("start_date"))
    if start is None:
        return None
    offset = activity.get("utc_offset")
    seconds = int(offset) if isinstance(offset, (int, float)) else 0
    zone = dt.timezone(dt.timedelta(seconds=seconds))
    return start.astimezone(zone).isoformat()


def _whole(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def activity_view(
    activity: Mapping[str, Any], options: SummaryOptions, photo_url: str | None = None
) -> dict[str, Any]:
    """One public activity in the summary's shape."""
    distance = as_number(activity.get("distance"))
    moving = _whole(activity.get("moving_time"))
    sport = activity.get("sport_type") or activity.get("type") or "Workout"
    speed = activity.get("average_speed")
    average_speed = (
        round(float(speed), 3)
        if isinstance(speed, (int, float)) and not isinstance(speed, bool)
        else (round(distance / moving, 3) if moving else 0.0)
    )
    pace = round(moving / (distance / 1000), 1) if sport in RUN_SPORTS and distance > 0 else None
    view: dict[str, Any] = {
        "id": _whole(activity.get("id")),
        "name": str(activity.get("name") or ""),
        "sport_type": str(sport),
        "start_time_local": local_start(activity),
        "start_date_local": local_day(activity),
        "start_time_hidden": start_time_hidden(activity),
        "timezone": timezone_name(activity.get("timezone")),
        "distance_m": round(distance, 1),
        "moving_time_s": moving,
        "elapsed_time_s": _whole(activity.get("elapsed_time")),
        "elevation_gain_m": round(as_number(activity.get("total_elevation_gain")), 1),
        "average_speed_m_per_s": average_speed,
        "pace_s_per_km": pace,
        "photo_url": photo_url,
        "url": f"{options.web_url}/activities/{_whole(activity.get('id'))}",
    }
    if options.show_maps:
        summary_map = activity.get("map")
        polyline = summary_map.get("summary_polyline") if isinstance(summary_map, Mapping) else None
        view["map_polyline"] = polyline or None
        view["start_latlng"] = _latlng(activity.get("start_latlng"))
        view["end_latlng"] = _latlng(activity.get("end_latlng"))
    return view


def _latlng(value: Any) -> list[float] | None:
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        return [float(value[0]), float(value[1])]
    return None


def athlete_view(athlete: Mapping[str, Any], options: SummaryOptions) -> dict[str, Any]:
    names = [str(athlete[k]).strip() for k in ("firstname", "lastname") if athlete.get(k)]
    athlete_id = _whole(athlete.get("id"))
    avatar = athlete.get("profile") or athlete.get("profile_medium")
    return {
        "id": athlete_id,
        "display_name": " ".join(n for n in names if n) or f"Athlete {athlete_id}",
        "avatar_url": avatar if isinstance(avatar, str) and avatar.startswith("http") else None,
        "profile_url": f"{options.web_url}/athletes/{athlete_id}",
    }


def totals_view(stats: Mapping[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Strava's ActivityStats as ``{sport: {period: {count, distance_m, ...}}}``."""
    totals: dict[str, dict[str, dict[str, Any]]] = {}
    for sport in SPORT_FAMILIES:
        per_sport: dict[str, dict[str, Any]] = {}
        for raw_period, period in PERIODS.items():
            raw = stats.get(f"{raw_period}_{sport}_totals")
            raw = raw if isinstance(raw, Mapping) else {}
            per_sport[period] = {
                "count": _whole(raw.get("count")),
                "distance_m": round(as_number(raw.get("distance")), 1),
                "moving_time_s": _whole(raw.get("moving_time")),
                "elevation_gain_m": round(as_number(raw.get("elevation_gain")), 1),
            }
        totals[sport] = per_sport
    return totals


def goals_view(
    totals: Mapping[str, Mapping[str, Mapping[str, Any]]],
    goals: Mapping[str, GoalSettings],
    year: int,
    today: dt.date | None = None,
) -> list[dict[str, Any]]:
    """Progress towards each configured yearly target, from the year-to-date totals, and (with
    ``today``, in ``year``) the pacing of :func:`paceline.history.goal_pacing`."""
    progress: list[dict[str, Any]] = []
    for sport in SPORT_FAMILIES:
        goal = goals.get(sport)
        if goal is None:
            continue
        ytd = totals.get(sport, {}).get("year_to_date", {})
        for metric in GOAL_METRICS:
            target = getattr(goal, metric)
            if target is None:
                continue
            current = ytd.get(metric, 0)
            progress.append(
                {
                    "sport": sport,
                    "year": year,
                    "metric": metric,
                    "target": target,
                    "current": current,
                    "progress_ratio": round(current / target, 4) if target else 0.0,
                    **(
                        goal_pacing(current, target, today)
                        if today is not None and today.year == year
                        else {}
                    ),
                }
            )
    return progress


def history_view(
    views: Sequence[Mapping[str, Any]],
    today: dt.date,
    known_since: dt.date | None,
) -> dict[str, Any]:
    """:func:`paceline.history.history` of the public activities, with the day it is as of."""
    return {"as_of": today.isoformat(), **history(views, today, known_since)}


def _known_since(activities: Sequence[Mapping[str, Any]], fetched_all: bool) -> dt.date | None:
    """The first day the fetched page covers, or None when it holds the whole history."""
    if fetched_all:
        return None
    days = [dt.date.fromisoformat(d) for d in (local_day(a) for a in activities) if d]
    return min(days) if days else None


def build_summary(
    athlete: Mapping[str, Any],
    activities: Sequence[Mapping[str, Any]],
    stats: Mapping[str, Any],
    options: SummaryOptions,
    *,
    latest_detail: Mapping[str, Any] | None = None,
    fetched_at: float,
) -> dict[str, Any]:
    """The cacheable body: athlete, public activities (newest first), totals, goals.

    Views of the response (the summary with its recent slice, the activities list) are cut
    from this by :func:`summary_response` and :func:`activities_response`.
    """
    public = public_activities(activities)[: options.activities_max]
    photo = primary_photo_url(latest_detail)
    views = [
        activity_view(a, options, photo if i == 0 and latest_detail is not None else None)
        for i, a in enumerate(public)
    ]
    totals = totals_view(stats)
    today = dt.datetime.fromtimestamp(fetched_at, dt.UTC).date()
    fetched_all = len(activities) < options.activities_max
    known_since = _known_since(activities, fetched_all)
    return {
        "athlete": athlete_view(athlete, options),
        "activities": views,
        "totals": totals,
        "goals": goals_view(totals, options.goals, today.year, today),
        "history": history_view(views, today, known_since),
    }


def age_seconds(fetched_at: float, now: float) -> int:
    return max(0, int(now - fetched_at))


def meta(fetched_at: float, now: float, stale: bool) -> dict[str, Any]:
    return {
        "fetched_at": dt.datetime.fromtimestamp(fetched_at, dt.UTC)
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z"),
        "age_seconds": age_seconds(fetched_at, now),
        "stale": stale,
    }


def summary_response(body: Mapping[str, Any], recent_count: int) -> dict[str, Any]:
    """The summary without its meta: latest activity, a few recent ones, totals, goals."""
    activities = list(body.get("activities") or [])
    return {
        "athlete": body["athlete"],
        "latest_activity": activities[0] if activities else None,
        "recent_activities": activities[:recent_count],
        "totals": body["totals"],
        "goals": body.get("goals") or [],
        "history": body.get("history"),
    }


def activities_response(body: Mapping[str, Any], limit: int) -> dict[str, Any]:
    activities = list(body.get("activities") or [])
    return {"athlete_id": body["athlete"]["id"], "activities": activities[:limit]}


def with_activity(
    body: Mapping[str, Any],
    activity_id: int,
    detail: Mapping[str, Any] | None,
    stats: Mapping[str, Any],
    options: SummaryOptions,
    *,
    year: int,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """The body after one activity was created, changed or removed, without a rebuild.

    ``detail`` is the activity as the API returns it now (None when it is gone or no longer
    visible); ``stats`` the athlete's totals now. The activity takes its place by start time,
    newest first, and only the latest activity keeps a photo, as in :func:`build_summary`;
    the athlete's profile is kept as it was. The history is as of ``today`` (default: the
    day it was as of) and keeps the start of what was fetched.
    """
    kept = [a for a in body.get("activities") or [] if a.get("id") != activity_id]
    if detail is not None and is_public(detail):
        kept.append(activity_view(detail, options, primary_photo_url(detail)))
        kept.sort(key=_order_key(kept), reverse=True)
    activities = kept[: options.activities_max]
    for position, view in enumerate(activities):
        if position > 0 and view.get("photo_url") is not None:
            activities[position] = {**view, "photo_url": None}
    totals = totals_view(stats)
    today = today or _as_of(body) or dt.date(year, 12, 31)
    return {
        **body,
        "activities": activities,
        "totals": totals,
        "goals": goals_view(totals, options.goals, year, today),
        "history": _history_after(body, activities, today, dropped=len(kept) > len(activities)),
    }


def _as_of(body: Mapping[str, Any]) -> dt.date | None:
    as_of = (body.get("history") or {}).get("as_of")
    return dt.date.fromisoformat(as_of) if isinstance(as_of, str) else None


def _history_after(
    body: Mapping[str, Any],
    activities: Sequence[Mapping[str, Any]],
    today: dt.date,
    *,
    dropped: bool,
) -> dict[str, Any]:
    """The history of the patched list; when its oldest activity fell off the list, what was
    before the oldest kept one is no longer known."""
    since = ((body.get("history") or {}).get("weekly") or {}).get("known_since")
    known_since = dt.date.fromisoformat(since) if isinstance(since, str) else None
    days = [d for d in (view_day(a) for a in activities) if d]
    if dropped and days:
        known_since = max(known_since, min(days)) if known_since else min(days)
    return history_view(activities, today, known_since)


def _order_key(views: Sequence[Mapping[str, Any]]) -> Callable[[Mapping[str, Any]], Any]:
    """Newest first by start time; by (day, activity id) when any start time is hidden."""
    if any(v.get("start_time_hidden") for v in views):
        return lambda v: (v.get("start_date_local") or "", _whole(v.get("id")))
    return _start_key


def _start_key(view: Mapping[str, Any]) -> float:
    start = view.get("start_time_local")
    parsed = dt.datetime.fromisoformat(start) if isinstance(start, str) else None
    return parsed.timestamp() if parsed is not None else 0.0


def without_activity(body: Mapping[str, Any], activity_id: int) -> dict[str, Any]:
    """The body minus one activity (deleted, or made private): hidden at once, before the
    rebuild that follows confirms it."""
    activities = [a for a in body.get("activities") or [] if a.get("id") != activity_id]
    today = _as_of(body)
    if today is None:  # a summary cached before it had a history
        return {**body, "activities": activities}
    history = _history_after(body, activities, today, dropped=False)
    return {**body, "activities": activities, "history": history}
