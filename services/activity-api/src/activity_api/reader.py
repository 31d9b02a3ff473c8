"""What the read routes share: a summary from the cache, or a 503 that says when to retry.

Upstream trouble and a Redis outage both end here as a 503 with ``Retry-After`` and a JSON
error, never as a 500. During a Redis outage a summary this worker served recently is served
instead, marked stale with its age (:class:`LastGood`): every summary a worker serves passes
through its memory anyway, and keeping the last one per account (bounded: ``size`` accounts,
least recently served dropped first) lets a Redis outage look like a provider outage to widget
callers. Only while Redis cannot be asked, and only for an account this worker saw connected
within ``max_age_seconds``: an account that is disconnected is forgotten as soon as a read finds
it gone, and every copy is dropped when any read sees that an account was erased anywhere
(:data:`paceline.erasure.ERASURES_KEY` moved).

Every widget view passes through :class:`SummaryReader`, so its parts are attributes of one
object found once per request, not looked up one by one through Flask's context.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import Any

import redis
from flask import Response, current_app, request
from paceline.cache import CachedSummary, Lookup
from paceline.runtime import Runtime
from paceline.strava_api import PROVIDER

from activity_api.accounts import ATHLETE_ID, Accounts
from activity_api.rendering import (
    SVG,
    SVG_HEADERS,
    HttpForm,
    RenderCache,
    Renderer,
    View,
    cache_control,
    render,
    unavailable,
)
from activity_api.single_flight import SummaryUnavailable
from activity_api.summary_service import Served, Summaries

log = logging.getLogger(__name__)

STORE_RETRY_SECONDS = 5
# How often the same summary's "seen connected" time is renewed (max_age_seconds is minutes).
REMEMBER_EVERY_SECONDS = 1.0
EXTENSION = "activity_api.reader"


class FromMemory(Lookup):
    """A lookup answered from this worker's memory because Redis could not be asked."""


