"""The webhook consumer: queued events, coalesced per account, at-least-once.

* A consumer (``paceline webhook consume``, its own process; or a thread per API worker)
  reads events in the one consumer group; each event only *marks its account dirty*
  (``paceline:webhook-dirty:strava:<account>``, a hash of counts) and schedules it in the
  sorted set ``paceline:webhooks-due:strava``; then it is acknowledged. Nothing upstream yet.
  A ``delete`` or a change to private hides the activity from the cached summary at once
  (privacy first), and schedules the re-check.
* Due accounts are worked through once per ``webhook_cooldown_seconds`` each: one rebuild
  (or, for exactly one activity event, the two-call patch of that activity) serves any number
  of events. A deauthorization is acted on only after :func:`paceline.revocation.
  confirm_revoked` says the grant is dead (checked at most once per
  ``webhook_grant_check_seconds``); otherwise nothing changes and the events count as
  ``rejected_unconfirmed``. A dirty mark is removed only after its work is done; a consumer
  that dies mid-work leaves the account leased, and it is due again when the lease ends.
* Events for athletes without a credential, for summaries nobody asked for, or updates to
  activities the cached summary does not show cost nothing upstream. Builds use the
  governor's background priority, so they stop a reserve short of every limit.

What happened to events is counted in Redis (:data:`OUTCOMES`), since this process may never
be scraped; activity-api exports it as ``paceline_webhook_outcomes_total``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis
from paceline import keys
from paceline.cache import SummaryCache
from paceline.erasure import erase_account
from paceline.mirror import MirrorError
from paceline.revocation import confirm_revoked
from paceline.runtime import Runtime
from paceline.strava_api import PROVIDER
from paceline.upstream import TransientError

from activity_api.events import (
    DEAUTHORIZE,
    GROUP,
    KINDS,
    STREAM,
    WebhookEvent,
    ensure_group,
    expected_subscription,
)
from activity_api.restore import CredentialsNotRestored, MirrorRestore
from activity_api.summaries import BUILT, Summaries

log = logging.getLogger(__name__)

DUE = f"{keys.NAMESPACE}:webhooks-due:{PROVIDER}"
# How long a consumer holds a due account while working on it before another may take it.
LEASE_SECONDS = 120.0
# What the consumer did with events, counted in Redis (the consumer may be its own process,
# never scraped): exported by activity-api as paceline_webhook_outcomes_total{type, result}.
OUTCOMES = f"{keys.NAMESPACE}:webhook-outcomes:{PROVIDER}"
OUTCOME_RESULTS = (
    "refreshed",
    "deauthorized",
    "rejected_unconfirmed",
    "rejected",
    "ignored",
    "not_cached",
    "not_served",
    "retry",
    "dropped",
)

# KEYS: dirty hash, due set, the kind's cooldown key (rebuild or grant check), seen key.
# ARGV: account, now, kind, activity id or '', recheck ('1' or ''), dirty ttl seconds.
# The account is due when the kind's cooldown ends (never later than it already was).
_MARK = """
redis.call('HINCRBY', KEYS[1], ARGV[3], 1)
if ARGV[4] ~= '' then redis.call('HSETNX', KEYS[1], 'activity', ARGV[4]) end
if ARGV[5] ~= '' then redis.call('HINCRBY', KEYS[1], 'recheck', 1) end
redis.call('EXPIRE', KEYS[1], ARGV[6])
local due = tonumber(ARGV[2])
local after = tonumber(redis.call('GET', KEYS[3]) or '0')
if after > due then due = after end
redis.call('ZADD', KEYS[2], 'LT', due, ARGV[1])
if redis.call('ZSCORE', KEYS[2], ARGV[1]) == false then
  redis.call('ZADD', KEYS[2], due, ARGV[1])
end
redis.call('DEL', KEYS[4])
return 1
"""

# KEYS: due set. ARGV: now, lease until, limit. Take due accounts, leasing them.
_CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return ids
"""

# KEYS: dirty hash, due set. ARGV: account, when rebuilds may run again, when grant checks may,
# then the snapshot's field/value pairs. Remove what the finished work covered; fields changed
# since (new events) or left for later stay, and the account is due again when the first of
# the remaining kinds of work may run.
_COMPLETE = """
for i = 4, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
local due = nil
if redis.call('HEXISTS', KEYS[1], 'athlete.deauthorize') == 1 then due = tonumber(ARGV[3]) end
local changes = {'activity.create', 'activity.update', 'activity.delete', 'athlete.update'}
for _, kind in ipairs(changes) do
  if redis.call('HEXISTS', KEYS[1], kind) == 1 then
    if due == nil or tonumber(ARGV[2]) < due then due = tonumber(ARGV[2]) end
  end
end
if due == nil then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[2], due, ARGV[1])
end
return 1
"""


