"""Every Prometheus metric paceline exports, defined once.

Names follow ``paceline_*`` with ``_total`` counters, ``_seconds`` durations and
``_timestamp_seconds`` timestamps. Labels are bounded: provider names, endpoint templates,
status classes, fixed enums. Never an account id, a URL with ids in it or a token.

Under gunicorn the values live in ``PROMETHEUS_MULTIPROC_DIR`` (see :mod:`paceline.web.metrics`),
so this module must be imported after that variable is set; the gunicorn configs do that first.
Gauges that describe shared state (token counts, refresher status) are not kept in processes at
all: :class:`paceline.web.metrics.StoreCollector` reads them from Redis at scrape time.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram


class Deferred:
    """Updates made on every request, applied in batches by one thread at a time.

    prometheus_client's multiprocess values share one lock per process. Taken by each of a
    worker's four threads on every request (the request timing, the cache hit count), it
    became a convoy under the GIL: measured in process with four threads, one acquisition in
    five waited, each wait a context switch, and a cached read cost twice its single-thread
    CPU. A request now only appends to a deque (atomic); whichever thread finds the batch due
    (every ``interval`` seconds) and nobody else applying it, applies it. A scrape (and a
    worker's exit) applies what is pending first, so at most ``interval`` seconds of another
    worker's requests are not yet in a scrape.
    """

    def __init__(
        self, interval: float = 0.5, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self._monotonic = monotonic
        self._pending: deque[tuple[Callable[[float], None], float]] = deque()
        self._applying = threading.Lock()
        self._due = 0.0

    def add(self, apply: Callable[[float], None], amount: float = 1.0) -> None:
        self._pending.append((apply, amount))
        if self._monotonic() >= self._due and self._applying.acquire(blocking=False):
            try:
                self._apply()
            finally:
                self._applying.release()

    def flush(self) -> None:
        """Apply everything pending now (before a scrape, at exit, in tests)."""
        with self._applying:
            self._apply()

    def _apply(self) -> None:
        self._due = self._monotonic() + self.interval
        pending = self._pending
        while True:
            try:
                apply, amount = pending.popleft()
            except IndexError:
                return
            apply(amount)


# The one batch of every per-request update in this process.
PER_REQUEST = Deferred()

UPSTREAM_REQUESTS = Counter(
    "paceline_upstream_requests_total",
    "Requests to a provider, by endpoint template and HTTP status (or 'error').",
    ["provider", "endpoint", "status"],
)
UPSTREAM_DURATION = Histogram(
    "paceline_upstream_request_duration_seconds",
    "Latency of requests to a provider.",
    ["provider", "endpoint"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
RATELIMIT_USAGE = Gauge(
    "paceline_ratelimit_usage",
    "Requests used in the current rate-limit window, as last reported by the provider.",
    ["provider", "bucket", "window"],
    multiprocess_mode="mostrecent",
)
RATELIMIT_LIMIT = Gauge(
    "paceline_ratelimit_limit",
    "Request limit of the rate-limit window, as last reported by the provider.",
    ["provider", "bucket", "window"],
    multiprocess_mode="mostrecent",
)
GOVERNOR_DECISIONS = Counter(
    "paceline_governor_decisions_total",
    "Rate governor decisions by priority and result (allowed|denied).",
    ["provider", "priority", "result"],
)
CACHE_REQUESTS = Counter(
    "paceline_cache_requests_total",
    "Summary cache lookups by result (hit|stale|miss).",
    ["result"],
)
HOT_PATH_ERRORS = Counter(
    "paceline_hot_path_errors_total",
    "Requests a service's hot path failed on and left to the app (paceline.web.edge); the app "
    "answered them, so only speed was lost.",
    ["service"],
)
HTTP_DURATION = Histogram(
    "paceline_http_request_duration_seconds",
    "Latency of requests served, by route template.",
    ["service", "route", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
# paceline_token_refresh_total{provider,result} is not defined here: refreshes happen in the
# refresher (a CronJob) and in activity-api, so the totals live in Redis (paceline.runstatus) and
# StoreCollector exports them. A second, in-process definition would put two TYPE lines for the
# same name in one scrape, which Prometheus rejects.
LOGIN_FAILURES = Counter(
    "paceline_gateway_login_failures_total",
    "Admin logins refused by auth-gateway, by reason (bad_credentials|throttled|"
    "proxy_unproven|not_admin).",
    ["reason"],
)
WEBHOOK_EVENTS = Counter(
    "paceline_webhook_events_total",
    "Webhook events by type and result.",
    ["type", "result"],
)
MIRROR_WRITES = Counter(
    "paceline_mirror_writes_total",
    "Writes to the durable credential mirror by result (written|skipped|failed).",
    ["backend", "result"],
)
SUMMARY_BUILDS = Counter(
    "paceline_summary_builds_total",
    "Summary builds by trigger (miss|background|webhook) and result "
    "(built|failed|denied|unavailable|busy).",
    ["provider", "trigger", "result"],
)
SUMMARY_BUILD_DURATION = Histogram(
    "paceline_summary_build_duration_seconds",
    "Time to build one summary from the provider's API (all its calls).",
    ["provider"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
# Read from Redis at scrape time by activity-api (see activity_api.queue_metrics):
#   paceline_webhook_queue_length   events in the webhook stream (processed ones included,
#                                   trimmed to a bound)
#   paceline_webhook_queue_pending  events delivered to a consumer and not yet acknowledged
