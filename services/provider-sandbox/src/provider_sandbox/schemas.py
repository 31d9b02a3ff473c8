"""The shapes of control-API input: which fields exist and how each is checked.

Kept apart from the endpoints so the tables read like documentation of what a test may send.
"""

from __future__ import annotations

from typing import Any

from . import timezones
from .models import SPORT_TO_TYPE, VISIBILITIES
from .validation import (
    Checker,
    boolean,
    choice,
    integer,
    latlng,
    number,
    string,
    timestamp,
)


def zone(value: Any) -> Any:
    """An IANA zone the sandbox can resolve; Strava labels every activity with one."""
    if not isinstance(value, str) or not timezones.is_known(value):
        raise ValueError("must be a known IANA time zone such as Europe/Berlin")
    return value


def digits(value: Any) -> str:
    """Client ids are numeric on Strava (clients such as stravalib cast them to int)."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not text.isdigit():
        raise ValueError("must be a string of digits")
    return text


def updates(value: Any) -> dict[str, str]:
    """Strava sends every value of an event's ``updates`` as a string (``"private": "true"``)."""
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ValueError("must be an object")
    return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}


ATHLETE_FIELDS: dict[str, Checker] = {
    "id": integer(minimum=1),
    "firstname": string(),
    "lastname": string(),
    "username": string(),
    "city": string(nullable=True),
    "state": string(nullable=True),
    "country": string(nullable=True),
    "sex": choice(("M", "F"), nullable=True),
    "premium": boolean(),
    "summit": boolean(),
    "follower_count": integer(minimum=0),
    "friend_count": integer(minimum=0),
    "measurement_preference": choice(("meters", "feet")),
    "ftp": integer(minimum=0, nullable=True),
    "weight": number(minimum=0, nullable=True),
    "bio": string(nullable=True, non_empty=False),
    "timezone": zone,
}

ACTIVITY_FIELDS: dict[str, Checker] = {
    "id": integer(minimum=1),
    "name": string(),
    "sport_type": choice(SPORT_TO_TYPE),
    "type": choice(SPORT_TO_TYPE),
    "start_date": timestamp(),
    "distance": number(minimum=0),
    "moving_time": integer(minimum=1),
    "elapsed_time": integer(minimum=1),
    "total_elevation_gain": number(minimum=0),
    "timezone": zone,
    "utc_offset": integer(),
    "workout_type": integer(nullable=True),
    "description": string(nullable=True, non_empty=False),
    "calories": number(minimum=0),
    "device_name": string(nullable=True),
    "visibility": choice(VISIBILITIES),
    "private": boolean(),
    "hide_start_time": boolean(),
    "trainer": boolean(),
    "commute": boolean(),
    "manual": boolean(),
    "flagged": boolean(),
    "gear_id": string(nullable=True),
    "start_latlng": latlng(),
    "end_latlng": latlng(),
    "summary_polyline": string(nullable=True, non_empty=False),
    "average_heartrate": number(minimum=0, nullable=True),
    "max_heartrate": number(minimum=0, nullable=True),
    "max_speed": number(minimum=0),
    "elev_high": number(nullable=True),
    "elev_low": number(nullable=True),
    "achievement_count": integer(minimum=0),
    "kudos_count": integer(minimum=0),
    "comment_count": integer(minimum=0),
    "athlete_count": integer(minimum=1),
    "pr_count": integer(minimum=0),
    "location_city": string(nullable=True),
    "location_state": string(nullable=True),
    "location_country": string(nullable=True),
    "photos": integer(minimum=0),
}

FAULT_FIELDS: dict[str, Checker] = {
    "match": string(),
    "method": choice(("GET", "POST", "PUT", "PATCH", "DELETE"), nullable=True),
    "status": integer(minimum=100, maximum=599, nullable=True),
    "latency_ms": integer(minimum=0),
    "timeout": boolean(),
    "hang_seconds": number(minimum=0),
    "malformed": boolean(),
    "times": integer(minimum=1, nullable=True),
}

EVENT_FIELDS: dict[str, Checker] = {
    "object_type": choice(("activity", "athlete")),
    "aspect_type": choice(("create", "update", "delete")),
    "object_id": integer(minimum=1),
    "owner_id": integer(minimum=1),
    "updates": updates,
    "client_id": digits,
}


def usage_pair(value: Any) -> tuple[int, int]:
    """``[15-minute, daily]`` usage, in the order of Strava's headers."""
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
    ):
        raise ValueError("must be [fifteen_minute_usage, daily_usage]")
    return value[0], value[1]
