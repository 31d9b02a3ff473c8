"""Strava webhook events: parsed, queued durably in a Redis stream, consumed asynchronously.

The receiving route only checks an event and appends it to the stream ``paceline:webhooks:
strava`` (one ``XADD``), so Strava gets its 200 in milliseconds. Processing is at-least-once:

* every activity-api worker process runs one :class:`WebhookConsumer` thread, a consumer named
  ``<host>-<pid>`` in the one consumer group ``activity-api``: each event goes to one worker,
  and the work spreads over every worker of every replica;
* an event is acknowledged (``XACK``) only after its effect is done; one whose consumer died or
  failed stays pending and is claimed again (``XAUTOCLAIM``) once idle for
  ``webhook_retry_idle_seconds``; after ``webhook_max_deliveries`` it is dropped, which loses
  nothing, since an invalidated summary stays marked dirty and the next read refreshes it;
* processing is idempotent, so a redelivery is harmless.

What an event does (the payload is never trusted, only used to know *which* data changed):
activity create/update/delete invalidates that athlete's summary and refreshes exactly that
activity from the API, with the athlete's totals (two calls, not a rebuild; a deleted
activity, or one made private, is dropped from the cached summary at once); an athlete
deauthorization (``updates.authorized == "false"``) deletes the credential and everything
cached for the account.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import redis
from paceline import keys, metrics
from paceline.cache import SummaryCache
from paceline.erasure import erase_account
from paceline.mirror import MirrorError
from paceline.runtime import Runtime
from paceline.strava_api import PROVIDER

from activity_api.summaries import BUILT, Summaries
from activity_api.summaries import SUBSCRIPTION_KEY as SUBSCRIPTION_KEY

log = logging.getLogger(__name__)

STREAM = f"{keys.NAMESPACE}:webhooks:{PROVIDER}"
GROUP = "activity-api"
STREAM_MAXLEN = 100_000
OBJECT_TYPES = ("activity", "athlete")
ASPECT_TYPES = ("create", "update", "delete")
HIDDEN_VISIBILITIES = ("followers_only", "only_me")


class InvalidEvent(ValueError):
    """Not a Strava webhook event."""


class RetryLater(Exception):
    """The event's effect could not be completed now; leave it pending."""


@dataclass(frozen=True)
class WebhookEvent:
    object_type: str
    aspect_type: str
    object_id: int
    owner_id: int
    subscription_id: int
    event_time: int
    updates: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_deauthorization(self) -> bool:
        return self.object_type == "athlete" and self.updates.get("authorized") == "false"

    @property
    def kind(self) -> str:
        """A bounded metric label: ``activity.create`` ... ``athlete.deauthorize``."""
        if self.is_deauthorization:
            return "athlete.deauthorize"
        return f"{self.object_type}.{self.aspect_type}"

    @property
    def hides_activity(self) -> bool:
        """Deleted, or no longer visible to everyone: drop it from the cache at once."""
        if self.object_type != "activity":
            return False
        if self.aspect_type == "delete":
            return True
        return self.updates.get("private") == "true" or (
            self.updates.get("visibility") in HIDDEN_VISIBILITIES
        )

    def to_fields(self) -> dict[str, str]:
        fields = {
            "object_type": self.object_type,
            "aspect_type": self.aspect_type,
            "object_id": str(self.object_id),
            "owner_id": str(self.owner_id),
            "subscription_id": str(self.subscription_id),
            "event_time": str(self.event_time),
        }
        for name, value in self.updates.items():
            fields[f"updates.{name}"] = value
        return fields

    @classmethod
    def from_fields(cls, fields: Mapping[Any, Any]) -> WebhookEvent:
        text = {
            (k.decode() if isinstance(k, bytes) else str(k)): (
                v.decode() if isinstance(v, bytes) else str(v)
            )
            for k, v in fields.items()
        }
        updates = {
            k.removeprefix("updates."): v for k, v in text.items() if k.startswith("updates.")
        }
        return cls(
            object_type=text["object_type"],
            aspect_type=text["aspect_type"],
            object_id=int(text["object_id"]),
            owner_id=int(text["owner_id"]),
            subscription_id=int(text["subscription_id"]),
            event_time=int(text.get("event_time", "0")),
            updates=updates,
        )


