"""One summary build at a time per account, across every worker and replica.

The build lock (``paceline:lock:summary:<provider>:<account>`` in Redis) names the one process
that builds; everyone else waits for its result on a Redis pub/sub channel (an event, not a
polling sleep), then reads the cache. What a build ended with is a :class:`BuildOutcome`; it
crosses processes as the text of a :class:`FlightResult` (``built``, or ``<outcome>:<retry
seconds>``), written and read only here.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

import redis
from paceline import keys
from paceline.lock import KeyLock, Lease
from paceline.strava_api import PROVIDER

log = logging.getLogger(__name__)

T = TypeVar("T")


class BuildOutcome(StrEnum):
    """How a build (or an attempt to start one) ended. The values are the ``error`` of the
    503 a reader gets, and the reasons the webhook consumer records."""

    BUILT = "built"
    BUSY = "busy"  # another process holds the build lock
    COOLDOWN = "cooldown"  # a recent failure: no new build until the cooldown ends
    NOT_CONFIGURED = "not_configured"
    RATE_LIMITED = "rate_limited"
    TOKEN_REFRESH_IN_PROGRESS = "token_refresh_in_progress"  # noqa: S105 (a reason, no secret)
    ACCOUNT_UNAVAILABLE = "account_unavailable"
    UPSTREAM_UNAVAILABLE = "upstream_unavailable"
    BUILD_TIMEOUT = "build_timeout"
    SHUTDOWN = "shutdown"
    FAILED = "failed"  # the build crashed


class SummaryUnavailable(Exception):
    """Nothing can be served now; ``retry_after`` seconds is a sensible wait."""

    def __init__(self, reason: BuildOutcome, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after = max(1, math.ceil(retry_after))


@dataclass(frozen=True)
class FlightResult:
    """What the builder publishes to the waiters when it is done."""

    outcome: BuildOutcome
    retry_after: float | None = None

    def encode(self) -> str:
        if self.retry_after is None:
            return self.outcome.value
        return f"{self.outcome.value}:{self.retry_after:g}"

    @classmethod
    def decode(cls, data: bytes | str) -> FlightResult:
        text = data.decode() if isinstance(data, bytes) else data
        name, _, retry = text.partition(":")
        try:
            outcome = BuildOutcome(name)
        except ValueError:  # a newer or broken publisher: a failure, retried as usual
            outcome = BuildOutcome.FAILED
        try:
            return cls(outcome, float(retry) if retry else None)
        except ValueError:
            return cls(outcome)


def build_lock_name(account_id: str) -> str:
    return keys.account_key("lock:summary", PROVIDER, account_id)


def built_channel(account_id: str) -> str:
    return keys.account_key("summary-built", PROVIDER, account_id)


class SingleFlight:
    def __init__(self, client: redis.Redis, ttl_seconds: float) -> None:
        self.redis = client
        self.locks = KeyLock(client, ttl_seconds=ttl_seconds)

    def lead(self, account_id: str) -> Lease | None:
        """The build lock if nobody holds it: the caller builds, then :meth:`land`."""
        return self.locks.try_acquire(build_lock_name(account_id))

    def land(self, account_id: str, lease: Lease, result: FlightResult) -> None:
        """Release the lock and tell the waiters how the build ended."""
        try:
            self.locks.release(lease)
            self.redis.publish(built_channel(account_id), result.encode())
        except Exception:  # the lock expires by itself; waiters time out
            log.warning("could not release a summary build lock", exc_info=True)

    def abandon(self, lease: Lease) -> None:
        """Release the lock of a build that was not needed after all (nobody waits on it)."""
        self.locks.release(lease)

    def wait(
        self,
        account_id: str,
        timeout: float,
        read: Callable[[], T | None],
        check: Callable[[], None],
        build: Callable[[Lease, float], T],
        retry_seconds: float,
    ) -> T:
        """Someone else is building: wait for its message, then ``read()`` what it stored.
        ``check()`` raises :class:`SummaryUnavailable` when no build may run (cooldown); when
        the builder gave up without a word, ``build(lease, seconds_left)`` builds here."""
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        try:
            pubsub.subscribe(built_channel(account_id))
            deadline = time.monotonic() + timeout
            while True:
                # Checked after subscribing, so a build finishing in between is not missed.
                found = read()
                if found is not None:
                    return found
                check()
                if not self.redis.exists(build_lock_name(account_id)):
                    # The builder gave up without storing (and without a cooldown): try once.
                    lease = self.lead(account_id)
                    if lease is not None:
                        return build(lease, max(0.5, deadline - time.monotonic()))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SummaryUnavailable(
                        BuildOutcome.BUILD_TIMEOUT,
                        "the summary is being built; try again shortly",
                        2,
                    )
                message = pubsub.get_message(timeout=min(left, 1.0))
                if message is None or message.get("type") != "message":
                    continue
                result = FlightResult.decode(message["data"])
                if result.outcome is BuildOutcome.BUILT:
                    continue
                found = read()
                if found is not None:
                    return found
                raise SummaryUnavailable(
                    result.outcome,
                    "the summary could not be built; try again later",
                    result.retry_after or retry_seconds,
                )
        finally:
            pubsub.close()
