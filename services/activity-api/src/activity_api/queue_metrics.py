"""Webhook queue depth, read from Redis when Prometheus scrapes (every replica agrees)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import redis
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from activity_api.events import GROUP, STREAM

log = logging.getLogger(__name__)


class WebhookQueueCollector(Collector):
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def collect(self) -> Iterator[Metric]:
        try:
            length = int(self.redis.xlen(STREAM))
            pending = 0
            if length:
                try:
                    pending = int(self.redis.xpending(STREAM, GROUP)["pending"])
                except redis.ResponseError:  # no group yet
                    pending = 0
        except redis.RedisError as error:
            log.warning("webhook queue metrics unavailable", extra={"error": type(error).__name__})
            return
        yield GaugeMetricFamily(
            "paceline_webhook_queue_length",
            "Events in the webhook stream (processed ones included, trimmed to a bound).",
            value=length,
        )
        yield GaugeMetricFamily(
            "paceline_webhook_queue_pending",
            "Webhook events delivered to a consumer and not yet acknowledged.",
            value=pending,
        )