class RetryLater(Exception):
    """The work could not be completed now; try again in ``seconds``."""

    def __init__(self, reason: str, seconds: float = 5.0, *, rebuilt: bool = True) -> None:
        super().__init__(reason)
        self.seconds = max(1.0, seconds)
        self.rebuilt = rebuilt  # False: no build was attempted, the rebuild slot is unused


def record_outcome(client: redis.Redis, kind: str, result: str, count: int = 1) -> None:
    """Count ``count`` events of ``kind`` as ``result`` (both from bounded sets)."""
    if kind not in (*KINDS, "invalid") or result not in OUTCOME_RESULTS:
        raise ValueError(f"unknown webhook outcome {kind}/{result}")
    client.hincrby(OUTCOMES, f"{kind}|{result}", count)


def outcome_totals(client: redis.Redis) -> dict[tuple[str, str], int]:
    raw: Mapping[bytes, bytes] = client.hgetall(OUTCOMES)  # type: ignore[assignment]
    totals = {}
    for name, value in raw.items():
        kind, _, result = name.decode().partition("|")
        totals[(kind, result)] = int(value)
    return totals


def dirty_key(account_id: str) -> str:
    return keys.account_key("webhook-dirty", PROVIDER, account_id)


def cooldown_key(account_id: str) -> str:
    """Until when (epoch seconds) no new rebuild runs for the account's events."""
    return keys.account_key("webhook-cooldown", PROVIDER, account_id)


def grant_check_key(account_id: str) -> str:
    """Until when no new grant check runs for the account's deauthorization events."""
    return keys.account_key("webhook-grant-check", PROVIDER, account_id)


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def served_activity_ids(body: Mapping[str, Any]) -> set[int]:
    """Ids of the activities a cached summary shows."""
    ids = set()
    for item in body.get("activities") or []:
        if isinstance(item, Mapping) and isinstance(item.get("id"), int):
            ids.add(int(item["id"]))
    return ids


@dataclass(frozen=True)
class DirtyWork:
    """What one due account's dirty mark asks for (pure, from the hash's snapshot)."""

    counts: Mapping[str, int]
    activity_id: int | None
    recheck: int

    @classmethod
    def parse(cls, raw: Mapping[Any, Any]) -> DirtyWork:
        text = {
            (k.decode() if isinstance(k, bytes) else str(k)): (
                v.decode() if isinstance(v, bytes) else str(v)
            )
            for k, v in raw.items()
        }
        counts = {k: int(v) for k, v in text.items() if k in KINDS and v.lstrip("-").isdigit()}
        activity = text.get("activity", "")
        recheck = text.get("recheck", "0")
        return cls(
            counts={k: v for k, v in counts.items() if v > 0},
            activity_id=int(activity) if activity.isdigit() else None,
            recheck=int(recheck) if recheck.isdigit() else 0,
        )

    @property
    def deauthorizations(self) -> int:
        return self.counts.get(DEAUTHORIZE, 0)

    @property
    def changes(self) -> int:
        return sum(n for k, n in self.counts.items() if k != DEAUTHORIZE)

    @property
    def patch_activity(self) -> int | None:
        """Exactly one activity event, not a hide: patch that activity (two calls) rather
        than rebuild (three or four)."""
        if self.changes == 1 and self.recheck == 0 and self.activity_id is not None:
            return self.activity_id
        return None


