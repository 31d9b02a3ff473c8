"""Answers rendered once per change of the cached summary, not once per request.

A cached read is the hot path of the service: every page view of every widget. Parsing the
stored JSON, cutting the view out of it, encoding it again and hashing it for the ETag cost
more than the rest of the request together, yet they change only when the stored summary
does. So each worker keeps its last rendering per view, keyed by the exact bytes stored in
Redis: a rebuilt or trimmed summary is different bytes and is rendered afresh; the same bytes
are the same answer. Only ``meta`` (its age changes every second) is encoded per request and
spliced in, giving the bytes ``jsonify({**view, "meta": meta})`` would.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Protocol

from paceline.cache import CachedSummary
from paceline.summary import age_seconds, meta

from activity_api.http_cache import etags_for

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
