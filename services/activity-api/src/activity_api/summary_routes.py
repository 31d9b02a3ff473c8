"""``GET /v1/strava/summary`` and ``GET /v1/strava/athletes/<id>/summary``.

The hot path of the service: one pipelined Redis read (is the account connected, and its
cached summary; none while the per-worker memo holds it), then an answer rendered once per
change of the summary (:mod:`activity_api.rendering`).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import Blueprint
from paceline.runtime import Runtime
from paceline.summary import summary_response
from paceline.web.app import json_error

from activity_api.reader import reader_of
from activity_api.rendering import View

bp = Blueprint("summary", __name__)


@bp.get("/v1/strava/summary")
def primary_summary() -> Any:
    """The primary account's summary: for single-owner sites."""
    reader = reader_of()
    primary = reader.primary_lookup()
    if primary is None:
        return json_error(404, "no_account", "no Strava account is connected yet")
    account, found = primary
    return reader.answer(account, found, ("summary", account), _view(reader.runtime))


@bp.get("/v1/strava/athletes/<athlete_id>/summary")
def athlete_summary(athlete_id: str) -> Any:
    reader = reader_of()
    found = reader.connected_lookup(athlete_id)
    if found is None:
        return json_error(404, "not_found", "no connected athlete with this id")
    return reader.answer(athlete_id, found, ("summary", athlete_id), _view(reader.runtime))


def _view(runtime: Runtime) -> View:
    return partial(summary_response, recent_count=runtime.settings.summary_recent_count)
