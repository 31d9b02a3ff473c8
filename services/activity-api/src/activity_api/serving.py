"""What the read routes share: a summary from the cache, or a 503 that says when to retry.

Upstream trouble and a Redis outage both end here as a 503 with ``Retry-After`` and a JSON
error, never as a 500; during a Redis outage a summary this worker served recently is served
instead, marked stale (:mod:`activity_api.last_good`).
"""

from __future__ import annotations

import logging

import redis
from flask import Response
from paceline.cache import Lookup
from paceline.web.app import runtime_of

from activity_api.accounts import ATHLETE_ID, is_connected
from activity_api.http_cache import unavailable
from activity_api.last_good import last_good_of
from activity_api.summaries import Served, SummaryUnavailable, summaries_of

log = logging.getLogger(__name__)

STORE_RETRY_SECONDS = 5


class FromMemory(Lookup):
    """A lookup answered from this worker's memory because Redis could not be asked."""


def connected_lookup(account_id: str) -> Lookup | None:
    """The account's :meth:`~activity_api.summaries.Summaries.lookup` if it is connected, else
    None. A connected account costs one round trip; one not found there gets the full check of
    :func:`~activity_api.accounts.is_connected` before it is called unknown. With Redis
    unreachable, an account this worker served recently is taken as connected, with the
    summary it was served."""
    if not ATHLETE_ID.match(account_id):
        return None
    summaries = summaries_of()
    try:
        found = summaries.lookup(account_id)
    except redis.RedisError:
        remembered = last_good_of().recall(account_id)
        if remembered is None:
            raise
        return FromMemory(connected=True, entry=remembered)
    if found.connected:
        return found
    if not is_connected(runtime_of(), account_id):
        last_good_of().forget(account_id)
        return None
    found = summaries.lookup(account_id)
    return found if found.connected else None


def read_or_unavailable(account_id: str, found: Lookup | None = None) -> Served | Response:
    if isinstance(found, FromMemory) and found.entry is not None:
        return Served(found.entry, stale=True)  # Redis is down: not known to be current
    try:
        served = summaries_of().read(account_id, found)
    except SummaryUnavailable as error:
        return unavailable(error.reason, str(error), error.retry_after)
    except redis.RedisError as error:
        log.warning("store unavailable", extra={"error": type(error).__name__})
        remembered = last_good_of().recall(account_id)
        if remembered is not None:
            return Served(remembered, stale=True)
        return unavailable(
            "store_unavailable", "the cache is unreachable; try again shortly", STORE_RETRY_SECONDS
        )
    last_good_of().remember(account_id, served.entry)
    return served
