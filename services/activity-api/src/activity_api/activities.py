"""``GET /v1/strava/athletes/<id>/activities?limit=N``: the latest public activities."""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import Blueprint, request
from paceline.summary import activities_response
from paceline.web.app import json_error

from activity_api.reader import reader_of

bp = Blueprint("activities", __name__)

DEFAULT_LIMIT = 10


@bp.get("/v1/strava/athletes/<athlete_id>/activities")
def athlete_activities(athlete_id: str) -> Any:
    reader = reader_of()
    largest = reader.runtime.settings.summary_activities_max
    raw = request.args.get("limit")
    limit = min(DEFAULT_LIMIT, largest)
    if raw is not None:
        if not raw.isdigit() or not 1 <= int(raw) <= largest:
            return json_error(400, "bad_request", f"limit must be an integer from 1 to {largest}")
        limit = int(raw)
    found = reader.connected_lookup(athlete_id)
    if found is None:
        return json_error(404, "not_found", "no connected athlete with this id")
    view = partial(activities_response, limit=limit)
    return reader.answer(athlete_id, found, ("activities", athlete_id, limit), view)
