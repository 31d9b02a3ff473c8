"""SummaryCache: built summaries in Redis, with freshness, invalidation and deletion.

One hash per account (``paceline:summary:<provider>:<account>``) holds the JSON body, when it
was fetched, and two generation counters. A webhook *invalidates* by bumping ``dirty_gen``; a
build records the ``dirty_gen`` it started from as ``clean_gen`` when it stores its result. So
an event that arrives while a build is running (whose data may predate the event) leaves the
entry dirty, and the next read refreshes it again: no change is ever lost to a race.

A result is stored only while the account's credential exists (checked in the same Lua step),
so a build that was in flight when the athlete deauthorized cannot write their data back after
:meth:`SummaryCache.forget` deleted it. The auth-gateway's disconnect uses ``forget`` too.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import redis
import tenacity

from paceline import keys
from paceline.clock import Clock
from paceline.erasure import ERASURES_KEY
from paceline.store import TokenStore

# KEYS: summary hash, credential hash. ARGV: body, fetched_at, generation, ttl seconds,
# privacy_events ("1" when the provider reports the account's privacy changes, else "0").
# Returns 1 when stored, 0 when the credential is gone, -1 when a newer result is already there.
_PUT = """
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
local fetched = tonumber(redis.call('HGET', KEYS[1], 'fetched_at') or '0')
if tonumber(ARGV[2]) < fetched then return -1 end
local clean = tonumber(redis.call('HGET', KEYS[1], 'clean_gen') or '0')
local gen = tonumber(ARGV[3])
if gen < clean then gen = clean end
redis.call('HSET', KEYS[1], 'body', ARGV[1], 'fetched_at', ARGV[2], 'clean_gen', gen,
  'privacy_events', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""

# Bump the dirty generation of an existing entry; nothing to invalidate otherwise.
_INVALIDATE = """
if redis.call('HEXISTS', KEYS[1], 'body') == 0 then return 0 end
return redis.call('HINCRBY', KEYS[1], 'dirty_gen', 1)
"""


@dataclass(frozen=True)
class CachedSummary:
    raw: bytes  # the JSON body exactly as stored: readers that rendered it before skip parsing
    fetched_at: float
    dirty: bool
    # Whether privacy changes of the account arrive as events (False: capped freshness; also
    # for entries stored before this was recorded).
    privacy_events: bool = False

    @cached_property
    def body(self) -> Mapping[str, Any]:
        """The parsed body, parsed on first use only."""
        parsed: Mapping[str, Any] = json.loads(self.raw)
        return parsed

    def age(self, now: float) -> float:
        return max(0.0, now - self.fetched_at)

    def is_fresh(self, now: float, fresh_seconds: float) -> bool:
        return not self.dirty and self.age(now) < fresh_seconds


@dataclass(frozen=True)
class Lookup:
    """What a read needs, fetched in one round trip: is the account connected, and its entry."""

    connected: bool
    entry: CachedSummary | None


_FIELDS = ["body", "fetched_at", "dirty_gen", "clean_gen", "privacy_events"]


def _entry(fields: list[Any]) -> CachedSummary | None:
    body, fetched_at, dirty_gen, clean_gen, privacy_events = fields
    if body is None or fetched_at is None:
        return None
    return CachedSummary(
        raw=body if isinstance(body, bytes) else str(body).encode(),
        fetched_at=float(fetched_at),
        dirty=int(dirty_gen or 0) > int(clean_gen or 0),
        privacy_events=privacy_events in (b"1", "1"),
    )


def _dump(body: Mapping[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"))


def summary_key(provider: str, account_id: str) -> str:
    return keys.account_key("summary", provider, account_id)


def cooldown_key(provider: str, account_id: str) -> str:
    return keys.account_key("summary-cooldown", provider, account_id)


DROP_ATTEMPTS = 20  # optimistic writes of drop_activity before it gives up
MEMO_LIMIT = 4096  # accounts a process remembers lookups for


class SummaryCache:
    """The cache in Redis; :meth:`lookup` (the read path) may also be answered from memory.

    With ``memo_seconds`` > 0, a process answers :meth:`lookup` for an account from what it
    read from Redis less than ``memo_seconds`` ago: a page view then costs no round trip at
    all. Changes this process makes through the cache are seen at once; changes made by other
    processes up to ``memo_seconds`` later (a small fraction of what the answers' own
    ``Cache-Control: max-age`` lets browsers and CDNs keep).
    """

    def __init__(
        self,
        client: redis.Redis,
        clock: Clock,
        *,
        keep_seconds: int = 7 * 86400,
        memo_seconds: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.redis = client
        self.clock = clock
        self.keep_seconds = keep_seconds
        self.memo_seconds = memo_seconds
        self._monotonic = monotonic
        self._memo: dict[tuple[str, str], tuple[float, Lookup]] = {}
        self._memo_lock = threading.Lock()
        self._changes = 0  # writes made through this object (a lookup racing one is not kept)
        self.erasures = 0  # paceline.erasure.ERASURES_KEY as last read
        self._put = client.register_script(_PUT)
        self._invalidate = client.register_script(_INVALIDATE)

    def get(self, provider: str, account_id: str) -> CachedSummary | None:
        return _entry(self.redis.hmget(summary_key(provider, account_id), _FIELDS))

    def lookup(self, provider: str, account_id: str) -> Lookup:
        """Whether the account's credential exists, and its cached summary: one pipelined
        round trip, the whole of Redis's part in a cached read (none when remembered)."""
        memo_key = (provider, account_id)
        now, changes = self._monotonic(), self._changes
        held = self.remembered(provider, account_id, now)
        if held is not None:
            return held
        pipe = self.redis.pipeline(transaction=False)
        TokenStore.queue_exists(pipe, provider, account_id)
        pipe.hmget(summary_key(provider, account_id), _FIELDS)
        pipe.get(ERASURES_KEY)
        connected, fields, erasures = pipe.execute()
        found = Lookup(bool(connected), _entry(fields))
        self._seen_erasures(int(erasures or 0))
        if self.memo_seconds > 0:
            with self._memo_lock:
                # Only hits are remembered, and not one read while this process changed things.
                if found.connected and found.entry is not None and changes == self._changes:
                    if len(self._memo) >= MEMO_LIMIT:
                        self._memo.clear()
                    self._memo[memo_key] = (now + self.memo_seconds, found)
                else:
                    self._memo.pop(memo_key, None)
        return found

    def remembered(self, provider: str, account_id: str, now: float | None = None) -> Lookup | None:
        """The account's lookup as this process remembers it (a connected account with a
        summary, read less than ``memo_seconds`` ago), or None: no round trip, no lock (a
        single read; a lock every cached read of four threads takes becomes a convoy under the
        GIL, see :class:`paceline.metrics.Deferred`)."""
        if self.memo_seconds <= 0:
            return None
        held = self._memo.get((provider, account_id))
        if held is None or (self._monotonic() if now is None else now) >= held[0]:
            return None
        return held[1]

    def _seen_erasures(self, count: int) -> None:
        """An account was erased somewhere since the last lookup: forget every memo."""
        if count != self.erasures:
            self.erasures = count
            with self._memo_lock:
                self._memo.clear()

    def _changed(self, provider: str, account_id: str) -> None:
        """This process changed the account's entry: stop answering from memory."""
        if self.memo_seconds > 0:
            with self._memo_lock:
                self._changes += 1
                self._memo.pop((provider, account_id), None)

    def generation(self, provider: str, account_id: str) -> int:
        """The dirty generation now: a build passes it to :meth:`put` when it finishes."""
        raw = self.redis.hget(summary_key(provider, account_id), "dirty_gen")
        return int(raw) if raw is not None else 0

    def put(
        self,
        provider: str,
        account_id: str,
        body: Mapping[str, Any],
        *,
        fetched_at: float,
        generation: int,
        privacy_events: bool = True,
    ) -> bool:
        """Store a build's result; False if the credential is gone or newer data is there.
        ``privacy_events``: the provider reports the account's privacy changes as events."""
        stored = self._put(
            keys=[summary_key(provider, account_id), keys.credential_key(provider, account_id)],
            args=[
                _dump(body),
                repr(float(fetched_at)),
                generation,
                self.keep_seconds,
                "1" if privacy_events else "0",
            ],
        )
        self._changed(provider, account_id)
        return int(stored) == 1

    def invalidate(self, provider: str, account_id: str) -> bool:
        """Mark the account's summary as changed at the source; False if none is cached."""
        bumped = int(self._invalidate(keys=[summary_key(provider, account_id)])) > 0
        self._changed(provider, account_id)
        return bumped

    def drop_activity(self, provider: str, account_id: str, activity_id: int) -> bool:
        """Remove one activity from the cached body now (deleted or made private)."""
        from paceline.summary import without_activity

        key = summary_key(provider, account_id)
        # Optimistic: retried at once while another writer changes the entry between our read
        # and write; bounded, so a hot entry fails this event (its consumer retries it later)
        # instead of spinning.
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(redis.WatchError),
            stop=tenacity.stop_after_attempt(DROP_ATTEMPTS),
            reraise=True,
        )
        for attempt in retrying:
            with attempt, self.redis.pipeline(transaction=True) as pipe:
                pipe.watch(key)  # type: ignore[no-untyped-call]
                raw = pipe.hget(key, "body")
                if raw is None:
                    pipe.unwatch()
                    return False
                body = json.loads(raw)
                trimmed = without_activity(body, activity_id)
                if trimmed == body:
                    pipe.unwatch()
                    return False
                pipe.multi()
                pipe.hset(key, "body", json.dumps(trimmed, separators=(",", ":"), sort_keys=True))
                pipe.execute()
        self._changed(provider, account_id)
        return True

    # --- failed builds -------------------------------------------------------------------------
    def set_cooldown(self, provider: str, account_id: str, seconds: float) -> None:
        """No new build for ``seconds`` (the provider just failed us)."""
        until = self.clock.now() + seconds
        self.redis.set(
            cooldown_key(provider, account_id), repr(until), px=max(1, int(seconds * 1000))
        )

    def cooldown_left(self, provider: str, account_id: str) -> float:
        raw = self.redis.get(cooldown_key(provider, account_id))
        if raw is None:
            return 0.0
        return max(0.0, float(raw) - self.clock.now())

    def clear_cooldown(self, provider: str, account_id: str) -> None:
        self.redis.delete(cooldown_key(provider, account_id))

    # --- deletion ------------------------------------------------------------------------------
    def forget(self, provider: str, account_id: str) -> int:
        """Delete everything cached for the account (deauthorization, disconnect)."""
        deleted = self.redis.delete(
            summary_key(provider, account_id), cooldown_key(provider, account_id)
        )
        self._changed(provider, account_id)
        return int(deleted)
