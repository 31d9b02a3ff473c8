"""A per-key lock in Redis, with expiry and fencing tokens.

Expiry means a crashed holder cannot block a credential forever. Because an expired holder may
still be running, every acquisition also gets a *fence*: a number that only grows. Writes that
carry a fence (see :meth:`TokenStore.save`) are refused when a later holder has written, so a
paused process that wakes after its lock expired cannot overwrite a newer refresh.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis
import tenacity

from paceline.keys import NAMESPACE

_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


class LockBusy(Exception):
    """Another holder has the lock."""


@dataclass(frozen=True)
class Lease:
    name: str
    token: str
    fence: int


class KeyLock:
    """Locks named by key, e.g. ``paceline:lock:strava:42``."""

    def __init__(self, client: redis.Redis, ttl_seconds: float = 60.0) -> None:
        self._redis = client
        self._ttl_ms = int(ttl_seconds * 1000)
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)
        self._extend = client.register_script(_EXTEND)

    @staticmethod
    def _fence_key(name: str) -> str:
        return f"{NAMESPACE}:fence:{name.removeprefix(NAMESPACE + ':')}"

    def try_acquire(self, name: str) -> Lease | None:
        token = secrets.token_hex(16)
        fence = int(self._acquire(keys=[name, self._fence_key(name)], args=[token, self._ttl_ms]))
        return Lease(name, token, fence) if fence else None

    def acquire(self, name: str, wait_seconds: float = 0.0, poll: float = 0.05) -> Lease:
        """Acquire, waiting up to ``wait_seconds``; raise :class:`LockBusy` otherwise."""
        try:
            lease: Lease | None = tenacity.Retrying(
                retry=tenacity.retry_if_result(lambda lease: lease is None),
                stop=tenacity.stop_after_delay(wait_seconds),
                wait=tenacity.wait_fixed(poll),
            )(self.try_acquire, name)
        except tenacity.RetryError:
            raise LockBusy(name) from None
        assert lease is not None
        return lease

    def release(self, lease: Lease) -> bool:
        """Release if still ours; False means it had expired (and maybe been taken over)."""
        return bool(self._release(keys=[lease.name], args=[lease.token]))

    def extend(self, lease: Lease, ttl_seconds: float | None = None) -> bool:
        ttl_ms = self._ttl_ms if ttl_seconds is None else int(ttl_seconds * 1000)
        return bool(self._extend(keys=[lease.name], args=[lease.token, ttl_ms]))

    @contextmanager
    def hold(self, name: str, wait_seconds: float = 0.0) -> Iterator[Lease]:
        lease = self.acquire(name, wait_seconds)
        try:
            yield lease
        finally:
            self.release(lease)
