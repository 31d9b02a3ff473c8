"""What became of webhook events, and why work waits.

The outcomes are counted in Redis (:data:`OUTCOMES`, a hash of ``<type>|<result>`` counts),
since the consumer may be its own process that is never scraped; activity-api exports them as
``paceline_webhook_outcomes_total{type, result}`` (:mod:`activity_api.queue_metrics`). Both
labels come from bounded sets: an :class:`~activity_api.events.EventKind` (or ``invalid``) and
an :class:`Outcome`.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Literal

import redis
from paceline import keys
from paceline.strava_api import PROVIDER

from activity_api.events import EventKind, decoded

OUTCOMES = f"{keys.NAMESPACE}:webhook-outcomes:{PROVIDER}"
# The type label of an entry that is not an event at all.
INVALID: Literal["invalid"] = "invalid"
OutcomeType = EventKind | Literal["invalid"]


class Outcome(StrEnum):
    """What became of an event; the value is the stored count's and the metric's label."""

    MARKED = "marked"  # its account's work is scheduled: counted when that work ends, not now
    REFRESHED = "refreshed"
    DEAUTHORIZED = "deauthorized"
    REJECTED_UNCONFIRMED = "rejected_unconfirmed"  # a deauthorization the provider denies
    REJECTED = "rejected"  # another subscription's event
    IGNORED = "ignored"  # an athlete with no credential
    NOT_CACHED = "not_cached"  # a summary nobody asked for
    NOT_SERVED = "not_served"  # an activity the cached summary does not show
    RETRY = "retry"
    DROPPED = "dropped"  # not an event, or it failed too often


class RetryReason(StrEnum):
    """Why an event or an account's work waits (a log field)."""

    CREDENTIALS_NOT_RESTORED = "credentials_not_restored"
    GRANT_CHECK_FAILED = "grant_check_failed"
    MIRROR_FAILED = "mirror_failed"
    BUILD_RUNNING = "build_running"
    SUMMARY_NOT_BUILT = "summary_not_built"


class RetryLater(Exception):
    """The work could not be completed now; try again in ``seconds``. ``detail`` is for the
    log (an error's text, the summary's outcome)."""

    def __init__(
        self, reason: RetryReason, seconds: float = 5.0, *, detail: str = "", rebuilt: bool = True
    ) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.seconds = max(1.0, seconds)
        self.rebuilt = rebuilt  # False: no build was attempted, the rebuild slot is unused


def record_outcome(client: redis.Redis, kind: OutcomeType, result: Outcome, count: int = 1) -> None:
    """Count ``count`` events of ``kind`` as ``result``."""
    if result is Outcome.MARKED:
        raise ValueError("marked events are counted when their account's work ends")
    client.hincrby(OUTCOMES, f"{kind}|{result}", count)


def outcome_totals(client: redis.Redis) -> dict[tuple[str, str], int]:
    raw: Mapping[bytes, bytes] = client.hgetall(OUTCOMES)  # type: ignore[assignment]
    totals = {}
    for name, value in decoded(raw).items():
        kind, _, result = name.partition("|")
        totals[(kind, result)] = int(value)
    return totals
