"""One consumer's side of the webhook stream: read, reclaim, acknowledge, prune.

Every consumer reads in the one group (:data:`~activity_api.events.GROUP`), so each event goes
to one of them; an event is acknowledged once handled. Events a dead consumer left pending are
reclaimed (``XAUTOCLAIM``) after ``webhook_retry_idle_seconds``; one delivered more than
``webhook_max_deliveries`` times is dropped and counted. A group that disappears (Redis lost
its data) is created again on the next round.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import redis
from paceline.runtime import Runtime

from activity_api.events import GROUP, STREAM, WebhookEvent, as_text, ensure_group
from activity_api.webhook_outcomes import INVALID, Outcome, OutcomeType, record_outcome

log = logging.getLogger(__name__)

Entry = tuple[Any, Mapping[Any, Any]]  # a stream entry's id and fields


class EventStream:
    def __init__(self, runtime: Runtime, name: str, *, batch: int) -> None:
        self.redis = runtime.redis
        self.name = name
        self.batch = batch
        self.retry_idle_ms = int(runtime.settings.webhook_retry_idle_seconds * 1000)
        self.max_deliveries = runtime.settings.webhook_max_deliveries
        self._group_ready = False
        self._last_prune = 0.0

    @property
    def group_ready(self) -> bool:
        """False after the group was found missing: it is created again on the next read."""
        return self._group_ready

    def lost_group(self) -> None:
        """Create the group again before the next read (after a Redis error)."""
        self._group_ready = False

    def read(self, block_ms: int | None) -> list[Entry]:
        """New events for this consumer, up to a batch, waiting up to ``block_ms``."""
        self._ensure_group()
        try:
            answer: Any = self.redis.xreadgroup(
                GROUP, self.name, {STREAM: ">"}, count=self.batch, block=block_ms
            )
        except redis.ResponseError as error:
            return self._missing_group(error)
        return [entry for _stream, messages in answer or [] for entry in messages]

    def reclaim(self) -> list[Entry]:
        """Events other consumers left pending too long, to handle again; those trimmed from
        the stream meanwhile, or delivered too often, are acknowledged instead."""
        self._ensure_group()
        try:
            result = self.redis.xautoclaim(
                STREAM, GROUP, self.name, self.retry_idle_ms, start_id="0-0", count=self.batch
            )
        except redis.ResponseError as error:
            return self._missing_group(error)
        entries = []
        for entry_id, fields in result[1] if len(result) > 1 else []:
            if fields is None:  # trimmed from the stream meanwhile
                self.ack(entry_id)
            elif self._deliveries(entry_id) > self.max_deliveries:
                self.ack(entry_id)
                record_outcome(self.redis, _kind(fields), Outcome.DROPPED)
                log.error(
                    "webhook event dropped after repeated failures",
                    extra={"entry": as_text(entry_id)},
                )
            else:
                entries.append((entry_id, fields))
        return entries

    def ack(self, entry_id: Any) -> None:
        self.redis.xack(STREAM, GROUP, entry_id)

    def prune_consumers(self, every_seconds: float = 600.0, idle_ms: int = 86_400_000) -> None:
        """Remove consumers of dead workers that hold nothing (names are per process)."""
        now = time.monotonic()
        if now - self._last_prune < every_seconds:
            return
        self._last_prune = now
        for consumer in self.redis.xinfo_consumers(STREAM, GROUP):
            name = as_text(consumer["name"])
            if name != self.name and consumer["pending"] == 0 and consumer["idle"] > idle_ms:
                self.redis.xgroup_delconsumer(STREAM, GROUP, name)

    def _ensure_group(self) -> None:
        if not self._group_ready:
            ensure_group(self.redis)
            self._group_ready = True

    def _missing_group(self, error: redis.ResponseError) -> list[Entry]:
        if "NOGROUP" not in str(error):
            raise error
        self._group_ready = False
        return []

    def _deliveries(self, entry_id: Any) -> int:
        info = self.redis.xpending_range(STREAM, GROUP, min=entry_id, max=entry_id, count=1)
        return int(info[0]["times_delivered"]) if info else 0


def _kind(fields: Mapping[Any, Any]) -> OutcomeType:
    try:
        return WebhookEvent.from_fields(fields).kind
    except (KeyError, ValueError):
        return INVALID
