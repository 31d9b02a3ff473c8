"""Strava webhook events: checked, and queued compactly in a Redis stream.

Strava's events are unsigned and the callback is public, so an event is a hint that says "look
again", never a fact (DESIGN, "Trust"). The route checks only an event's *shape* and appends it
to the stream ``paceline:webhooks:strava`` (:func:`enqueue`, one Lua step), so Strava (and
anyone else) gets the same 200 in milliseconds. Which subscription and athlete it names is
checked later, silently, when the consumer takes it (:mod:`activity_api.event_intake`).

Bounded memory: an entry keeps only what the consumer uses (``type``, ``owner``, ``object``,
``sub``, ``vis``: at most ~70 bytes of field data), an identical event still waiting in the
stream is not added twice (a ``webhook-seen`` key that the consumer deletes when it takes the
event), and the stream is capped at :data:`STREAM_MAXLEN` entries. :data:`STREAM_BOUND_BYTES`
is the memory that cap allows, asserted by the flood test in ``tests/integration/activity_api/
test_webhook_abuse.py`` (a full stream of the largest entries measures about 760 KiB).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import redis
from paceline import keys
from paceline.runtime import Runtime
from paceline.strava_api import PROVIDER

from activity_api.summary_service import SUBSCRIPTION_KEY as SUBSCRIPTION_KEY

STREAM = f"{keys.NAMESPACE}:webhooks:{PROVIDER}"
GROUP = "activity-api"
# The stream's cap, and what a full stream of the largest entries may use (the chart's Redis
# has maxmemory 192 MiB: this is under 1 % of it). Trimming is approximate (whole listpack
# nodes of 100 entries), so the length may pass the cap by up to one node.
STREAM_MAXLEN = 10_000
STREAM_BOUND_BYTES = 1024 * 1024
# An identical event still queued is not queued again within this time.
SEEN_TTL_MS = 10_000
OBJECT_TYPES = ("activity", "athlete")
ASPECT_TYPES = ("create", "update", "delete")
HIDDEN_VISIBILITIES = ("followers_only", "only_me")


class EventKind(StrEnum):
    """What an event says happened; its value is the stream's ``type`` field and a metric
    label, so it is stored and exported as the string."""

    ACTIVITY_CREATE = "activity.create"
    ACTIVITY_UPDATE = "activity.update"
    ACTIVITY_DELETE = "activity.delete"
    ATHLETE_UPDATE = "athlete.update"
    DEAUTHORIZE = "athlete.deauthorize"
    # Well-formed, but Strava sends no such events: queued like any other (the route is no
    # oracle), then dropped by the consumer as invalid.
    ATHLETE_CREATE = "athlete.create"
    ATHLETE_DELETE = "athlete.delete"


# The kinds the consumer acts on.
KINDS = frozenset(EventKind) - {EventKind.ATHLETE_CREATE, EventKind.ATHLETE_DELETE}
DEAUTHORIZE = EventKind.DEAUTHORIZE
# KEYS: stream, seen key. ARGV: seen ttl ms, maxlen, then the entry's field/value pairs.
_ENQUEUE = """
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then return 0 end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
return 1
"""


class InvalidEvent(ValueError):
    """Not a Strava webhook event."""


@dataclass(frozen=True)
class WebhookEvent:
    """An event as queued: only what the consumer uses. ``updates`` keeps only the fields
    that matter, normalised: ``authorized: "false"`` or ``private: "true" | "false"``."""

    object_type: str
    aspect_type: str
    object_id: int
    owner_id: int
    subscription_id: int
    updates: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_deauthorization(self) -> bool:
        return self.object_type == "athlete" and self.updates.get("authorized") == "false"

    @property
    def kind(self) -> EventKind:
        if self.is_deauthorization:
            return DEAUTHORIZE
        return EventKind(f"{self.object_type}.{self.aspect_type}")

    @property
    def hides_activity(self) -> bool:
        """Deleted, or no longer visible to everyone: hide it from the cache at once."""
        if self.object_type != "activity":
            return False
        return self.aspect_type == "delete" or self.updates.get("private") == "true"

    @property
    def shows_activity(self) -> bool:
        """Made visible to everyone: it may belong in the summary now."""
        return self.object_type == "activity" and self.updates.get("private") == "false"

    def _visibility(self) -> str:
        return "hide" if self.hides_activity else "show" if self.shows_activity else ""

    def to_fields(self) -> dict[str, str]:
        return {
            "type": self.kind,
            "owner": str(self.owner_id),
            "object": str(self.object_id),
            "sub": str(self.subscription_id),
            "vis": self._visibility(),
        }

    def seen_key(self) -> str:
        base = keys.account_key("webhook-seen", PROVIDER, str(self.owner_id))
        return f"{base}:{self.subscription_id}.{self.kind}.{self._visibility()}.{self.object_id}"

    @classmethod
    def from_fields(cls, fields: Mapping[Any, Any]) -> WebhookEvent:
        text = decoded(fields)
        kind = text["type"]
        if kind not in KINDS:
            raise ValueError(f"unknown event type {kind[:32]!r}")
        object_type, _, aspect_type = kind.partition(".")
        updates: dict[str, str] = {}
        if kind == DEAUTHORIZE:
            aspect_type, updates = "update", {"authorized": "false"}
        elif text.get("vis") == "hide" and aspect_type == "update":
            updates = {"private": "true"}
        elif text.get("vis") == "show":
            updates = {"private": "false"}
        return cls(
            object_type=object_type,
            aspect_type=aspect_type,
            object_id=_bounded_int(text["object"]),
            owner_id=_bounded_int(text["owner"]),
            subscription_id=_bounded_int(text["sub"]),
            updates=updates,
        )


def decoded(fields: Mapping[Any, Any]) -> dict[str, str]:
    """A Redis hash or stream entry as text (redis-py answers bytes)."""
    return {as_text(name): as_text(value) for name, value in fields.items()}


def as_text(value: Any) -> str:
    """One value of a Redis answer as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _bounded_int(text: str) -> int:
    if not text.isdigit() or len(text) > 19:
        raise ValueError("not a positive integer")
    return int(text)


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


