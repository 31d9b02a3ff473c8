"""Which summary a read gets, and when a build runs: the fresh/stale/miss policy.

How a read goes (:meth:`Summaries.read`):

* **fresh** in the cache: served as is;
* **stale** (older than ``summary_fresh_seconds``, or invalidated by a webhook): served at once,
  marked ``stale: true``, and one background refresh is scheduled
  (:mod:`activity_api.background_refresh`);
* **past** ``summary_keep_seconds`` (the retention limit): never served, treated as missing;
* **missing**: built now, once across every worker and replica
  (:mod:`activity_api.single_flight`): the lock holder builds with interactive priority
  (:mod:`activity_api.summary_builder`), everyone else waits for it, bounded by
  ``summary_build_timeout_seconds``. With nothing to serve the caller gets
  :class:`~activity_api.single_flight.SummaryUnavailable` (a 503 with ``Retry-After``), never
  an upstream exception.

A failed build sets a cooldown so a provider that is down is not hammered; the last good
summary keeps being served meanwhile. Webhooks rebuild (:meth:`Summaries.rebuild`) or patch one
activity in (:meth:`Summaries.refresh_activity`) through the same lock.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

from paceline import keys, metrics
from paceline.cache import CachedSummary, Lookup, SummaryCache
from paceline.governor import Priority
from paceline.lock import Lease
from paceline.runtime import Runtime
from paceline.strava_api import PROVIDER, Deadline, StravaAPI

from activity_api.background_refresh import BackgroundRefresher
from activity_api.single_flight import (
    BuildOutcome,
    FlightResult,
    SingleFlight,
    SummaryUnavailable,
)
from activity_api.summary_builder import ActivityPatch, SummaryBuilder

SUBSCRIPTION_KEY = f"{keys.NAMESPACE}:webhook:subscription:{PROVIDER}"
WEBHOOKS_RECHECK_SECONDS = 60.0

# The read path's counters, labelled once: labels() on every read shows in the profile.
_CACHE_HIT = metrics.CACHE_REQUESTS.labels("hit")
_CACHE_STALE = metrics.CACHE_REQUESTS.labels("stale")
_CACHE_MISS = metrics.CACHE_REQUESTS.labels("miss")


@dataclass(frozen=True)
class Served:
    entry: CachedSummary
    stale: bool


class Summaries:
    def __init__(self, runtime: Runtime, cache: SummaryCache, api: StravaAPI | None = None):
        self.runtime = runtime
        self.settings = runtime.settings
        self.cache = cache
        self.builder = SummaryBuilder(runtime, cache, api)
        # A build is at most four calls plus a token refresh; the lock outlives it.
        self.flight = SingleFlight(runtime.redis, 5 * self.settings.http_timeout_seconds + 15)
        self.refresher = BackgroundRefresher(self.settings.summary_refresh_threads)
        self._webhooks = (False, 0.0)  # subscription known, until (monotonic)

    # --- reading -------------------------------------------------------------------------------
    def lookup(self, account_id: str) -> Lookup:
        """Is the account connected, and what is cached for it (one round trip)."""
        return self.cache.lookup(PROVIDER, account_id)

    def read(self, account_id: str, found: Lookup | None = None) -> Served:
        """Serve ``account_id``'s summary; ``found`` is its :meth:`lookup`, if already made."""
        entry = found.entry if found is not None else self.cache.get(PROVIDER, account_id)
        served = self.fresh(entry)
        if served is not None:
            return served
        if entry is not None and self.retained(entry, self.runtime.clock.now()):
            metrics.PER_REQUEST.add(_CACHE_STALE.inc)
            self.refresh_in_background(account_id)
            return Served(entry, stale=True)
        metrics.PER_REQUEST.add(_CACHE_MISS.inc)
        return Served(self._build_or_wait(account_id), stale=False)

    def fresh(self, entry: CachedSummary | None) -> Served | None:
        """``entry`` served as a cache hit if it is fresh, else None (missing, stale or past
        retention: :meth:`read` decides what then); nothing is built or scheduled here."""
        if entry is None:
            return None
        now = self.runtime.clock.now()
        if not (self.retained(entry, now) and self.is_fresh(entry, now)):
            return None
        metrics.PER_REQUEST.add(_CACHE_HIT.inc)
        return Served(entry, stale=False)

    def retained(self, entry: CachedSummary, now: float) -> bool:
        """Within ``summary_keep_seconds``: past the retention limit (an account that cannot be
        refreshed, e.g. needs_reauth, keeps its last summary no longer than this) a summary is
        never served, whatever Redis kept."""
        return now - entry.fetched_at <= self.settings.summary_keep_seconds

    def is_fresh(self, entry: CachedSummary, now: float) -> bool:
        """Fresh for ``summary_fresh_seconds``; with a webhook subscription (events report
        every change) for ``summary_webhook_fresh_seconds``, capped at
        ``summary_privacy_fresh_seconds`` for an account whose privacy changes are not reported.
        Invalidated is never fresh."""
        if entry.is_fresh(now, self.settings.summary_fresh_seconds):
            return True
        longer = self.settings.summary_webhook_fresh_seconds
        if not entry.privacy_events:
            # No privacy events for this account (activity:read_all not granted): an activity
            # made private must still leave within the cap (paceline.privacy).
            longer = min(longer, self.settings.summary_privacy_fresh_seconds)
        return entry.is_fresh(now, longer) and self.webhooks_active()

    def webhooks_active(self) -> bool:
        """A push subscription is configured or recorded (``paceline webhook subscribe``).
        Read from Redis at most every ``WEBHOOKS_RECHECK_SECONDS`` per worker, and only for
        summaries past ``summary_fresh_seconds``."""
        if self.settings.webhook_subscription_id is not None:
            return True
        now = time.monotonic()
        known, until = self._webhooks
        if now >= until:
            known = bool(self.runtime.redis.exists(SUBSCRIPTION_KEY))
            self._webhooks = (known, now + WEBHOOKS_RECHECK_SECONDS)
        return known

    def _build_or_wait(self, account_id: str) -> CachedSummary:
        self._check_cooldown(account_id)
        timeout = self.settings.summary_build_timeout_seconds
        lease = self.flight.lead(account_id)
        if lease is not None:
            return self._build_locked(account_id, lease, Priority.INTERACTIVE, "miss", timeout)
        return self.flight.wait(
            account_id,
            timeout + 1.0,
            read=lambda: self.cache.get(PROVIDER, account_id),
            check=lambda: self._check_cooldown(account_id),
            build=lambda lease, left: self._build_locked(
                account_id, lease, Priority.INTERACTIVE, "miss", left
            ),
            retry_seconds=self.settings.summary_retry_seconds,
        )

    def _check_cooldown(self, account_id: str) -> None:
        left = self.cache.cooldown_left(PROVIDER, account_id)
        if left > 0:
            raise SummaryUnavailable(
                BuildOutcome.UPSTREAM_UNAVAILABLE,
                "the provider failed recently; try again later",
                left,
            )

    # --- building ------------------------------------------------------------------------------
    def rebuild(self, account_id: str, trigger: str) -> BuildOutcome:
        """Build now in this thread if nobody else is (webhooks)."""
        return self._build_now(account_id, trigger, None)

    def refresh_activity(
        self, account_id: str, activity_id: int, *, gone: bool, trigger: str
    ) -> BuildOutcome:
        """Bring one created, changed or removed activity into the cached summary (webhooks):
        its detail and the athlete's totals, two calls (one when ``gone``) instead of a
        rebuild. Like :meth:`rebuild`, runs now if nobody else builds."""
        return self._build_now(account_id, trigger, ActivityPatch(activity_id, gone))

    def _build_now(
        self, account_id: str, trigger: str, patch: ActivityPatch | None
    ) -> BuildOutcome:
        if self.cache.cooldown_left(PROVIDER, account_id) > 0:
            return BuildOutcome.COOLDOWN
        lease = self.flight.lead(account_id)
        if lease is None:
            metrics.SUMMARY_BUILDS.labels(PROVIDER, trigger, BuildOutcome.BUSY.value).inc()
            return BuildOutcome.BUSY
        try:
            self._build_locked(account_id, lease, Priority.BACKGROUND, trigger, None, patch)
        except SummaryUnavailable as error:
            return error.reason
        return BuildOutcome.BUILT

    def refresh_in_background(self, account_id: str) -> bool:
        """Schedule one refresh unless one runs anywhere, the pool is full or in cooldown."""
        if self.refresher.closed or self.cache.cooldown_left(PROVIDER, account_id) > 0:
            return False
        if not self.refresher.reserve():
            return False
        lease = self.flight.lead(account_id)
        if lease is None:
            self.refresher.cancel()
            return False
        # Checked again under the lock: a refresh may have finished between our read of the
        # stale entry and taking the lock; then there is nothing left to do.
        current = self.cache.get(PROVIDER, account_id)
        if current is not None and self.is_fresh(current, self.runtime.clock.now()):
            self.flight.abandon(lease)
            self.refresher.cancel()
            return False
        if not self.refresher.start(lambda: self._background(account_id, lease)):
            self.flight.land(account_id, lease, FlightResult(BuildOutcome.SHUTDOWN, 5))
            return False
        return True

    def _background(self, account_id: str, lease: Lease) -> None:
        # A failure is logged and counted by the build; the stale summary keeps being served.
        with contextlib.suppress(SummaryUnavailable):
            self._build_locked(account_id, lease, Priority.BACKGROUND, "background", None)

    def _build_locked(
        self,
        account_id: str,
        lease: Lease,
        priority: Priority,
        trigger: str,
        seconds: float | None,
        patch: ActivityPatch | None = None,
    ) -> CachedSummary:
        """Build holding ``lease``; the waiters learn the outcome whatever it is."""
        result = FlightResult(BuildOutcome.FAILED, 5)
        try:
            # Checked again under the lock: a build that failed just before we took the lock
            # has set the cooldown before releasing it.
            self._check_cooldown(account_id)
            deadline = Deadline(seconds) if seconds is not None else None
            entry = self.builder.build(account_id, priority, trigger, deadline, patch)
            result = FlightResult(BuildOutcome.BUILT)
            return entry
        except SummaryUnavailable as error:
            result = FlightResult(error.reason, error.retry_after)
            raise
        finally:
            self.flight.land(account_id, lease, result)

    def close(self) -> None:
        self.refresher.close()


EXTENSION = "activity_api.summary_service"
