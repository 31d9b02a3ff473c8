"""``GET /v1/strava/summary`` and ``GET /v1/strava/athletes/<id>/summary``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response
from paceline.summary import meta, summary_response
from paceline.web.app import json_error, runtime_of

from activity_api.accounts import is_connected, primary_account
from activity_api.http_cache import cached_json
from activity_api.serving import read_or_unavailable

bp = Blueprint("summary", __name__)


@bp.get("/v1/strava/summary")
def primary_summary() -> Any:
    """The primary account's summary: for single-owner sites."""
    runtime = runtime_of()
    account = primary_account(runtime)
    if account is None:
        return json_error(404, "no_account", "no Strava account is connected yet")
    return _summary(account)


@bp.get("/v1/strava/athletes/<athlete_id>/summary")
def athlete_summary(athlete_id: str) -> Any:
    if not is_connected(runtime_of(), athlete_id):
        return json_error(404, "not_found", "no connected athlete with this id")
    return _summary(athlete_id)


def _summary(account_id: str) -> Response:
    runtime = runtime_of()
    served = read_or_unavailable(account_id)
    if isinstance(served, Response):
        return served
    payload = summary_response(served.entry.body, runtime.settings.summary_recent_count)
    return cached_json(
        payload,
        meta(served.entry.fetched_at, runtime.clock.now(), served.stale),
        stale=served.stale,
        settings=runtime.settings,
    )
