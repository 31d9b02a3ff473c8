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

import contextlib
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from flask import Response, jsonify
from paceline.cache import CachedSummary
from paceline.settings import Settings
from paceline.summary import age_seconds, meta
from werkzeug.datastructures import Headers
from werkzeug.http import parse_etags

View = Callable[[Mapping[str, Any]], Mapping[str, Any]]

SVG = "image/svg+xml"
# An SVG opened on its own is a document: nothing in it may run or load anything.
SVG_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"),
)


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
    """The last rendering of each view (bounded, least recently used dropped first), answered
    in one :class:`HttpForm` with the response headers made once per rendering."""

    def __init__(self, size: int = 1024, form: HttpForm | None = None) -> None:
        self.size = size
        self.form = form or HttpForm()
        self._views: OrderedDict[Hashable, _Kept] = OrderedDict()
        self._lock = threading.Lock()

    def view(
        self, key: Hashable, entry: CachedSummary, view: View, renderer: Renderer = render
    ) -> Answer:
        """``view`` of ``entry``'s body, rendered now (by ``renderer``: JSON unless told) only
        if these bytes were not before. ``key`` names the view and its renderer."""
        return self._kept(key, entry, view, renderer).answer

    def respond(
        self,
        key: Hashable,
        entry: CachedSummary,
        view: View,
        renderer: Renderer,
        now: float,
        stale: bool,
        environ: Mapping[str, Any],
    ) -> Response:
        """The 200 (or 304) of :meth:`view` served at ``now`` for the request of ``environ``
        (its ``If-None-Match``; no Flask context is needed)."""
        kept = self._kept(key, entry, view, renderer)
        answer = kept.answer
        asked = environ.get("HTTP_IF_NONE_MATCH")
        if asked is not None:
            tag = answer.etag(stale)
            if parse_etags(asked).contains_weak(tag):
                return not_modified(tag, self.form)
        body = answer.answer(entry.fetched_at, now, stale)
        headers = (kept.stale_headers if stale else kept.fresh_headers).copy()
        headers.append(("Content-Length", str(len(body))))
        response = PreparedResponse(headers=_Checked(headers))
        response.response = [body]
        return response

    def _kept(self, key: Hashable, entry: CachedSummary, view: View, renderer: Renderer) -> _Kept:
        # A hit takes no lock: each OrderedDict operation is atomic, and a lock taken by every
        # cached read of four threads became a convoy under the GIL (measured: one read in
        # nine waited for it, each wait a context switch). A hit evicted meanwhile is still
        # a good answer; a move of a key just evicted is skipped.
        known = self._views.get(key)
        if known is not None and known.answer.raw == entry.raw:
            with contextlib.suppress(KeyError):
                self._views.move_to_end(key)
            return known
        kept = _Kept(renderer(entry, view), self.form)
        with self._lock:
            self._views[key] = kept
            self._views.move_to_end(key)
            while len(self._views) > self.size:
                self._views.popitem(last=False)
        return kept


class _Kept:
    """A rendering and its response headers, fresh and stale (all but Content-Length)."""

    __slots__ = ("answer", "fresh_headers", "stale_headers")

    def __init__(self, answer: Answer, form: HttpForm) -> None:
        self.answer = answer
        self.fresh_headers = form.headers_for(answer.etag(False))
        self.stale_headers = form.headers_for(answer.etag(True))


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


@dataclass(frozen=True)
class HttpForm:
    """How the answers of one render cache are sent: content type, Cache-Control, and any
    further fixed headers (the SVG card's)."""

    content_type: str = "application/json"
    cache_control: str = "no-cache"
    extra: tuple[tuple[str, str], ...] = ()

    def headers_for(self, tag: str) -> list[tuple[str, str]]:
        """The headers of a 200 tagged ``tag`` but its Content-Length, checked once here."""
        headers = Headers([("Content-Type", self.content_type), *self.common(tag)])
        return headers.to_wsgi_list()

    def common(self, tag: str) -> list[tuple[str, str]]:
        return [("ETag", f'W/"{tag}"'), ("Cache-Control", self.cache_control), *self.extra]


class _Checked(Headers):
    """Headers copied from a list :meth:`HttpForm.headers_for` has checked: a cached read is
    the hot path of every widget view, and adding them one by one (each value checked again)
    showed in its profile."""

    def __init__(self, checked: list[tuple[str, str]]) -> None:
        self._list = checked


class PreparedResponse(Response):
    """A 200 whose headers are complete when it is made (Content-Length included, no
    Location): werkzeug's last step, which copies the header list to fix those two, would
    find nothing to fix, so the list is handed to the server as it is (hooks and middleware
    may still change it, as for any response)."""

    def get_wsgi_headers(self, environ: Mapping[str, Any]) -> Headers:
        return self.headers


def not_modified(tag: str, form: HttpForm) -> Response:
    """304: the client already has the data tagged ``tag``."""
    response = Response(status=304)
    for name, value in form.common(tag):
        response.headers.add(name, value)
    return response


def unavailable(error: str, message: str, retry_after: int) -> Response:
    """503 with Retry-After and a JSON error; never cached by a CDN."""
    response = jsonify(error=error, message=message, retry_after_seconds=retry_after)
    response.status_code = 503
    response.headers["Retry-After"] = str(retry_after)
    response.headers["Cache-Control"] = "no-store"
    return response