class WebhookConsumer:
    """One consumer of the group; :meth:`start` runs it on a daemon thread, :meth:`run` in
    the calling thread (``paceline webhook consume``)."""

    def __init__(
        self,
        runtime: Runtime,
        summaries: Summaries,
        cache: SummaryCache,
        *,
        name: str | None = None,
        block_ms: int = 2000,
        batch: int = 100,
    ) -> None:
        self.runtime = runtime
        self.redis = runtime.redis
        self.summaries = summaries
        self.cache = cache
        self.name = name or consumer_name()
        self.block_ms = block_ms
        self.batch = batch
        settings = runtime.settings
        self.retry_idle_ms = int(settings.webhook_retry_idle_seconds * 1000)
        self.max_deliveries = settings.webhook_max_deliveries
        self.cooldown_seconds = float(settings.webhook_cooldown_seconds)
        self.grant_seconds = float(settings.webhook_grant_check_seconds)
        self.restore = MirrorRestore()
        self._stop = threading.Event()
        self._idle = threading.Event()  # clear while events are in hand (see _busy)
        self._idle.set()
        self._thread: threading.Thread | None = None
        self._group_ready = False
        self._last_prune = 0.0
        self.heartbeat: Callable[[], None] | None = None  # called every round (probes)
        self._mark = self.redis.register_script(_MARK)
        self._claim = self.redis.register_script(_CLAIM)
        self._complete = self.redis.register_script(_COMPLETE)

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="webhook-consumer", daemon=True)
        self._thread.start()

    def run(self) -> None:
        """Consume until :meth:`stop` (the standalone process: SIGTERM calls stop)."""
        self._loop()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop taking events and wait (up to ``timeout``) for the ones in hand to be handled.

        An idle thread, blocked in its read, is not waited for: that read can last
        ``block_ms``, and a gunicorn worker exiting (``max_requests``) would sit out every
        second of it with no replacement forked yet. Whatever that read still returns is
        left unacknowledged, and another consumer reclaims it.
        """
        self._stop.set()
        self._idle.wait(timeout)

    def request_stop(self) -> None:
        """Ask the loop to end after the round in hand, without waiting (signal handlers)."""
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self.heartbeat is not None:
                self.heartbeat()
            try:
                self.run_once(self.block_ms)
            except redis.RedisError as error:
                self._group_ready = False
                log.warning("webhook consumer: redis error", extra={"error": type(error).__name__})
                self._stop.wait(1.0)
            except Exception:
                log.exception("webhook consumer crashed; continuing")
                self._stop.wait(1.0)

    # --- one round -----------------------------------------------------------------------------
    def run_once(self, block_ms: int | None = None) -> int:
        """Reclaim idle pending events, read new ones (blocking up to ``block_ms``, less when
        an account is due sooner) until the stream is drained, mark their accounts dirty,
        then work through the accounts that are due. Returns how many events were handled."""
        if not self._group_ready:
            ensure_group(self.redis)
            self._group_ready = True
        with self._busy():
            handled = self._reclaim()
        block = self._block_for(block_ms)
        while True:
            try:
                answer: Any = self.redis.xreadgroup(
                    GROUP, self.name, {STREAM: ">"}, count=self.batch, block=block
                )
            except redis.ResponseError as error:
                if "NOGROUP" in str(error):
                    self._group_ready = False
                    return handled
                raise
            if self._stop.is_set():
                return handled  # stopping: what was just read stays pending for others
            read = 0
            with self._busy():
                for _stream, messages in answer or []:
                    for entry_id, fields in messages:
                        self._handle(entry_id, fields)
                        read += 1
            handled += read
            if read < self.batch:
                break
            block = None  # a full batch: drain without waiting before working
        with self._busy():
            self.work_due()
            self._prune_consumers()
        return handled

    def _block_for(self, block_ms: int | None) -> int | None:
        if not block_ms:
            return None
        first = self.redis.zrange(DUE, 0, 0, withscores=True)
        if not first:
            return block_ms
        wait_ms = (float(first[0][1]) - self.runtime.clock.now()) * 1000
        return int(min(block_ms, max(1.0, wait_ms)))

    @contextmanager
    def _busy(self) -> Iterator[None]:
        """Events in hand: :meth:`stop` waits for them (and only for them)."""
        self._idle.clear()
        try:
            yield
        finally:
            self._idle.set()

    def _reclaim(self) -> int:
        try:
            result = self.redis.xautoclaim(
                STREAM, GROUP, self.name, self.retry_idle_ms, start_id="0-0", count=self.batch
            )
        except redis.ResponseError as error:
            if "NOGROUP" in str(error):
                self._group_ready = False
                return 0
            raise
        messages = result[1] if len(result) > 1 else []
        handled = 0
        for entry_id, fields in messages:
            if fields is None:  # trimmed from the stream meanwhile
                self.redis.xack(STREAM, GROUP, entry_id)
                continue
            if self._deliveries(entry_id) > self.max_deliveries:
                self.redis.xack(STREAM, GROUP, entry_id)
                record_outcome(self.redis, self._kind(fields), "dropped")
                log.error(
                    "webhook event dropped after repeated failures",
                    extra={"entry": self._id(entry_id)},
                )
                continue
            self._handle(entry_id, fields)
            handled += 1
        return handled

    def _deliveries(self, entry_id: Any) -> int:
        info = self.redis.xpending_range(STREAM, GROUP, min=entry_id, max=entry_id, count=1)
        return int(info[0]["times_delivered"]) if info else 0

    @staticmethod
    def _id(entry_id: Any) -> str:
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    @staticmethod
    def _kind(fields: Mapping[Any, Any]) -> str:
        try:
            return WebhookEvent.from_fields(fields).kind
        except (KeyError, ValueError):
            return "invalid"

    def _handle(self, entry_id: Any, fields: Mapping[Any, Any]) -> None:
        try:
            event = WebhookEvent.from_fields(fields)
        except (KeyError, ValueError):
            self.redis.xack(STREAM, GROUP, entry_id)
            record_outcome(self.redis, "invalid", "dropped")
            return
        try:
            result = self.accept(event)
        except RetryLater as reason:
            record_outcome(self.redis, event.kind, "retry")
            log.info(
                "webhook event will be retried",
                extra={"entry": self._id(entry_id), "type": event.kind, "reason": str(reason)},
            )
            return
        self.redis.xack(STREAM, GROUP, entry_id)
        if result != "marked":  # marked events are counted when their account's work ends
            record_outcome(self.redis, event.kind, result)
        log.info(
            "webhook event processed",
            extra={"entry": self._id(entry_id), "type": event.kind, "result": result},
        )

    # --- taking one event: no upstream call ----------------------------------------------------
    def accept(self, event: WebhookEvent) -> str:
        """Check one event and mark its account dirty; a bounded result label (``marked``
        when its work is scheduled). Nothing upstream happens here."""
        account = str(event.owner_id)
        seen = event.seen_key()
        if event.subscription_id != expected_subscription(self.runtime):
            self.redis.delete(seen)
            return "rejected"
        if not self._connected(account):
            self.redis.delete(seen)
            return "ignored"  # never connected, or gone: nothing to do
        activity: int | None = None
        recheck = False
        if event.is_deauthorization:
            pass  # checked with the provider when due; nothing cached is needed
        elif event.object_type == "activity":
            entry = self.cache.get(PROVIDER, account)
            if entry is None:
                self.redis.delete(seen)
                return "not_cached"  # nobody asked for this summary: nothing to refresh
            if event.hides_activity:
                # Privacy first: hidden now, re-checked against the API when due.
                recheck = self.cache.drop_activity(PROVIDER, account, event.object_id)
                # Honest totals (issue 17): an unshown activity may still count in them.
                if not recheck and not self.summaries.year_ledger.counts_everything(account):
                    self.redis.delete(seen)
                    return "not_served"
            elif (
                event.aspect_type == "update"
                and not event.shows_activity
                and event.object_id not in served_activity_ids(entry.body)
                and not self.summaries.year_ledger.counts_everything(account)  # issue 17
            ):
                self.redis.delete(seen)
                return "not_served"  # an activity the summary does not show
            activity = event.object_id
        elif self.cache.get(PROVIDER, account) is None:
            self.redis.delete(seen)
            return "not_cached"
        wait_key = grant_check_key(account) if event.is_deauthorization else cooldown_key(account)
        self._mark(
            keys=[dirty_key(account), DUE, wait_key, seen],
            args=[
                account,
                repr(self.runtime.clock.now()),
                event.kind,
                "" if activity is None else str(activity),
                "1" if recheck else "",
                7 * 86400,
            ],
        )
        return "marked"

    def _connected(self, account: str) -> bool:
        store = self.runtime.store
        if store.exists(PROVIDER, account):
            return True
        try:
            if self.restore.restore_if_lost(self.runtime):  # Redis had lost its data
                return store.exists(PROVIDER, account)
        except CredentialsNotRestored as error:
            raise RetryLater(str(error)) from None
        return False

    # --- due accounts: where upstream calls happen ---------------------------------------------
    def work_due(self, limit: int = 20) -> int:
        """Work through up to ``limit`` due accounts; return how many were worked on."""
        now = self.runtime.clock.now()
        taken = self._claim(keys=[DUE], args=[repr(now), repr(now + LEASE_SECONDS), limit])
        for raw in taken or []:
            account = raw.decode() if isinstance(raw, bytes) else str(raw)
            self._work_account(account)
        return len(taken or [])

    def _work_account(self, account: str) -> None:
        try:
            keys.check_ident(account, "account id")
        except ValueError:
            self.redis.zrem(DUE, account)
            return
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(dirty_key(account))
        pipe.get(cooldown_key(account))
        pipe.get(grant_check_key(account))
        snapshot, rebuild_raw, grant_raw = pipe.execute()
        now = self.runtime.clock.now()
        work = DirtyWork.parse(snapshot)
        rebuild_after = float(rebuild_raw or 0)
        grant_after = float(grant_raw or 0)
        check_grant = work.deauthorizations > 0 and grant_after <= now
        rebuild = work.changes > 0 and rebuild_after <= now
        # The cooldowns start now: events arriving while we work wait for the next slot.
        if check_grant:
            grant_after = self._start_cooldown(grant_check_key(account), now, self.grant_seconds)
        if rebuild:
            rebuild_after = self._start_cooldown(cooldown_key(account), now, self.cooldown_seconds)
        try:
            results = self.process(account, work, check_grant=check_grant, rebuild=rebuild)
        except RetryLater as reason:
            if rebuild and not reason.rebuilt:  # someone else was building: keep the slot
                self.redis.delete(cooldown_key(account))
            self.redis.zadd(DUE, {account: now + reason.seconds})
            log.info(
                "webhook work will be retried",
                extra={"account": account, "reason": str(reason), "in_seconds": reason.seconds},
            )
            return
        log.info(
            "webhook work done",
            extra={"account": account, "results": results, "events": dict(work.counts)},
        )
        covered = {}
        for name, value in snapshot.items():
            text = name.decode() if isinstance(name, bytes) else str(name)
            if text == DEAUTHORIZE:
                done = check_grant or DEAUTHORIZE in results
            else:
                done = rebuild or "*" in results
            if done:
                covered[name] = value
                if text in work.counts:
                    label = results.get(text, results.get("*", "refreshed"))
                    record_outcome(self.redis, text, label, work.counts[text])
        pairs = [part for item in covered.items() for part in item]
        self._complete(
            keys=[dirty_key(account), DUE],
            args=[account, repr(max(rebuild_after, now)), repr(max(grant_after, now)), *pairs],
        )

    def _start_cooldown(self, key: str, now: float, seconds: float) -> float:
        until = now + seconds
        self.redis.set(key, repr(until), px=max(1, int(seconds * 1000)))
        return until

    def process(
        self, account: str, work: DirtyWork, *, check_grant: bool = True, rebuild: bool = True
    ) -> dict[str, str]:
        """Do one account's coalesced work; results by event kind (``*``: every other kind
        whose work is settled), or raise :class:`RetryLater`. Kinds with no result are left
        for their cooldown to end."""
        results: dict[str, str] = {}
        if check_grant and work.deauthorizations:
            try:
                revoked = confirm_revoked(self.runtime, PROVIDER, account)
            except TransientError as error:
                raise RetryLater(
                    f"grant check: {error}", getattr(error, "retry_after", None) or 30.0
                ) from None
            if revoked:
                try:
                    erase_account(self.runtime.store, PROVIDER, account)
                except MirrorError as error:
                    raise RetryLater(f"mirror: {error}", 10.0) from None
                self.cache.forget(PROVIDER, account)  # this process's memory too
                return {"*": "ignored", DEAUTHORIZE: "deauthorized"}
            results[DEAUTHORIZE] = "rejected_unconfirmed"
        if not (rebuild and work.changes):
            return results
        if self.runtime.store.get(PROVIDER, account) is None:
            results["*"] = "ignored"  # no longer connected
            return results
        patch = work.patch_activity
        if patch is not None:
            outcome = self.summaries.refresh_activity(account, patch, gone=False, trigger="webhook")
        else:
            outcome = self.summaries.rebuild(account, trigger="webhook")
        if outcome in (BUILT, "account_unavailable"):
            results["*"] = "refreshed" if outcome == BUILT else "ignored"
            return results
        if outcome == "busy":
            raise RetryLater("a build is running", 5.0, rebuilt=False)
        # The provider said something changed and could not be asked: readers see the summary
        # marked stale (its own cooldown paces their refreshes) until the retry succeeds.
        self.cache.invalidate(PROVIDER, account)
        left = self.cache.cooldown_left(PROVIDER, account)
        raise RetryLater(outcome, left or float(self.runtime.settings.summary_retry_seconds))

    # --- housekeeping --------------------------------------------------------------------------
    def _prune_consumers(self, every_seconds: float = 600.0, idle_ms: int = 86_400_000) -> None:
        """Remove consumers of dead workers that hold nothing (names are per process)."""
        now = time.monotonic()
        if now - self._last_prune < every_seconds:
            return
        self._last_prune = now
        for consumer in self.redis.xinfo_consumers(STREAM, GROUP):
            name = consumer["name"]
            name = name.decode() if isinstance(name, bytes) else str(name)
            if name != self.name and consumer["pending"] == 0 and consumer["idle"] > idle_ms:
                self.redis.xgroup_delconsumer(STREAM, GROUP, name)
