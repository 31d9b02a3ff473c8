"""Serving summaries from the cache, and building them single-flight.

How a read goes (``Summaries.read``):

* **fresh** in the cache: served as is;
* **stale** (older than ``summary_fresh_seconds``, or invalidated by a webhook): served at once,
  marked ``stale: true``, and one background refresh is scheduled;
* **past** ``summary_keep_seconds`` (the retention limit): never served, treated as missing;
* **missing**: built now, once. The build lock (``paceline:lock:summary:<provider>:<account>``
  in Redis) makes it single-flight across every worker and replica: the holder builds with
  interactive priority, everyone else waits for its "built" message on a Redis pub/sub channel
  (an event, not a polling sleep), bounded by ``summary_build_timeout_seconds``, then reads
  the cache. With nothing to serve the caller gets :class:`SummaryUnavailable` (a 503 with
  ``Retry-After``), never an upstream exception.

Background refreshes run on a small thread pool per worker process; a refresh is scheduled
only by whoever wins the build lock, so a thousand stale reads across replicas start one. A
failed build sets a cooldown so a provider that is down is not hammered; the last good
summary keeps being served meanwhile.

A build makes the fewest calls that produce a summary: athlete, one page of activities, stats,
and the latest public activity's detail only when it has photos (for the primary photo).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from paceline import keys, metrics
from paceline.cache import CachedSummary, Lookup, SummaryCache
from paceline.governor import Priority
from paceline.lock import KeyLock, Lease
from paceline.privacy import privacy_events
from paceline.providers import UnknownProvider
from paceline.runtime import Runtime
from paceline.strava_api import (
    PROVIDER,
    AccountUnavailable,
    BudgetExhausted,
    Deadline,
    RefreshInProgress,
    StravaAPI,
)
from paceline.summary import (
    SummaryOptions,
    build_summary,
    latest_needing_detail,
    with_activity,
)
from paceline.upstream import PermanentError, TransientError, UpstreamError
from paceline.year_ledger import YearLedger

log = logging.getLogger(__name__)

BUILT = "built"
SUBSCRIPTION_KEY = f"{keys.NAMESPACE}:webhook:subscription:{PROVIDER}"
WEBHOOKS_RECHECK_SECONDS = 60.0


# The read path's counters, labelled once: labels() on every read shows in the profile.
_CACHE_HIT = metrics.CACHE_REQUESTS.labels("hit")
_CACHE_STALE = metrics.CACHE_REQUESTS.labels("stale")
_CACHE_MISS = metrics.CACHE_REQUESTS.labels("miss")


class SummaryUnavailable(Exception):
    """Nothing can be served now; ``retry_after`` seconds is a sensible wait."""

    def __init__(self, reason: str, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after = max(1, math.ceil(retry_after))


@dataclass(frozen=True)
class Served:
    entry: CachedSummary
    stale: bool


def build_lock_name(account_id: str) -> str:
    return keys.account_key("lock:summary", PROVIDER, account_id)


def built_channel(account_id: str) -> str:
    return keys.account_key("summary-built", PROVIDER, account_id)


class Summaries:
    def __init__(self, runtime: Runtime, cache: SummaryCache, api: StravaAPI | None = None):
        self.runtime = runtime
        self.settings = runtime.settings
        self.cache = cache
        self._api = api
        timeout = self.settings.http_timeout_seconds
        # A build is at most four calls plus a token refresh; the lock outlives it.
        self.locks = KeyLock(runtime.redis, ttl_seconds=5 * timeout + 15)
        threads = self.settings.summary_refresh_threads
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="summary-refresh")
        # Queued + running refreshes per worker; beyond this, reads simply serve stale.
        self._slots = threading.BoundedSemaphore(threads * 4)
        self._closed = False
        self._webhooks = (False, 0.0)  # subscription known, until (monotonic)
        self.year_ledger = YearLedger(runtime)  # honest totals (issue 17)

    @property
    def api(self) -> StravaAPI:
        if self._api is None:
            self._api = StravaAPI(self.runtime)
        return self._api

    def options(self, account_id: str) -> SummaryOptions:
        settings = self.settings
        return SummaryOptions(
            web_url=str(settings.strava_base_url).rstrip("/"),
            show_maps=account_id in settings.show_maps_accounts,
            activities_max=settings.summary_activities_max,
            goals=settings.summary_goals,
        )

    # --- reading -------------------------------------------------------------------------------
    def lookup(self, account_id: str) -> Lookup:
        """Is the account connected, and what is cached for it (one round trip)."""
        return self.cache.lookup(PROVIDER, account_id)

    def read(self, account_id: str, found: Lookup | None = None) -> Served:
        """Serve ``account_id``'s summary; ``found`` is its :meth:`lookup`, if already made."""
        now = self.runtime.clock.now()
        entry = found.entry if found is not None else self.cache.get(PROVIDER, account_id)
        if entry is not None and now - entry.fetched_at > self.settings.summary_keep_seconds:
            # Past the retention limit (an account that cannot be refreshed, e.g. needs_reauth,
            # keeps its last summary no longer than this): never served, whatever Redis kept.
            entry = None
        if entry is not None:
            if self.is_fresh(entry, now):
                _CACHE_HIT.inc()
                return Served(entry, stale=False)
            _CACHE_STALE.inc()
            self.refresh_in_background(account_id)
            return Served(entry, stale=True)
        _CACHE_MISS.inc()
        return Served(self._build_or_wait(account_id), stale=False)

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
        lease = self.locks.try_acquire(build_lock_name(account_id))
        if lease is not None:
            deadline = Deadline(self.settings.summary_build_timeout_seconds)
            return self._build_locked(account_id, lease, Priority.INTERACTIVE, "miss", deadline)
        return self._wait_for_build(account_id)

    def _check_cooldown(self, account_id: str) -> None:
        left = self.cache.cooldown_left(PROVIDER, account_id)
        if left > 0:
            raise SummaryUnavailable(
                "upstream_unavailable", "the provider failed recently; try again later", left
            )

    def _wait_for_build(self, account_id: str) -> CachedSummary:
        """Someone else is building: wait for its message, then read what it stored."""
        timeout = self.settings.summary_build_timeout_seconds + 1.0
        pubsub = self.runtime.redis.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        try:
            pubsub.subscribe(built_channel(account_id))
            deadline = time.monotonic() + timeout
            while True:
                # Checked after subscribing, so a build finishing in between is not missed.
                entry = self.cache.get(PROVIDER, account_id)
                if entry is not None:
                    return entry
                self._check_cooldown(account_id)
                if not self.runtime.redis.exists(build_lock_name(account_id)):
                    # The builder gave up without storing (and without a cooldown): try once.
                    lease = self.locks.try_acquire(build_lock_name(account_id))
                    if lease is not None:
                        return self._build_locked(
                            account_id,
                            lease,
                            Priority.INTERACTIVE,
                            "miss",
                            Deadline(max(0.5, deadline - time.monotonic())),
                        )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SummaryUnavailable(
                        "build_timeout", "the summary is being built; try again shortly", 2
                    )
                message = pubsub.get_message(timeout=min(left, 1.0))
                if message is not None and message.get("type") == "message":
                    data = message.get("data")
                    text = data.decode() if isinstance(data, bytes) else str(data)
                    if text != BUILT:
                        reason, _, retry = text.partition(":")
                        entry = self.cache.get(PROVIDER, account_id)
                        if entry is not None:
                            return entry
                        raise SummaryUnavailable(
                            reason or "upstream_unavailable",
                            "the summary could not be built; try again later",
                            float(retry or self.settings.summary_retry_seconds),
                        )
        finally:
            pubsub.close()

    # --- building ------------------------------------------------------------------------------
    def rebuild(self, account_id: str, trigger: str) -> str:
        """Build now in this thread if nobody else is (webhooks); returns the build result."""
        if self.cache.cooldown_left(PROVIDER, account_id) > 0:
            return "cooldown"
        lease = self.locks.try_acquire(build_lock_name(account_id))
        if lease is None:
            metrics.SUMMARY_BUILDS.labels(PROVIDER, trigger, "busy").inc()
            return "busy"
        try:
            self._build_locked(account_id, lease, Priority.BACKGROUND, trigger, None)
        except SummaryUnavailable as error:
            return error.reason
        return BUILT

    def refresh_activity(
        self, account_id: str, activity_id: int, *, gone: bool, trigger: str
    ) -> str:
        """Bring one created, changed or removed activity into the cached summary (webhooks):
        its detail and the athlete's totals, two calls (one when ``gone``) instead of a
        rebuild. Like :meth:`rebuild`, runs now if nobody else builds; returns the result."""
        if self.cache.cooldown_left(PROVIDER, account_id) > 0:
            return "cooldown"
        lease = self.locks.try_acquire(build_lock_name(account_id))
        if lease is None:
            metrics.SUMMARY_BUILDS.labels(PROVIDER, trigger, "busy").inc()
            return "busy"
        patch = _ActivityPatch(activity_id, gone)
        try:
            self._build_locked(account_id, lease, Priority.BACKGROUND, trigger, None, patch)
        except SummaryUnavailable as error:
            return error.reason
        return BUILT

    def refresh_in_background(self, account_id: str) -> bool:
        """Schedule one refresh unless one runs anywhere, the pool is full or in cooldown."""
        if self._closed or self.cache.cooldown_left(PROVIDER, account_id) > 0:
            return False
        if not self._slots.acquire(blocking=False):
            return False
        lease = self.locks.try_acquire(build_lock_name(account_id))
        if lease is None:
            self._slots.release()
            return False
        # Checked again under the lock: a refresh may have finished between our read of the
        # stale entry and taking the lock; then there is nothing left to do.
        current = self.cache.get(PROVIDER, account_id)
        if current is not None and self.is_fresh(current, self.runtime.clock.now()):
            self.locks.release(lease)
            self._slots.release()
            return False
        try:
            self._pool.submit(self._background, account_id, lease)
        except RuntimeError:  # shutting down
            self._slots.release()
            self._finish(account_id, lease, "shutdown:5")
            return False
        return True

    def _background(self, account_id: str, lease: Lease) -> None:
        try:
            self._build_locked(account_id, lease, Priority.BACKGROUND, "background", None)
        except SummaryUnavailable:
            pass  # logged and counted by the build; the stale summary keeps being served
        except Exception:
            log.exception("background summary refresh crashed")
        finally:
            self._slots.release()

    def _build_locked(
        self,
        account_id: str,
        lease: Lease,
        priority: Priority,
        trigger: str,
        deadline: Deadline | None,
        patch: _ActivityPatch | None = None,
    ) -> CachedSummary:
        outcome = "failed:5"
        try:
            # Checked again under the lock: a build that failed just before we took the lock
            # has set the cooldown before releasing it.
            self._check_cooldown(account_id)
            entry = self._build(account_id, priority, trigger, deadline, patch)
            outcome = BUILT
            return entry
        except SummaryUnavailable as error:
            outcome = f"{error.reason}:{error.retry_after}"
            raise
        finally:
            self._finish(account_id, lease, outcome)

    def _finish(self, account_id: str, lease: Lease, outcome: str) -> None:
        try:
            self.locks.release(lease)
            self.runtime.redis.publish(built_channel(account_id), outcome)
        except Exception:  # the lock expires by itself; waiters time out
            log.warning("could not release a summary build lock", exc_info=True)

    def _build(
        self,
        account_id: str,
        priority: Priority,
        trigger: str,
        deadline: Deadline | None,
        patch: _ActivityPatch | None = None,
    ) -> CachedSummary:
        clock = self.runtime.clock
        started = clock.now()
        timer = time.perf_counter()
        generation = self.cache.generation(PROVIDER, account_id)
        retry = self.settings.summary_retry_seconds
        base = self.cache.get(PROVIDER, account_id) if patch is not None else None
        try:
            if base is not None and patch is not None:
                body = self._fetch_patch(account_id, base, patch, priority, deadline, started)
                started = base.fetched_at  # the profile is still as fetched then
            else:
                body = self._fetch(account_id, priority, deadline, started)
        except UnknownProvider:
            metrics.SUMMARY_BUILDS.labels(PROVIDER, trigger, "unavailable").inc()
            raise SummaryUnavailable(
                "not_configured", "Strava is not configured (PACELINE_STRAVA_CLIENT_ID)", retry
            ) from None
        except BudgetExhausted as error:
            metrics.SUMMARY_BUILDS.labels(PROVIDER, trigger, "denied").inc()
            wait = error.retry_after or retry
            self.cache.set_cooldown(PROVIDER, account_id, wait)
            raise SummaryUnavailable(
                "rate_limited", "the provider's rate budget is spent for now", wait
            ) from None
        except RefreshInProgress as error:
            metrics.SUMMARY_BUILDS.labels(PROVIDER, trigger, "busy").inc()
            raise SummaryUnavailable(
                "token_refresh_in_progress",
                "the account's token is being refreshed; try again in a moment",
                error.retry_after or 2,
            ) from None
        except AccountUnavailable as error:
            metrics.SUMMARY_BUILDS.labels(PROVIDER, trigger, "unavailable").inc()
            self.cache.set_cooldown(PROVIDER, account_id, retry)
            log.warning(
                "summary build impossible",
                extra={"provider": PROVIDER, "account": account_id, "reason": error.reason},
            )
            raise SummaryUnavailable(
                "account_unavailable", "the account needs to be connected again", retry
            ) from None
        except UpstreamError as error:
            metrics.SUMMARY_BUILDS.labels(PROVIDER, trigger, "failed").inc()
            wait = max(retry, getattr(error, "retry_after", None) or 0)
            self.cache.set_cooldown(PROVIDER, account_id, wait)
            log.warning(
                "summary build failed",
                extra={"provider": PROVIDER, "account": account_id, "error": str(error)},
            )
            raise SummaryUnavailable(
                "upstream_unavailable", "the provider could not be reached", wait
            ) from None
        credential = self.runtime.store.get(PROVIDER, account_id)
        self.cache.put(
            PROVIDER,
            account_id,
            body,
            fetched_at=started,
            generation=generation,
            privacy_events=credential is not None and privacy_events(PROVIDER, credential.scopes),
        )
        if self.year_ledger.behind(account_id):  # honest totals not paged yet (issue 17)
            self.cache.invalidate(PROVIDER, account_id)
        entry = self.cache.get(PROVIDER, account_id)
        if entry is None:  # the account was disconnected while we built
            metrics.SUMMARY_BUILDS.labels(PROVIDER, trigger, "unavailable").inc()
            raise SummaryUnavailable("account_unavailable", "the account is not connected", retry)
        self.cache.clear_cooldown(PROVIDER, account_id)
        metrics.SUMMARY_BUILDS.labels(PROVIDER, trigger, BUILT).inc()
        metrics.SUMMARY_BUILD_DURATION.labels(PROVIDER).observe(time.perf_counter() - timer)
        log.info(
            "summary built",
            extra={"provider": PROVIDER, "account": account_id, "trigger": trigger},
        )
        return entry

    def _fetch(
        self, account_id: str, priority: Priority, deadline: Deadline | None, started: float
    ) -> dict[str, Any]:
        api = self.api
        options = self.options(account_id)
        athlete = api.athlete(account_id, priority, deadline)
        activities = api.activities(
            account_id, priority, per_page=options.activities_max, deadline=deadline
        )
        stats = api.stats(account_id, priority, deadline)
        if not isinstance(athlete, Mapping) or not isinstance(stats, Mapping):
            raise TransientError("unexpected response shape")
        if not isinstance(activities, list):
            raise TransientError("unexpected response shape")
        detail = None
        with_photos = latest_needing_detail(activities)
        if with_photos is not None:
            try:
                detail = api.activity(account_id, with_photos, priority, deadline)
            except UpstreamError as error:  # the photo is optional; the summary is not
                log.info(
                    "latest activity's photo skipped",
                    extra={"provider": PROVIDER, "account": account_id, "error": str(error)},
                )
        body = build_summary(
            athlete,
            activities,
            stats,
            options,
            latest_detail=detail if isinstance(detail, Mapping) else None,
            fetched_at=started,
        )
        # Honest totals (issue 17): every activity of the year, for accounts that opted in.
        return self.year_ledger.after_build(
            api, account_id, body, activities, options.activities_max, deadline, started
        )

    def _fetch_patch(
        self,
        account_id: str,
        base: CachedSummary,
        patch: _ActivityPatch,
        priority: Priority,
        deadline: Deadline | None,
        started: float,
    ) -> dict[str, Any]:
        api = self.api
        detail = None
        if not patch.gone:
            try:
                detail = api.activity(account_id, patch.activity_id, priority, deadline)
            except PermanentError as error:
                if error.status not in (403, 404):  # gone, or not ours to see: drop it
                    raise
        stats = api.stats(account_id, priority, deadline)
        if not isinstance(stats, Mapping) or not (detail is None or isinstance(detail, Mapping)):
            raise TransientError("unexpected response shape")
        today = dt.datetime.fromtimestamp(started, dt.UTC).date()
        body = with_activity(
            base.body,
            patch.activity_id,
            detail,
            stats,
            self.options(account_id),
            year=today.year,
            today=today,
        )
        # Honest totals (issue 17): the activity's detail moves the year ledger.
        return self.year_ledger.after_patch(
            api, account_id, body, patch.activity_id, detail, deadline, started
        )

    # --- lifecycle -----------------------------------------------------------------------------
    def close(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Tests: wait until no background refresh is queued or running."""
        deadline = time.monotonic() + timeout
        total = self.settings.summary_refresh_threads * 4
        while time.monotonic() < deadline:
            taken = [self._slots.acquire(blocking=False) for _ in range(total)]
            acquired = sum(taken)
            for _ in range(acquired):
                self._slots.release()
            if acquired == total:
                return True
            time.sleep(0.01)
        return False


@dataclass(frozen=True)
class _ActivityPatch:
    activity_id: int
    gone: bool  # deleted or hidden: nothing to fetch


EXTENSION = "activity_api.summaries"
