"""Answers rendered once per change of the cached summary, not once per request.

A cached read is the hot path of the service: every page view of every widget. Parsing the
stored JSON, cutting the view out of it, encoding it again and hashing it for the ETag cost
more than the rest of the request together, yet they change only when the stored summary
does. So each worker keeps its last rendering per view, keyed by the exact bytes stored in
Redis: a rebuilt or trimmed summary is different bytes and is rendered afresh; the same bytes
are the same answer. Only ``meta`` (its age changes every second) is encoded per request and
spliced in, giving the bytes ``jsonify({**view, "meta": meta})`` would.

HTTP caching: weak ETags, 304s, and Cache-Control a CDN can use. The ETag covers what the
data says, not its ``meta`` (whose ``age_seconds`` changes every second): two answers with the
same ETag show the same athlete, activities and totals. It is weak (``W/``) for that reason.
``stale`` is part of it, so a client learns when data turns stale or fresh again.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Protocol

from flask import Response, jsonify, request
from paceline.cache import CachedSummary
from paceline.settings import Settings
from paceline.summary import age_seconds, meta

View = Callable[[Mapping[str, Any]], Mapping[str, Any]]


class Answer(Protocol):
    """What the read path needs of a rendering: the stored bytes it came from, its ETag and
    its body for a given age and staleness."""

    raw: bytes

    def etag(self, stale: bool) -> str: ...

    def answer(self, fetched_at: float, now: float, stale: bool) -> bytes: ...


Renderer = Callable[[CachedSummary, View], Answer]


class Rendered:
    """One view of one stored summary, ready to answer with.

    ``meta`` changes once a second at most (its age is whole seconds), so the last answer's
    bytes are kept and given again to every request that would encode the same meta.
    """

    __slots__ = ("_last", "fresh_etag", "head", "raw", "stale_etag")

    def __init__(self, raw: bytes, head: bytes, fresh_etag: str, stale_etag: str) -> None:
        self.raw = raw  # the stored summary this view was rendered from
        self.head = head  # the view's compact JSON without its closing brace
        self.fresh_etag = fresh_etag
        self.stale_etag = stale_etag
        self._last: tuple[tuple[float, int, bool], bytes] | None = None

    def etag(self, stale: bool) -> str:
        return self.stale_etag if stale else self.fresh_etag

    def body(self, meta: Mapping[str, Any]) -> bytes:
        tail = json.dumps(meta, separators=(",", ":"))
        return b"".join((self.head, b',"meta":', tail.encode(), b"}\n"))

    def answer(self, fetched_at: float, now: float, stale: bool) -> bytes:
        """The body with the meta of :func:`paceline.summary.meta` for these values."""
        key = (fetched_at, age_seconds(fetched_at, now), stale)
        last = self._last  # one read: another thread may replace it meanwhile
        if last is not None and last[0] == key:
            return last[1]
        body = self.body(meta(fetched_at, now, stale))
        self._last = (key, body)
        return body


def render(entry: CachedSummary, view: View) -> Rendered:
    payload = view(entry.body)
    if not payload:
        raise ValueError("a view is a non-empty JSON object")
    text = json.dumps(payload, separators=(",", ":"))
    fresh, stale = etags_for(payload)
    return Rendered(entry.raw, text[:-1].encode(), fresh, stale)


class RenderCache:
    """The last rendering of each view (bounded, least recently used dropped first)."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._views: OrderedDict[Hashable, Answer] = OrderedDict()
        self._lock = threading.Lock()

    def view(
        self, key: Hashable, entry: CachedSummary, view: View, renderer: Renderer = render
    ) -> Answer:
        """``view`` of ``entry``'s body, rendered now (by ``renderer``: JSON unless told) only
        if these bytes were not before. ``key`` names the view and its renderer."""
        with self._lock:
            known = self._views.get(key)
            if known is not None and known.raw == entry.raw:
                self._views.move_to_end(key)
                return known
        rendered = renderer(entry, view)
        with self._lock:
            self._views[key] = rendered
            self._views.move_to_end(key)
            while len(self._views) > self.size:
                self._views.popitem(last=False)
        return rendered


# --- HTTP caching ------------------------------------------------------------------------------
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
