"""``GET /v1/strava/athletes/<id>/activities?limit=N``: the latest public activities."""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import Blueprint, Response, request
from paceline.summary import activities_response, meta
from paceline.web.app import json_error, runtime_of

from activity_api.http_cache import cached_json
from activity_api.rendering import rendered_of
from activity_api.serving import connected_lookup, read_or_unavailable

bp = Blueprint("activities", __name__)

DEFAULT_LIMIT = 10


@bp.get("/v1/strava/athletes/<athlete_id>/activities")
def athlete_activities(athlete_id: str) -> Any:
    runtime = runtime_of()
    largest = runtime.settings.summary_activities_max
    raw = request.args.get("limit")
    limit = min(DEFAULT_LIMIT, largest)
    if raw is not None:
        if not raw.isdigit() or not 1 <= int(raw) <= largest:
            return json_error(400, "bad_request", f"limit must be an integer from 1 to {largest}")
        limit = int(raw)
    found = connected_lookup(athlete_id)
    if found is None:
        return json_error(404, "not_found", "no connected athlete with this id")
    served = read_or_unavailable(athlete_id, found)
    if isinstance(served, Response):
        return served
    view = partial(activities_response, limit=limit)
    rendered = rendered_of().view(("activities", athlete_id, limit), served.entry, view)
    return cached_json(
        rendered,
        meta(served.entry.fetched_at, runtime.clock.now(), served.stale),
        stale=served.stale,
        settings=runtime.settings,
    )
