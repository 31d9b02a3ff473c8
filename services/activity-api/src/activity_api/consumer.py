"""The webhook consumer: reads the event stream, at-least-once, in one consumer group.

``paceline webhook consume`` runs it as its own process; or it runs as a thread per API
worker. A round reclaims events left pending by a dead consumer (``XAUTOCLAIM`` after
``webhook_retry_idle_seconds``; an event delivered more than ``webhook_max_deliveries``
times is dropped), reads new ones until the stream is drained, hands each to
:class:`~activity_api.event_intake.EventIntake` (which only marks its account dirty) and
acknowledges it, then works through the due accounts (:class:`~activity_api.account_work.
AccountWork`, where upstream calls happen). What became of events is counted in Redis
(:mod:`activity_api.webhook_outcomes`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import redis
from paceline.cache import SummaryCache
from paceline.runtime import Runtime

from activity_api.account_work import AccountWork
from activity_api.dirty_accounts import DirtyAccounts
from activity_api.event_intake import EventIntake
from activity_api.event_stream import Entry, EventStream
from activity_api.events import WebhookEvent, as_text
from activity_api.summary_service import Summaries
from activity_api.webhook_outcomes import INVALID, Outcome, RetryLater, record_outcome

log = logging.getLogger(__name__)


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class WebhookConsumer:
    """One consumer of the group; :meth:`start` runs it on a daemon thread, :meth:`run` in
    the calling thread (``paceline webhook consume``)."""

    def __init__(
        self,
        runtime: Runtime,
        summaries: Summaries,
        cache: SummaryCache,
        *,
        name: str | None = None,
        block_ms: int = 2000,
        batch: int = 100,
    ) -> None:
        self.runtime = runtime
        self.redis = runtime.redis
        self.name = name or consumer_name()
        self.block_ms = block_ms
        self.stream = EventStream(runtime, self.name, batch=batch)
        self.accounts = DirtyAccounts(self.redis)
        self.intake = EventIntake(runtime, cache, self.accounts, summaries.builder.year_ledger)
        self.account_work = AccountWork(runtime, summaries, cache, self.accounts)
        self._stop = threading.Event()
        self._idle = threading.Event()  # clear while events are in hand (see _busy)
        self._idle.set()
        self._thread: threading.Thread | None = None
        self.heartbeat: Callable[[], None] | None = None  # called every round (probes)

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="webhook-consumer", daemon=True)
        self._thread.start()

    def run(self) -> None:
        """Consume until :meth:`stop` (the standalone process: SIGTERM calls stop)."""
        self._loop()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop taking events and wait (up to ``timeout``) for the ones in hand to be handled.

        An idle thread, blocked in its read, is not waited for: that read can last
        ``block_ms``, and a gunicorn worker exiting (``max_requests``) would sit out every
        second of it with no replacement forked yet. Whatever that read still returns is
        left unacknowledged, and another consumer reclaims it.
        """
        self._stop.set()
        self._idle.wait(timeout)

    def request_stop(self) -> None:
        """Ask the loop to end after the round in hand, without waiting (signal handlers)."""
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self.heartbeat is not None:
                self.heartbeat()
            try:
                self.run_once(self.block_ms)
            except redis.RedisError as error:
                self.stream.lost_group()
                log.warning("webhook consumer: redis error", extra={"error": type(error).__name__})
                self._stop.wait(1.0)
            except Exception:
                log.exception("webhook consumer crashed; continuing")
                self._stop.wait(1.0)

    # --- one round -----------------------------------------------------------------------------
    def run_once(self, block_ms: int | None = None) -> int:
        """Reclaim idle pending events, read new ones (blocking up to ``block_ms``, less when
        an account is due sooner) until the stream is drained, mark their accounts dirty,
        then work through the accounts that are due. Returns how many events were handled."""
        with self._busy():
            handled = self._handle_all(self.stream.reclaim())
        block = self._block_for(block_ms)
        while True:
            entries = self.stream.read(block)
            if not self.stream.group_ready:
                return handled
            if self._stop.is_set():
                return handled  # stopping: what was just read stays pending for others
            with self._busy():
                handled += self._handle_all(entries)
            if len(entries) < self.stream.batch:
                break
            block = None  # a full batch: drain without waiting before working
        with self._busy():
            self.account_work.work_due()
            self.stream.prune_consumers()
        return handled

    def _block_for(self, block_ms: int | None) -> int | None:
        if not block_ms:
            return None
        first = self.accounts.first_due()
        if first is None:
            return block_ms
        wait_ms = (first - self.runtime.clock.now()) * 1000
        return int(min(block_ms, max(1.0, wait_ms)))

    @contextmanager
    def _busy(self) -> Iterator[None]:
        """Events in hand: :meth:`stop` waits for them (and only for them)."""
        self._idle.clear()
        try:
            yield
        finally:
            self._idle.set()

    def _handle_all(self, entries: list[Entry]) -> int:
        for entry_id, fields in entries:
            self._handle(entry_id, fields)
        return len(entries)

    def _handle(self, entry_id: Any, fields: Mapping[Any, Any]) -> None:
        try:
            event = WebhookEvent.from_fields(fields)
        except (KeyError, ValueError):
            self.stream.ack(entry_id)
            record_outcome(self.redis, INVALID, Outcome.DROPPED)
            return
        entry = as_text(entry_id)
        try:
            result = self.intake.accept(event)
        except RetryLater as wait:
            record_outcome(self.redis, event.kind, Outcome.RETRY)
            log.info(
                "webhook event will be retried",
                extra={
                    "entry": entry,
                    "type": event.kind.value,
                    "reason": wait.reason.value,
                    "detail": wait.detail,
                },
            )
            return
        self.stream.ack(entry_id)
        if result is not Outcome.MARKED:  # marked: counted when their account's work ends
            record_outcome(self.redis, event.kind, result)
        log.info(
            "webhook event processed",
            extra={"entry": entry, "type": event.kind.value, "result": result.value},
        )
