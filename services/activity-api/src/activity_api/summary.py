"""``GET /v1/strava/summary`` and ``GET /v1/strava/athletes/<id>/summary``.

The hot path of the service: one pipelined Redis read (is the account connected, and its
cached summary), then an answer rendered once per change of the summary
(:mod:`activity_api.rendering`).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import Blueprint, Response
from paceline.cache import Lookup
from paceline.summary import meta, summary_response
from paceline.web.app import json_error, runtime_of

from activity_api.http_cache import cached_json
from activity_api.primary import primary_of
from activity_api.rendering import rendered_of
from activity_api.serving import connected_lookup, read_or_unavailable

bp = Blueprint("summary", __name__)


@bp.get("/v1/strava/summary")
def primary_summary() -> Any:
    """The primary account's summary: for single-owner sites."""
    primary = primary_of()
    account = primary.remembered()
    found = connected_lookup(account) if account is not None else None
    if found is None:  # nothing remembered, or disconnected since: resolve again
        account = primary.resolve()
        found = connected_lookup(account) if account is not None else None
    if account is None or found is None:
        return json_error(404, "no_account", "no Strava account is connected yet")
    return _summary(account, found)


@bp.get("/v1/strava/athletes/<athlete_id>/summary")
def athlete_summary(athlete_id: str) -> Any:
    found = connected_lookup(athlete_id)
    if found is None:
        return json_error(404, "not_found", "no connected athlete with this id")
    return _summary(athlete_id, found)


def _summary(account_id: str, found: Lookup) -> Response:
    runtime = runtime_of()
    served = read_or_unavailable(account_id, found)
    if isinstance(served, Response):
        return served
    view = partial(summary_response, recent_count=runtime.settings.summary_recent_count)
    rendered = rendered_of().view(("summary", account_id), served.entry, view)
    return cached_json(
        rendered,
        meta(served.entry.fetched_at, runtime.clock.now(), served.stale),
        stale=served.stale,
        settings=runtime.settings,
    )
