"""Strava's JSON shapes (SummaryAthlete, DetailedAthlete, SummaryActivity, DetailedActivity).

Field names, nesting and ``resource_state`` values follow developers.strava.com and what the
live API actually returns, so clients (stravalib, paceline) parse sandbox answers exactly as
they parse Strava's.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from . import timezones
from .models import Activity, Athlete, Gear


def iso(epoch: float) -> str:
    """``2024-05-01T07:30:00Z``, Strava's timestamp format (also used for local times)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


HIDDEN_START_TIME = "00:00:01"


def start_dates(activity: Activity) -> dict[str, str]:
    """``start_date`` (UTC) and ``start_date_local`` (local wall time, also written with "Z").

    An activity whose start time the athlete hides (a privacy control Strava released in July
    2024: github.com/strautomator/web/issues/28) is returned with both dates as the *local day*
    at midnight plus one second, "YYYY-MM-DDT00:00:01Z" (as paceline's issue 14 records from
    Strava's answers): a client adding the UTC offset lands on the previous day west of UTC."""
    if activity.hide_start_time:
        day = time.strftime("%Y-%m-%d", time.gmtime(activity.start_date + activity.utc_offset))
        hidden = f"{day}T{HIDDEN_START_TIME}Z"
        return {"start_date": hidden, "start_date_local": hidden}
    return {
        "start_date": iso(activity.start_date),
        "start_date_local": iso(activity.start_date + activity.utc_offset),
    }


def athlete_summary(athlete: Athlete) -> dict[str, Any]:
    """The athlete as embedded in the token response (resource_state 2)."""
    return {
        "id": athlete.id,
        "username": athlete.username,
        "resource_state": 2,
        "firstname": athlete.firstname,
        "lastname": athlete.lastname,
        "bio": athlete.bio,
        "city": athlete.city,
        "state": athlete.state,
        "country": athlete.country,
        "sex": athlete.sex,
        "premium": athlete.premium,
        "summit": athlete.summit,
        "created_at": iso(athlete.created_at),
        "updated_at": iso(athlete.updated_at),
        "badge_type_id": 1 if athlete.summit else 0,
        "weight": athlete.weight,
        "profile_medium": athlete.profile_medium,
        "profile": athlete.profile,
        "friend": None,
        "follower": None,
    }


def _gear(gear: Gear, activities: Iterable[Activity]) -> dict[str, Any]:
    distance = sum(a.distance for a in activities if a.gear_id == gear.id)
    return {
        "id": gear.id,
        "primary": gear.primary,
        "name": gear.name,
        "nickname": gear.name,
        "resource_state": 2,
        "retired": False,
        "distance": round(distance, 1),
        "converted_distance": round(distance / 1000, 1),
    }


def athlete_detail(athlete: Athlete, activities: Iterable[Activity]) -> dict[str, Any]:
    """GET /api/v3/athlete (resource_state 3)."""
    own = list(activities)
    data = athlete_summary(athlete)
    data.update(
        {
            "resource_state": 3,
            "follower_count": athlete.follower_count,
            "friend_count": athlete.friend_count,
            "mutual_friend_count": 0,
            "athlete_type": 1 if any(a.type == "Run" for a in own) else 0,
            "date_preference": "%m/%d/%Y",
            "measurement_preference": athlete.measurement_preference,
            "clubs": [],
            "ftp": athlete.ftp,
            "bikes": [_gear(g, own) for g in athlete.bikes],
            "shoes": [_gear(g, own) for g in athlete.shoes],
        }
    )
    return data


def activity_summary(activity: Activity) -> dict[str, Any]:
    """One entry of GET /api/v3/athlete/activities (resource_state 2)."""
    speed = activity.distance / activity.moving_time if activity.moving_time else 0.0
    has_hr = activity.average_heartrate is not None
    data: dict[str, Any] = {
        "resource_state": 2,
        "athlete": {"id": activity.athlete_id, "resource_state": 1},
        "name": activity.name,
        "distance": activity.distance,
        "moving_time": activity.moving_time,
        "elapsed_time": activity.elapsed_time,
        "total_elevation_gain": activity.total_elevation_gain,
        "type": activity.type,
        "sport_type": activity.sport_type,
        "workout_type": activity.workout_type,
        "id": activity.id,
        **start_dates(activity),
        "timezone": timezones.label(activity.timezone, activity.utc_offset),
        "utc_offset": float(activity.utc_offset),
        "location_city": activity.location_city,
        "location_state": activity.location_state,
        "location_country": activity.location_country,
        "achievement_count": activity.achievement_count,
        "kudos_count": activity.kudos_count,
        "comment_count": activity.comment_count,
        "athlete_count": activity.athlete_count,
        "photo_count": 0,
        "map": {
            "id": f"a{activity.id}",
            "summary_polyline": activity.summary_polyline or "",
            "resource_state": 2,
        },
        "trainer": activity.trainer,
        "commute": activity.commute,
        "manual": activity.manual,
        "private": activity.private,
        "visibility": activity.visibility,
        "flagged": activity.flagged,
        "gear_id": activity.gear_id,
        "start_latlng": activity.start_latlng or [],
        "end_latlng": activity.end_latlng or [],
        "average_speed": round(speed, 3),
        "max_speed": activity.max_speed,
        "has_heartrate": has_hr,
        "heartrate_opt_out": False,
        "display_hide_heartrate_option": has_hr,
        "elev_high": activity.elev_high,
        "elev_low": activity.elev_low,
        "upload_id": activity.id + 1_000_000_000,
        "upload_id_str": str(activity.id + 1_000_000_000),
        "external_id": f"sandbox-{activity.id}.fit",
        "from_accepted_tag": False,
        "pr_count": activity.pr_count,
        "total_photo_count": len(activity.photos),
        "has_kudoed": False,
    }
    if has_hr:
        data["average_heartrate"] = activity.average_heartrate
        data["max_heartrate"] = activity.max_heartrate
    return data


def activity_detail(activity: Activity) -> dict[str, Any]:
    """GET /api/v3/activities/{id} for the owner (resource_state 3)."""
    data = activity_summary(activity)
    data["resource_state"] = 3
    data["map"]["resource_state"] = 3
    data["map"]["polyline"] = activity.summary_polyline or ""
    if activity.photos:
        primary = activity.photos[0]
        photos: dict[str, Any] = {
            "primary": {
                "id": primary.id,
                "unique_id": primary.unique_id,
                "urls": primary.urls,
                "source": 1,
            },
            "use_primary_photo": True,
            "count": len(activity.photos),
        }
    else:
        photos = {"primary": None, "count": 0}
    data.update(
        {
            "description": activity.description,
            "calories": activity.calories,
            "device_name": activity.device_name,
            "embed_token": activity.embed_token,
            "perceived_exertion": None,
            "prefer_perceived_exertion": None,
            "photos": photos,
            "gear": None,
            "segment_efforts": [],
            "laps": [],
            "hide_from_home": False,
            "available_zones": [],
        }
    )
    return data
