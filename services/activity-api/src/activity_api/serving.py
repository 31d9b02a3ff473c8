"""What the read routes share: a summary from the cache, or a 503 that says when to retry.

Upstream trouble and a Redis outage both end here as a 503 with ``Retry-After`` and a JSON
error, never as a 500.
"""

from __future__ import annotations

import logging

import redis
from flask import Response

from activity_api.http_cache import unavailable
from activity_api.summaries import Served, SummaryUnavailable, summaries_of

log = logging.getLogger(__name__)

STORE_RETRY_SECONDS = 5


def read_or_unavailable(account_id: str) -> Served | Response:
    try:
        return summaries_of().read(account_id)
    except SummaryUnavailable as error:
        return unavailable(error.reason, str(error), error.retry_after)
    except redis.RedisError as error:
        log.warning("store unavailable", extra={"error": type(error).__name__})
        return unavailable(
            "store_unavailable", "the cache is unreachable; try again shortly", STORE_RETRY_SECONDS
        )
