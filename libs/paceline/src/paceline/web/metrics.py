"""``/metrics`` done right under gunicorn, on its own port, and request timing by route template.

``/metrics`` is answered only on ``PACELINE_METRICS_PORT`` (a second gunicorn bind, see
:mod:`paceline.web.gunicorn`; the port is told apart by :class:`paceline.web.edge.Edge`), which
the chart's ServiceMonitor scrapes and the ingress never routes; on the service port it answers
404, with or without the path prefix.

With ``PROMETHEUS_MULTIPROC_DIR`` set (the gunicorn configs set it), each scrape aggregates every
worker's files with ``MultiProcessCollector`` into a fresh registry; without it (tests, the
Flask dev server) the default registry is used. Shared state (token counts by state, refresher
status and refresh totals, Redis memory use and limit) is read from Redis at scrape time by
:class:`StoreCollector`, so every replica reports the same truth and nothing goes stale when a
worker dies. It reads aggregates the writers keep (a few small hashes), never every credential.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, abort, json, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from paceline import metrics
from paceline.runstatus import read_run_status, refresh_totals
from paceline.store import TokenStore

log = logging.getLogger(__name__)


class StoreCollector(Collector):
    """Token health and refresher status, read from Redis when Prometheus scrapes."""

    def __init__(self, store: TokenStore, providers: list[str]) -> None:
        self.store = store
        self.providers = providers

    @staticmethod
    def _memory(memory: Any) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "paceline_redis_memory_used_bytes",
            "Memory Redis uses (INFO memory used_memory).",
            value=int(memory.get("used_memory", 0)),
        )
        yield GaugeMetricFamily(
            "paceline_redis_memory_max_bytes",
            "Redis maxmemory (0 = no limit); writes fail with noeviction when reached.",
            value=int(memory.get("maxmemory", 0)),
        )

    def collect(self) -> Iterator[Metric]:
        try:
            states = self.store.state_counts()
            totals = refresh_totals(self.store.redis)
            status = read_run_status(self.store.redis)
        except Exception as error:  # Redis down: export nothing rather than fail the scrape
            log.warning("store metrics unavailable", extra={"error": type(error).__name__})
            return
        tokens = GaugeMetricFamily(
            "paceline_tokens",
            "Connected credentials by provider and state.",
            labels=["provider", "state"],
        )
        for provider in sorted({p for p, _ in states} | set(self.providers)):
            for state in ("active", "needs_reauth", "revoked"):
                tokens.add_metric([provider, state], states.get((provider, state), 0))
        yield tokens
        refresh = CounterMetricFamily(
            "paceline_token_refresh",
            "Token refresh outcomes (all processes, from Redis).",
            labels=["provider", "result"],
        )
        for (provider, result), value in sorted(totals.items()):
            refresh.add_metric([provider, result], value)
        yield refresh
        try:
            memory: Any = self.store.redis.info("memory")
        except Exception as error:  # INFO refused (a managed Redis's ACL): the rest still counts
            log.warning("redis memory metrics unavailable", extra={"error": type(error).__name__})
            memory = None
        if memory is not None:
            yield from self._memory(memory)
        if status is not None:
            yield GaugeMetricFamily(
                "paceline_refresher_last_run_timestamp_seconds",
                "When the last refresher run finished (or started, if still running).",
                value=status.finished_at or status.started_at,
            )
            yield GaugeMetricFamily(
                "paceline_refresher_last_run_failures",
                "Credentials the last refresher run failed to refresh.",
                value=status.failures,
            )
            refused = GaugeMetricFamily(
                "paceline_refresher_application_error",
                "1 when the last refresher run found the provider refusing the application's "
                "client id or secret (the label names the setting to fix), else 0.",
                labels=["provider", "setting"],
            )
            errors = status.application_errors
            for provider in sorted(set(self.providers) | set(errors)):
                refused.add_metric([provider, errors.get(provider, "")], int(provider in errors))
            yield refused
            if status.last_success_at is not None:
                yield GaugeMetricFamily(
                    "paceline_refresher_last_success_timestamp_seconds",
                    "When a refresher run last finished without failures.",
                    value=status.last_success_at,
                )


def metrics_response(extra: list[Collector]) -> Response:
    metrics.PER_REQUEST.flush()  # this worker's pending request updates (see Deferred)
    shared = CollectorRegistry()
    for collector in extra:
        shared.register(collector)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes)  # type: ignore[no-untyped-call]
    else:
        processes = REGISTRY
    body = generate_latest(processes) + generate_latest(shared)
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestTimer:
    """Times requests by route template (bounded labels: never the raw path), as
    :class:`paceline.web.edge.Edge` reports them. The labelled children are kept in a dict:
    the label set is bounded (routes x methods x statuses), and skipping ``labels()`` per
    request shows on the cached read."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._children: dict[tuple[str | None, str, int], Any] = {}

    def observe(self, rule: str | None, method: str, status: int, seconds: float) -> None:
        """``rule``: the matched route's template (None: no route matched). A method outside
        HTTP's usual few counts as ``other``: a client may send any token there, and each would
        be a series of its own."""
        key = (rule, method if method in METHODS else "other", status)
        child = self._children.get(key)
        if child is None:
            child = metrics.HTTP_DURATION.labels(
                self.service, rule or "unmatched", key[1], str(status)
            )
            self._children[key] = child
        metrics.PER_REQUEST.add(child.observe, seconds)


HIDDEN = "paceline.metrics_hidden"


def not_found(start_response: Any) -> list[bytes]:
    """The 404 of a path the metrics port does not serve, as the app's own 404 reads."""
    body = json.dumps({"error": "not_found", "message": "no such resource"}).encode()
    start_response(
        "404 NOT FOUND",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


def init_metrics(app: Flask, service: str, store: TokenStore, providers: list[str]) -> None:
    """Metrics collectors and request timing; a service adds its own scrape-time collectors
    (state it reads from Redis) to ``app.extensions["paceline.collectors"]``. The endpoint and
    the timing are :class:`paceline.web.edge.Edge`'s, put around the app by
    :func:`paceline.web.app.create_base_app`; ``/metrics`` on the service port, which the edge
    marks, is answered 404 here, first of all hooks (so before any authentication, and with
    the app's usual headers)."""
    collectors: list[Collector] = [StoreCollector(store, providers)]
    app.extensions["paceline.collectors"] = collectors
    app.extensions["paceline.timer"] = RequestTimer(service)

    @app.before_request
    def metrics_not_here() -> None:
        if request.environ.get(HIDDEN):
            abort(404)