class LastGood:
    def __init__(
        self,
        size: int = 256,
        max_age_seconds: float = 600.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.size = size
        self.max_age_seconds = max_age_seconds
        self._monotonic = monotonic
        self._entries: OrderedDict[str, tuple[CachedSummary, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0

    def remember(self, account_id: str, entry: CachedSummary) -> None:
        """``entry`` was just served for ``account_id``, a connected account."""
        now = self._monotonic()
        kept = self._entries.get(account_id)  # a peek; a stale one only means the lock below
        if kept is not None and kept[0] is entry and now - kept[1] < REMEMBER_EVERY_SECONDS:
            return  # remembered a moment ago: the hot path of every cached read takes no lock
        with self._lock:
            self._entries[account_id] = (entry, now)
            self._entries.move_to_end(account_id)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def keep_generation(self, erasures: int) -> None:
        """``erasures`` is the store's erasure count now: when it moved, forget everything (an
        erased account's copy must not be served during a later Redis outage)."""
        if erasures != self._generation:
            with self._lock:
                self._generation = erasures
                self._entries.clear()

    def forget(self, account_id: str) -> None:
        with self._lock:
            self._entries.pop(account_id, None)

    def recall(self, account_id: str) -> CachedSummary | None:
        """The last summary served for the account, if it was seen connected recently."""
        with self._lock:
            kept = self._entries.get(account_id)
        if kept is None or self._monotonic() - kept[1] > self.max_age_seconds:
            return None
        return kept[0]

    def __len__(self) -> int:
        return len(self._entries)


class SummaryReader:
    def __init__(self, runtime: Runtime, summaries: Summaries) -> None:
        self.runtime = runtime
        self.summaries = summaries
        self.accounts = Accounts(runtime)
        self.cache_control = cache_control(runtime.settings)
        self.rendered = RenderCache(form=HttpForm(cache_control=self.cache_control))
        # The SVG cards have many variants (options x locales): their own, smaller cache, so
        # requests for rare variants never push the JSON views out.
        self.cards = RenderCache(size=256, form=HttpForm(SVG, self.cache_control, SVG_HEADERS))
        self.last_good = LastGood()

    def connected_lookup(self, account_id: str) -> Lookup | None:
        """The account's :meth:`~activity_api.summary_service.Summaries.lookup` if it is connected,
        else None. A connected account costs one round trip (none while the per-worker memo
        holds it); one not found there gets the full check of
        :meth:`~activity_api.accounts.Accounts.is_connected` before it is called unknown. With Redis
        unreachable, an account this worker served recently is taken as connected, with the
        summary it was served."""
        if not ATHLETE_ID.match(account_id):
            return None
        try:
            found = self.summaries.lookup(account_id)
        except redis.RedisError:
            remembered = self.last_good.recall(account_id)
            if remembered is None:
                raise
            return FromMemory(connected=True, entry=remembered)
        # An account was erased somewhere (a confirmed revocation, a disconnect): no copy
        # this worker keeps may outlive it, whichever account it was.
        self.last_good.keep_generation(self.summaries.cache.erasures)
        if found.connected:
            return found
        if not self.accounts.is_connected(account_id):
            self.last_good.forget(account_id)
            return None
        found = self.summaries.lookup(account_id)
        return found if found.connected else None

    def primary_lookup(self) -> tuple[str, Lookup] | None:
        """The primary account and its lookup, or None when no account is connected."""
        account = self.accounts.remembered_primary()
        found = self.connected_lookup(account) if account is not None else None
        if found is None:  # nothing remembered, or disconnected since: resolve again
            account = self.accounts.resolve_primary()
            found = self.connected_lookup(account) if account is not None else None
        if account is None or found is None:
            return None
        return account, found

    def read_or_unavailable(
        self, account_id: str, found: Lookup | None = None
    ) -> Served | Response:
        if isinstance(found, FromMemory) and found.entry is not None:
            return Served(found.entry, stale=True)  # Redis is down: not known to be current
        try:
            served = self.summaries.read(account_id, found)
        except SummaryUnavailable as error:
            return unavailable(error.reason.value, str(error), error.retry_after)
        except redis.RedisError as error:
            log.warning("store unavailable", extra={"error": type(error).__name__})
            remembered = self.last_good.recall(account_id)
            if remembered is not None:
                return Served(remembered, stale=True)
            return unavailable(
                "store_unavailable",
                "the cache is unreachable; try again shortly",
                STORE_RETRY_SECONDS,
            )
        self.last_good.remember(account_id, served.entry)
        return served

    def answer(
        self,
        account_id: str,
        found: Lookup,
        key: Hashable,
        view: View,
        renderer: Renderer = render,
        cache: RenderCache | None = None,
    ) -> Response:
        """``view`` of the account's summary (rendered by ``renderer`` once per stored
        summary, ``key`` naming the view), as a 200 or 304 with caching headers in the form of
        ``cache`` (JSON unless told), or the 503 of :meth:`read_or_unavailable`."""
        served = self.read_or_unavailable(account_id, found)
        if isinstance(served, Response):
            return served
        return self._respond(request.environ, served, key, view, renderer, cache)

    def answer_at_hand(
        self,
        environ: Mapping[str, Any],
        account_id: str,
        key: Hashable,
        view: View,
        renderer: Renderer = render,
        cache: RenderCache | None = None,
    ) -> Response | None:
        """:meth:`answer` from this worker's memory alone, or None: the answer when the
        account's lookup is remembered (:meth:`~paceline.cache.SummaryCache.remembered`) and its
        summary is fresh, so nothing is read from Redis, built or scheduled; None in every
        other case, for the route to do in full (:mod:`activity_api.hot_reads`). Needs no
        Flask context: ``environ`` is the request's."""
        if not ATHLETE_ID.match(account_id):
            return None
        cache_of = self.summaries.cache
        found = cache_of.remembered(PROVIDER, account_id)
        if found is None:
            return None
        self.last_good.keep_generation(cache_of.erasures)
        served = self.summaries.fresh(found.entry)
        if served is None:
            return None
        self.last_good.remember(account_id, served.entry)
        return self._respond(environ, served, key, view, renderer, cache)

    def _respond(
        self,
        environ: Mapping[str, Any],
        served: Served,
        key: Hashable,
        view: View,
        renderer: Renderer,
        cache: RenderCache | None,
    ) -> Response:
        answers = cache or self.rendered
        now = self.runtime.clock.now()
        return answers.respond(key, served.entry, view, renderer, now, served.stale, environ)


def reader_of(app: Any = None) -> SummaryReader:
    reader: SummaryReader = (app or current_app).extensions[EXTENSION]
    return reader
