"""Webhook queue depth and the consumer's outcomes, read from Redis when Prometheus scrapes
(every replica agrees; the consumer may be its own process that is never scraped)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from activity_api.dirty_accounts import DUE
from activity_api.events import GROUP, STREAM
from activity_api.webhook_outcomes import outcome_totals

log = logging.getLogger(__name__)


class WebhookQueueCollector(Collector):
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def collect(self) -> Iterator[Metric]:
        try:
            length = int(self.redis.xlen(STREAM))
            due = int(self.redis.zcard(DUE))
            outcomes = outcome_totals(self.redis)
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
        yield GaugeMetricFamily(
            "paceline_webhook_accounts_due",
            "Accounts with coalesced webhook work waiting (a rebuild or a grant check).",
            value=due,
        )
        family = CounterMetricFamily(
            "paceline_webhook_outcomes",
            "What the webhook consumer did with events, by type and result (from Redis).",
            labels=["type", "result"],
        )
        for (kind, result), value in sorted(outcomes.items()):
            family.add_metric([kind, result], value)
        yield family