def _integer(value: Any) -> int | None:
    """A JSON integer (``12`` or ``12.0``, as JSON Schema counts them), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value if isinstance(value, int) else None


def _positive_int(body: Mapping[str, Any], name: str) -> int:
    value = _integer(body.get(name))
    if value is None or not 0 < value < 2**63:
        raise InvalidEvent(f"{name} must be a positive integer")
    return value


def parse_event(body: Any) -> WebhookEvent:
    """Check an event's shape (Strava's documented fields); raise :class:`InvalidEvent`."""
    if not isinstance(body, Mapping):
        raise InvalidEvent("the body must be a JSON object")
    if body.get("object_type") not in OBJECT_TYPES:
        raise InvalidEvent("object_type must be activity or athlete")
    if body.get("aspect_type") not in ASPECT_TYPES:
        raise InvalidEvent("aspect_type must be create, update or delete")
    raw_updates = body.get("updates") or {}
    if not isinstance(raw_updates, Mapping) or len(raw_updates) > 20:
        raise InvalidEvent("updates must be an object")
    updates: dict[str, str] = {}
    for name, value in raw_updates.items():
        if not isinstance(name, str) or len(name) > 64 or not isinstance(value, (str, bool, int)):
            raise InvalidEvent("updates must map names to strings")
        text = str(value).lower() if isinstance(value, bool) else str(value)
        updates[name] = text[:256]
    event_time = _integer(body.get("event_time", 0))
    if event_time is None or not 0 <= event_time < 2**63:
        raise InvalidEvent("event_time must be a non-negative integer")
    return WebhookEvent(
        object_type=str(body["object_type"]),
        aspect_type=str(body["aspect_type"]),
        object_id=_positive_int(body, "object_id"),
        owner_id=_positive_int(body, "owner_id"),
        subscription_id=_positive_int(body, "subscription_id"),
        event_time=event_time,
        updates=updates,
    )


def expected_subscription(runtime: Runtime) -> int | None:
    """The subscription whose events we accept: from settings, else as recorded by
    ``paceline webhook subscribe``."""
    if runtime.settings.webhook_subscription_id is not None:
        return runtime.settings.webhook_subscription_id
    raw = runtime.redis.get(SUBSCRIPTION_KEY)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def enqueue(client: redis.Redis, event: WebhookEvent) -> str:
    entry_id = client.xadd(STREAM, event.to_fields(), maxlen=STREAM_MAXLEN, approximate=True)  # type: ignore[arg-type]
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


def ensure_group(client: redis.Redis) -> None:
    try:
        client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except redis.ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class WebhookConsumer:
    """One consumer of the group; :meth:`start` runs it on a daemon thread."""

    def __init__(
        self,
        runtime: Runtime,
        summaries: Summaries,
        cache: SummaryCache,
        *,
        name: str | None = None,
        block_ms: int = 2000,
        batch: int = 10,
    ) -> None:
        self.runtime = runtime
        self.redis = runtime.redis
        self.summaries = summaries
        self.cache = cache
        self.name = name or consumer_name()
        self.block_ms = block_ms
        self.batch = batch
        settings = runtime.settings
        self.retry_idle_ms = int(settings.webhook_retry_idle_seconds * 1000)
        self.max_deliveries = settings.webhook_max_deliveries
        self._stop = threading.Event()
        self._idle = threading.Event()  # clear while events are in hand (see _busy)
        self._idle.set()
        self._thread: threading.Thread | None = None
        self._group_ready = False
        self._last_prune = 0.0

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="webhook-consumer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop taking events and wait (up to ``timeout``) for the ones in hand to be handled.

        An idle thread, blocked in its read, is not waited for: that read can last
        ``block_ms``, and a gunicorn worker exiting (``max_requests``) would sit out every
        second of it with no replacement forked yet. Whatever that read still returns is
        left unacknowledged, and another consumer reclaims it.
        """
        self._stop.set()
        self._idle.wait(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once(self.block_ms)
            except redis.RedisError as error:
                self._group_ready = False
                log.warning("webhook consumer: redis error", extra={"error": type(error).__name__})
                self._stop.wait(1.0)
            except Exception:
                log.exception("webhook consumer crashed; continuing")
                self._stop.wait(1.0)

    # --- one round -----------------------------------------------------------------------------
    def run_once(self, block_ms: int | None = None) -> int:
        """Reclaim idle pending events, then read new ones (blocking up to ``block_ms``);
        process them. Returns how many events were handled (acknowledged or not)."""
        if not self._group_ready:
            ensure_group(self.redis)
            self._group_ready = True
        with self._busy():
            handled = self._reclaim()
        try:
            answer: Any = self.redis.xreadgroup(
                GROUP, self.name, {STREAM: ">"}, count=self.batch, block=block_ms or None
            )
        except redis.ResponseError as error:
            if "NOGROUP" in str(error):
                self._group_ready = False
                return handled
            raise
        if self._stop.is_set():
            return handled  # stopping: what was just read stays pending for others to reclaim
        with self._busy():
            for _stream, messages in answer or []:
                for entry_id, fields in messages:
                    self._handle(entry_id, fields)
                    handled += 1
            self._prune_consumers()
        return handled

    @contextmanager
    def _busy(self) -> Iterator[None]:
        """Events in hand: :meth:`stop` waits for them (and only for them)."""
        self._idle.clear()
        try:
            yield
        finally:
            self._idle.set()

    def _reclaim(self) -> int:
        try:
            result = self.redis.xautoclaim(
                STREAM, GROUP, self.name, self.retry_idle_ms, start_id="0-0", count=self.batch
            )
        except redis.ResponseError as error:
            if "NOGROUP" in str(error):
                self._group_ready = False
                return 0
            raise
        messages = result[1] if len(result) > 1 else []
        handled = 0
        for entry_id, fields in messages:
            if fields is None:  # trimmed from the stream meanwhile
                self.redis.xack(STREAM, GROUP, entry_id)
                continue
            if self._deliveries(entry_id) > self.max_deliveries:
                self.redis.xack(STREAM, GROUP, entry_id)
                metrics.WEBHOOK_EVENTS.labels(self._kind(fields), "dropped").inc()
                log.error(
                    "webhook event dropped after repeated failures",
                    extra={"entry": self._id(entry_id)},
                )
                continue
            self._handle(entry_id, fields)
            handled += 1
        return handled

    def _deliveries(self, entry_id: Any) -> int:
        info = self.redis.xpending_range(STREAM, GROUP, min=entry_id, max=entry_id, count=1)
        return int(info[0]["times_delivered"]) if info else 0

    @staticmethod
    def _id(entry_id: Any) -> str:
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    @staticmethod
    def _kind(fields: Mapping[Any, Any]) -> str:
        try:
            return WebhookEvent.from_fields(fields).kind
        except (KeyError, ValueError):
            return "invalid"

    def _handle(self, entry_id: Any, fields: Mapping[Any, Any]) -> None:
        try:
            event = WebhookEvent.from_fields(fields)
        except (KeyError, ValueError):
            self.redis.xack(STREAM, GROUP, entry_id)
            metrics.WEBHOOK_EVENTS.labels("invalid", "dropped").inc()
            return
        try:
            result = self.process(event)
        except RetryLater as reason:
            metrics.WEBHOOK_EVENTS.labels(event.kind, "retry").inc()
            log.info(
                "webhook event will be retried",
                extra={"entry": self._id(entry_id), "type": event.kind, "reason": str(reason)},
            )
            return
        self.redis.xack(STREAM, GROUP, entry_id)
        metrics.WEBHOOK_EVENTS.labels(event.kind, result).inc()
        log.info(
            "webhook event processed",
            extra={"entry": self._id(entry_id), "type": event.kind, "result": result},
        )

    # --- the effect of one event ---------------------------------------------------------------
    def process(self, event: WebhookEvent) -> str:
        """Apply one event; return a bounded result label or raise :class:`RetryLater`."""
        account = str(event.owner_id)
        if event.is_deauthorization:
            try:
                erase_account(self.runtime.store, PROVIDER, account)
            except MirrorError as error:
                raise RetryLater(f"mirror: {error}") from None
            self.cache.forget(PROVIDER, account)  # this worker's memory too
            return "deauthorized"
        if self.runtime.store.get(PROVIDER, account) is None:
            return "ignored"  # no longer connected
        if event.hides_activity:
            self.cache.drop_activity(PROVIDER, account, event.object_id)
        if not self.cache.invalidate(PROVIDER, account):
            return "not_cached"  # nobody asked for this summary: nothing to refresh
        if event.object_type == "activity":
            outcome = self.summaries.refresh_activity(
                account, event.object_id, gone=event.hides_activity, trigger="webhook"
            )
        else:
            outcome = self.summaries.rebuild(account, trigger="webhook")
        if outcome in (BUILT, "busy"):
            # "busy": a build is running; if it started before our invalidation the entry
            # stays dirty and the next read refreshes again.
            return "refreshed"
        if outcome == "account_unavailable":
            return "ignored"
        raise RetryLater(outcome)

    # --- housekeeping --------------------------------------------------------------------------
    def _prune_consumers(self, every_seconds: float = 600.0, idle_ms: int = 86_400_000) -> None:
        """Remove consumers of dead workers that hold nothing (names are per process)."""
        now = time.monotonic()
        if now - self._last_prune < every_seconds:
            return
        self._last_prune = now
        for consumer in self.redis.xinfo_consumers(STREAM, GROUP):
            name = consumer["name"]
            name = name.decode() if isinstance(name, bytes) else str(name)
            if name != self.name and consumer["pending"] == 0 and consumer["idle"] > idle_ms:
                self.redis.xgroup_delconsumer(STREAM, GROUP, name)
