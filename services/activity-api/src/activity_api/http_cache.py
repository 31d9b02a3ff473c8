"""HTTP caching for the public JSON: weak ETags, 304s, and Cache-Control a CDN can use.

The ETag covers what the data says, not its ``meta`` (whose ``age_seconds`` changes every
second): two answers with the same ETag show the same athlete, activities and totals. It is
weak (``W/``) for that reason. ``stale`` is part of it, so a client learns when data turns
stale or fresh again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flask import Response, jsonify, request
from paceline.settings import Settings

if TYPE_CHECKING:
    from activity_api.rendering import Rendered


def etag_for(payload: Mapping[str, Any], stale: bool) -> str:
    return etags_for(payload)[int(stale)]


def etags_for(payload: Mapping[str, Any]) -> tuple[str, str]:
    """The tags of ``payload`` served fresh and served stale."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return _digest(f"{text}|0"), _digest(f"{text}|1")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def cache_control(settings: Settings) -> str:
    return (
        f"public, max-age={settings.http_max_age_seconds}, "
        f"stale-while-revalidate={settings.http_stale_while_revalidate_seconds}"
    )


def cached_json(
    rendered: Rendered, meta: Mapping[str, Any], *, stale: bool, settings: Settings
) -> Response:
    """200 with the rendered view and its meta, or 304 when the client already has this data.

    This is the hot path of every widget view, so headers are set directly (the ETag is our own
    hex digest: nothing to quote-check) and ``If-None-Match`` is parsed only when sent.
    """
    tag = rendered.etag(stale)
    if "HTTP_IF_NONE_MATCH" in request.environ and request.if_none_match.contains_weak(tag):
        response = Response(status=304)
    else:
        response = Response(rendered.body(meta), content_type="application/json")
    response.headers["ETag"] = f'W/"{tag}"'
    response.headers["Cache-Control"] = cache_control(settings)
    return response


def unavailable(error: str, message: str, retry_after: int) -> Response:
    """503 with Retry-After and a JSON error; never cached by a CDN."""
    response = jsonify(error=error, message=message, retry_after_seconds=retry_after)
    response.status_code = 503
    response.headers["Retry-After"] = str(retry_after)
    response.headers["Cache-Control"] = "no-store"
    return response
