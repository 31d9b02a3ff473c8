"""The application factory of activity-api.

One :class:`~activity_api.summary_service.Summaries` (cache, single-flight builds, background
refresh pool) per worker process, and, only with ``PACELINE_WEBHOOK_CONSUMER=true`` (the local
demo; the chart runs ``paceline webhook consume`` as its own Deployment instead), one webhook
consumer thread per worker. Gunicorn loads the app in
each worker after forking (no ``preload_app``), so the threads belong to the worker that
serves; ``worker_exit`` in the gunicorn config stops them.
"""

from __future__ import annotations

from typing import Any

import redis
from flask import Flask
from paceline.cache import SummaryCache
from paceline.runtime import Runtime, service_runtime
from paceline.settings import Settings
from paceline.web.app import create_base_app, edge_of

from activity_api import activities, card, openapi, summary_routes, webhooks, widget
from activity_api.accounts import CredentialsNotRestored
from activity_api.callback import callback_token
from activity_api.consumer import WebhookConsumer
from activity_api.cors import Cors
from activity_api.hot_reads import HotReads
from activity_api.queue_metrics import WebhookQueueCollector
from activity_api.reader import EXTENSION as READER
from activity_api.reader import SummaryReader
from activity_api.rendering import unavailable
from activity_api.summary_service import EXTENSION, Summaries

SERVICE = "activity-api"
CONSUMER = "activity_api.consumer"


def create_app(
    settings: Settings | None = None,
    *,
    runtime: Runtime | None = None,
    start_background: bool | None = None,
) -> Flask:
    """Build the app; tests pass their own ``settings`` or a whole ``runtime``, and
    ``start_background=False`` to drive the webhook consumer themselves."""
    runtime = runtime or service_runtime(SERVICE, settings)
    origins = runtime.settings.cors_origins
    app = create_base_app(__name__, SERVICE, runtime, amend=Cors(origins).amend)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    settings = runtime.settings

    cache = SummaryCache(
        runtime.redis,
        runtime.clock,
        keep_seconds=settings.summary_keep_seconds,
        memo_seconds=settings.summary_memo_seconds,
    )
    summaries = Summaries(runtime, cache)
    consumer = WebhookConsumer(runtime, summaries, cache)
    app.extensions[EXTENSION] = summaries
    reader = SummaryReader(runtime, summaries)
    app.extensions[READER] = reader
    edge_of(app).hot = HotReads(reader)  # a page view served a moment ago skips Flask
    app.extensions[CONSUMER] = consumer
    app.extensions["paceline.collectors"].append(WebhookQueueCollector(runtime.redis))

    for blueprint in (
        summary_routes.bp,
        activities.bp,
        card.bp,
        webhooks.bp,
        openapi.bp,
        widget.bp,
    ):
        app.register_blueprint(blueprint)
    webhooks.rate_limit(app, runtime)
    callback_token(settings)  # registers the path token for redaction before any request

    @app.errorhandler(redis.RedisError)
    def store_unavailable(error: redis.RedisError) -> Any:
        return unavailable("store_unavailable", "the cache is unreachable; try again shortly", 5)

    @app.errorhandler(CredentialsNotRestored)
    def store_restoring(error: CredentialsNotRestored) -> Any:
        return unavailable("store_restoring", str(error), error.retry_after)

    start = settings.webhook_consumer if start_background is None else start_background
    if start and "strava" in runtime.providers:
        consumer.start()
    return app


def stop_background(app: Flask, timeout: float = 5.0) -> None:
    """Stop the consumer thread and the refresh pool (worker exit, tests)."""
    consumer: WebhookConsumer | None = app.extensions.get(CONSUMER)
    if consumer is not None:
        consumer.stop(timeout)
    summaries: Summaries | None = app.extensions.get(EXTENSION)
    if summaries is not None:
        summaries.close()
