"""What the read routes share: a summary from the cache, or a 503 that says when to retry.

Upstream trouble and a Redis outage both end here as a 503 with ``Retry-After`` and a JSON
error, never as a 500; during a Redis outage a summary this worker served recently is served
instead, marked stale (:mod:`activity_api.last_good`).

Every widget view passes through :class:`SummaryReader`, so its parts are attributes of one
object found once per request, not looked up one by one through Flask's context.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from typing import Any

import redis
from flask import Response, current_app
from paceline.cache import Lookup
from paceline.runtime import Runtime

from activity_api.accounts import ATHLETE_ID, is_connected
from activity_api.http_cache import cache_control, cached_json, unavailable
from activity_api.last_good import LastGood
from activity_api.primary import PrimaryAccount
from activity_api.rendering import RenderCache, Renderer, View, render
from activity_api.summary_service import Served, Summaries, SummaryUnavailable

log = logging.getLogger(__name__)

STORE_RETRY_SECONDS = 5
EXTENSION = "activity_api.reader"


class FromMemory(Lookup):
    """A lookup answered from this worker's memory because Redis could not be asked."""


class SummaryReader:
    def __init__(self, runtime: Runtime, summaries: Summaries) -> None:
        self.runtime = runtime
        self.summaries = summaries
        self.primary = PrimaryAccount(runtime)
        self.rendered = RenderCache()
        # The SVG cards have many variants (options x locales): their own, smaller cache, so
        # requests for rare variants never push the JSON views out.
        self.cards = RenderCache(size=256)
        self.last_good = LastGood()
        self.cache_control = cache_control(runtime.settings)

    def connected_lookup(self, account_id: str) -> Lookup | None:
        """The account's :meth:`~activity_api.summary_service.Summaries.lookup` if it is connected,
        else None. A connected account costs one round trip (none while the per-worker memo
        holds it); one not found there gets the full check of
        :func:`~activity_api.accounts.is_connected` before it is called unknown. With Redis
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
        if not is_connected(self.runtime, account_id):
            self.last_good.forget(account_id)
            return None
        found = self.summaries.lookup(account_id)
        return found if found.connected else None

    def primary_lookup(self) -> tuple[str, Lookup] | None:
        """The primary account and its lookup, or None when no account is connected."""
        account = self.primary.remembered()
        found = self.connected_lookup(account) if account is not None else None
        if found is None:  # nothing remembered, or disconnected since: resolve again
            account = self.primary.resolve()
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
        content_type: str = "application/json",
        headers: tuple[tuple[str, str], ...] = (),
        cache: RenderCache | None = None,
    ) -> Response:
        """``view`` of the account's summary (rendered by ``renderer`` once per stored
        summary, ``key`` naming the view), as a 200 or 304 with caching headers, or the 503
        of :meth:`read_or_unavailable`."""
        served = self.read_or_unavailable(account_id, found)
        if isinstance(served, Response):
            return served
        rendered = (cache or self.rendered).view(key, served.entry, view, renderer)
        entry, stale = served.entry, served.stale
        return cached_json(
            rendered.etag(stale),
            lambda: rendered.answer(entry.fetched_at, self.runtime.clock.now(), stale),
            self.cache_control,
            content_type,
            headers,
        )


def reader_of(app: Any = None) -> SummaryReader:
    reader: SummaryReader = (app or current_app).extensions[EXTENSION]
    return reader
