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

from prometheus_client import Counter, Gauge, Histogram

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
