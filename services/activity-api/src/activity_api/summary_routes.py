"""``GET /v1/strava/summary`` and ``GET /v1/strava/athletes/<id>/summary``.

The hot path of the service: one pipelined Redis read (is the account connected, and its
cached summary; none while the per-worker memo holds it), then an answer rendered once per
change of the summary (:mod:`activity_api.rendering`).
"""

from __future__ import annotations

from collections.abc import Hashable
from functools import partial
from typing import Any

from flask import Blueprint
from paceline.summary import summary_response
from paceline.web.app import json_error

from activity_api.reader import SummaryReader, reader_of
from activity_api.rendering import View

bp = Blueprint("summary", __name__)
PRIMARY = "/v1/strava/summary"
ATHLETE = "/v1/strava/athletes/<athlete_id>/summary"


@bp.get(PRIMARY)
def primary_summary() -> Any:
    """The primary account's summary: for single-owner sites."""
    reader = reader_of()
    primary = reader.primary_lookup()
    if primary is None:
        return json_error(404, "no_account", "no Strava account is connected yet")
    account, found = primary
    return reader.answer(account, found, *summary_view(reader, account))


@bp.get(ATHLETE)
def athlete_summary(athlete_id: str) -> Any:
    reader = reader_of()
    found = reader.connected_lookup(athlete_id)
    if found is None:
        return json_error(404, "not_found", "no connected athlete with this id")
    return reader.answer(athlete_id, found, *summary_view(reader, athlete_id))


def summary_view(reader: SummaryReader, account: str) -> tuple[Hashable, View]:
    """What :meth:`SummaryReader.answer` needs to answer with the account's summary."""
    view = partial(summary_response, recent_count=reader.runtime.settings.summary_recent_count)
    return ("summary", account), view
