"""SummaryCache in a real Redis: invalidation generations, deletion races, activity drops."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
import redis
from paceline import keys
from paceline.cache import DROP_ATTEMPTS, SummaryCache, summary_key
from paceline.clock import ManualClock

BODY = {"athlete": {"id": 1}, "activities": [{"id": 2}, {"id": 1}], "totals": {}, "goals": []}


def cache_with_credential(client: redis.Redis, clock: ManualClock) -> SummaryCache:
    client.hset(keys.credential_key("strava", "1"), "record", "{}")
    return SummaryCache(client, clock)


def test_an_event_during_a_build_keeps_the_entry_dirty(redis_client: redis.Redis) -> None:
    clock = ManualClock()
    cache = cache_with_credential(redis_client, clock)
    cache.put("strava", "1", BODY, fetched_at=clock.now(), generation=0)
    assert cache.invalidate("strava", "1")

    started_from = cache.generation("strava", "1")  # a build starts after the first event
    assert cache.invalidate("strava", "1")  # a second event arrives while it runs
    cache.put("strava", "1", BODY, fetched_at=clock.now() + 1, generation=started_from)
    entry = cache.get("strava", "1")
    assert entry is not None and entry.dirty  # the second change is not lost

    cache.put(
        "strava", "1", BODY, fetched_at=clock.now() + 2, generation=cache.generation("strava", "1")
    )
    entry = cache.get("strava", "1")
    assert entry is not None and not entry.dirty


def test_invalidating_nothing_cached_does_nothing(redis_client: redis.Redis) -> None:
    cache = cache_with_credential(redis_client, ManualClock())
    assert not cache.invalidate("strava", "1")
    assert cache.get("strava", "1") is None


def test_a_build_cannot_write_back_a_deleted_accounts_data(redis_client: redis.Redis) -> None:
    clock = ManualClock()
    cache = cache_with_credential(redis_client, clock)
    redis_client.delete(keys.credential_key("strava", "1"))  # deauthorized mid-build
    assert not cache.put("strava", "1", BODY, fetched_at=clock.now(), generation=0)
    assert cache.get("strava", "1") is None


def test_an_older_build_never_overwrites_a_newer_one(redis_client: redis.Redis) -> None:
    clock = ManualClock()
    cache = cache_with_credential(redis_client, clock)
    cache.put("strava", "1", {**BODY, "goals": ["new"]}, fetched_at=clock.now(), generation=0)
    assert not cache.put("strava", "1", BODY, fetched_at=clock.now() - 5, generation=0)
    entry = cache.get("strava", "1")
    assert entry is not None and entry.body["goals"] == ["new"]


def test_drop_activity_and_forget(redis_client: redis.Redis) -> None:
    clock = ManualClock()
    cache = cache_with_credential(redis_client, clock)
    cache.put("strava", "1", BODY, fetched_at=clock.now(), generation=0)
    assert cache.drop_activity("strava", "1", 2)
    entry = cache.get("strava", "1")
    assert entry is not None and [a["id"] for a in entry.body["activities"]] == [1]
    assert not cache.drop_activity("strava", "1", 99)
    cache.set_cooldown("strava", "1", 30)
    assert cache.cooldown_left("strava", "1") == 30
    clock.advance(10)
    assert cache.cooldown_left("strava", "1") == 20
    cache.forget("strava", "1")
    assert cache.get("strava", "1") is None
    assert cache.cooldown_left("strava", "1") == 0


def test_drop_activity_rides_out_a_concurrent_write_and_gives_up_on_an_endless_one(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer changing the entry between our read and our write makes us read again
    (its change kept); one that never stops makes the drop fail after DROP_ATTEMPTS, with the
    entry as the other writer left it, instead of spinning."""
    import paceline.summary

    clock = ManualClock()
    cache = cache_with_credential(redis_client, clock)
    cache.put("strava", "1", BODY, fetched_at=clock.now(), generation=0)
    real = paceline.summary.without_activity
    writes: list[int] = []

    def racing(body: Any, activity_id: int, *, limit: int) -> Any:
        if len(writes) < limit:  # the other writer lands after our WATCH and read
            writes.append(1)
            redis_client.hincrby(summary_key("strava", "1"), "dirty_gen", 1)
        return real(body, activity_id)

    monkeypatch.setattr(paceline.summary, "without_activity", partial(racing, limit=1))
    assert cache.drop_activity("strava", "1", 2)
    entry = cache.get("strava", "1")
    assert entry is not None and [a["id"] for a in entry.body["activities"]] == [1]
    assert entry.dirty  # the other writer's change is there too

    cache.put("strava", "1", BODY, fetched_at=clock.now() + 1, generation=1)
    writes.clear()
    monkeypatch.setattr(paceline.summary, "without_activity", partial(racing, limit=10**6))
    with pytest.raises(redis.WatchError):
        cache.drop_activity("strava", "1", 2)
    assert len(writes) == DROP_ATTEMPTS
    entry = cache.get("strava", "1")
    assert entry is not None and [a["id"] for a in entry.body["activities"]] == [2, 1]  # untouched


def test_freshness(redis_client: redis.Redis) -> None:
    clock = ManualClock()
    cache = cache_with_credential(redis_client, clock)
    cache.put("strava", "1", BODY, fetched_at=clock.now(), generation=0)
    entry = cache.get("strava", "1")
    assert entry is not None
    assert entry.is_fresh(clock.now() + 899, 900)
    assert not entry.is_fresh(clock.now() + 900, 900)


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_lookups_are_remembered_briefly_and_own_changes_seen_at_once(
    redis_client: redis.Redis,
) -> None:
    ticks = Ticks()
    clock = ManualClock()
    redis_client.hset(keys.credential_key("strava", "1"), "record", "{}")
    cache = SummaryCache(redis_client, clock, memo_seconds=1.0, monotonic=ticks)
    assert cache.lookup("strava", "1").entry is None  # a miss is never remembered
    cache.put("strava", "1", BODY, fetched_at=clock.now(), generation=0)
    first = cache.lookup("strava", "1")
    assert first.connected and first.entry is not None

    # Another process changes Redis: this one answers from memory for up to memo_seconds.
    other = SummaryCache(redis_client, clock)
    other.invalidate("strava", "1")
    assert cache.lookup("strava", "1") is first
    ticks.now += 1.01
    assert cache.lookup("strava", "1").entry.dirty  # type: ignore[union-attr]

    # Its own changes it sees at once.
    cache.put("strava", "1", BODY, fetched_at=clock.now() + 1, generation=1)
    assert not cache.lookup("strava", "1").entry.dirty  # type: ignore[union-attr]
    cache.forget("strava", "1")
    assert cache.lookup("strava", "1").entry is None