def _flag(value: Any) -> str:
    return str(value).lower() if isinstance(value, (bool, str, int)) else ""


def parse_event(body: Any) -> WebhookEvent:
    """Check an event's shape (Strava's documented fields, developers.strava.com "Webhook
    Events API"); keep only what matters; raise :class:`InvalidEvent`."""
    if not isinstance(body, Mapping):
        raise InvalidEvent("the body must be a JSON object")
    if body.get("object_type") not in OBJECT_TYPES:
        raise InvalidEvent("object_type must be activity or athlete")
    if body.get("aspect_type") not in ASPECT_TYPES:
        raise InvalidEvent("aspect_type must be create, update or delete")
    raw_updates = body.get("updates", {})  # absent is empty; false, [] or "" are not objects
    if not isinstance(raw_updates, Mapping) or len(raw_updates) > 20:
        raise InvalidEvent("updates must be an object")
    for name, value in raw_updates.items():
        if not isinstance(name, str) or len(name) > 64 or not isinstance(value, (str, bool, int)):
            raise InvalidEvent("updates must map names to strings")
        if isinstance(value, str) and len(value) > 1024:
            raise InvalidEvent("updates values must be short")
    event_time = _integer(body.get("event_time", 0))
    if event_time is None or not 0 <= event_time < 2**63:
        raise InvalidEvent("event_time must be a non-negative integer")
    updates: dict[str, str] = {}
    if _flag(raw_updates.get("authorized")) == "false":
        updates["authorized"] = "false"
    private = _flag(raw_updates.get("private"))
    visibility = _flag(raw_updates.get("visibility"))
    if private == "true" or visibility in HIDDEN_VISIBILITIES:
        updates["private"] = "true"
    elif private == "false" or visibility == "everyone":
        updates["private"] = "false"
    return WebhookEvent(
        object_type=str(body["object_type"]),
        aspect_type=str(body["aspect_type"]),
        object_id=_positive_int(body, "object_id"),
        owner_id=_positive_int(body, "owner_id"),
        subscription_id=_positive_int(body, "subscription_id"),
        updates=updates,
    )


def expected_subscription(runtime: Runtime) -> int | None:
    """The subscription whose events we act on: from settings, else as recorded by
    ``paceline webhook subscribe``."""
    if runtime.settings.webhook_subscription_id is not None:
        return runtime.settings.webhook_subscription_id
    raw = runtime.redis.get(SUBSCRIPTION_KEY)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def enqueue(client: redis.Redis, event: WebhookEvent) -> bool:
    """Queue an event unless an identical one is still waiting; True when queued."""
    pairs = [part for item in event.to_fields().items() for part in item]
    added = client.eval(_ENQUEUE, 2, STREAM, event.seen_key(), SEEN_TTL_MS, STREAM_MAXLEN, *pairs)
    return bool(added)


def ensure_group(client: redis.Redis) -> None:
    try:
        client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except redis.ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise
