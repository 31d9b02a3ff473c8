"""HTTP caching for the public JSON: weak ETags, 304s, and Cache-Control a CDN can use.

The ETag covers what the data says, not its ``meta`` (whose ``age_seconds`` changes every
second): two answers with the same ETag show the same athlete, activities and totals. It is
weak (``W/``) for that reason. ``stale`` is part of it, so a client learns when data turns
stale or fresh again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from flask import Response, jsonify, request
from paceline.settings import Settings


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
    tag: str,
    body: Callable[[], bytes],
    cache_control: str,
    content_type: str = "application/json",
    headers: tuple[tuple[str, str], ...] = (),
) -> Response:
    """200 with ``body()``, or 304 when the client already has the data tagged ``tag``.
    ``content_type`` and ``headers`` are for answers other than JSON (the SVG card).

    This is the hot path of every widget view, so headers are added directly (the ETag is our
    own hex digest: nothing to quote-check), ``If-None-Match`` is parsed only when sent and the
    body is made only when it is sent.
    """
    if "HTTP_IF_NONE_MATCH" in request.environ and request.if_none_match.contains_weak(tag):
        response = Response(status=304)
    else:
        response = Response(body(), content_type=content_type)
    response.headers.add("ETag", f'W/"{tag}"')
    response.headers.add("Cache-Control", cache_control)
    for name, value in headers:
        response.headers.add(name, value)
    return response


def unavailable(error: str, message: str, retry_after: int) -> Response:
    """503 with Retry-After and a JSON error; never cached by a CDN."""
    response = jsonify(error=error, message=message, retry_after_seconds=retry_after)
    response.status_code = 503
    response.headers["Retry-After"] = str(retry_after)
    response.headers["Cache-Control"] = "no-store"
    return response
