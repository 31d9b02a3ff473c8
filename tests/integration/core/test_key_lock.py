"""KeyLock on a real Redis: exclusive, self-expiring, fenced, released only by its holder."""

from __future__ import annotations

import threading
import time

import pytest
import redis
from paceline.keys import lock_key
from paceline.lock import KeyLock, LockBusy

NAME = lock_key("strava", "42")


@pytest.fixture
def locks(redis_client: redis.Redis) -> KeyLock:
    return KeyLock(redis_client, ttl_seconds=5)


def test_lock_is_exclusive(locks: KeyLock) -> None:
    lease = locks.try_acquire(NAME)
    assert lease is not None
    assert locks.try_acquire(NAME) is None
    with pytest.raises(LockBusy):
        locks.acquire(NAME, wait_seconds=0.1)


def test_locks_on_different_credentials_are_independent(locks: KeyLock) -> None:
    assert locks.try_acquire(NAME) is not None
    assert locks.try_acquire(lock_key("strava", "43")) is not None


def test_only_one_of_many_concurrent_contenders_gets_it(redis_client: redis.Redis) -> None:
    start = threading.Barrier(10)
    winners: list[int] = []

    def contend(index: int) -> None:
        own = KeyLock(redis.Redis(connection_pool=redis_client.connection_pool), ttl_seconds=5)
        start.wait()
        if own.try_acquire(NAME) is not None:
            winners.append(index)

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1


def test_expiry_frees_a_lock_whose_holder_vanished(redis_client: redis.Redis) -> None:
    short = KeyLock(redis_client, ttl_seconds=0.1)
    assert short.try_acquire(NAME) is not None
    assert short.try_acquire(NAME) is None
    time.sleep(0.15)
    assert short.try_acquire(NAME) is not None


def test_fence_increases_with_every_acquisition(locks: KeyLock, redis_client: redis.Redis) -> None:
    fences = []
    for _ in range(5):
        lease = locks.acquire(NAME)
        fences.append(lease.fence)
        assert locks.release(lease)
    assert fences == sorted(set(fences)) and fences[0] >= 1
    # Another credential's fence has its own sequence; this one's keeps growing.
    assert locks.acquire(lock_key("strava", "43")).fence == 1
    assert locks.acquire(NAME).fence == fences[-1] + 1


def test_release_only_by_the_holder(redis_client: redis.Redis) -> None:
    short = KeyLock(redis_client, ttl_seconds=0.1)
    stale = short.acquire(NAME)
    time.sleep(0.15)
    current = short.acquire(NAME)
    assert not short.release(stale), "an expired holder must not release the new holder's lock"
    assert short.try_acquire(NAME) is None, "the new holder still has it"
    assert short.release(current)
    assert short.try_acquire(NAME) is not None


def test_extend_keeps_the_lock_only_for_its_holder(redis_client: redis.Redis) -> None:
    short = KeyLock(redis_client, ttl_seconds=0.2)
    lease = short.acquire(NAME)
    assert short.extend(lease, ttl_seconds=5)
    time.sleep(0.3)
    assert short.try_acquire(NAME) is None, "extended past its original expiry"
    assert short.release(lease)
    assert not short.extend(lease)


def test_acquire_waits_for_a_release(locks: KeyLock) -> None:
    lease = locks.acquire(NAME)
    threading.Timer(0.1, locks.release, args=(lease,)).start()
    started = time.monotonic()
    second = locks.acquire(NAME, wait_seconds=2)
    assert second.fence == lease.fence + 1
    assert time.monotonic() - started < 1.5


def test_hold_releases_on_exit_and_on_error(locks: KeyLock) -> None:
    with locks.hold(NAME) as lease:
        assert lease.name == NAME
        assert locks.try_acquire(NAME) is None
    assert locks.try_acquire(lock_key("strava", "42")) is not None
    locks.release(locks.acquire(lock_key("strava", "7")))

    with pytest.raises(RuntimeError), locks.hold(lock_key("strava", "7")):
        raise RuntimeError("refresh blew up")
    assert locks.try_acquire(lock_key("strava", "7")) is not None


def test_hold_raises_busy_when_taken(locks: KeyLock) -> None:
    locks.acquire(NAME)
    with pytest.raises(LockBusy), locks.hold(NAME, wait_seconds=0.05):
        pytest.fail("must not enter")
