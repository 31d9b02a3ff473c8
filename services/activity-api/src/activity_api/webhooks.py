"""``GET /webhooks/strava`` (subscription validation) and ``POST /webhooks/strava`` (events).

Strava's events are not signed. A POST is accepted only for our subscription id and an owner
we hold a credential for; it is then appended to a Redis stream and answered at once (Strava
wants a 200 within 2 s). Processing happens in :mod:`activity_api.events`.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from flask import Blueprint, jsonify, request
from paceline import keys, metrics
from paceline.strava_api import PROVIDER
from paceline.web.app import json_error, runtime_of

from activity_api.events import InvalidEvent, enqueue, expected_subscription, parse_event
from activity_api.restore import restored_now

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__)


@bp.get("/webhooks/strava")
def validate_subscription() -> Any:
    """Echo ``hub.challenge`` when ``hub.verify_token`` is ours (constant-time comparison)."""
    configured = runtime_of().settings.webhook_verify_token
    given = request.args.get("hub.verify_token", "")
    challenge = request.args.get("hub.challenge", "")
    if configured is None:
        return json_error(403, "forbidden", "webhooks are not configured")
    expected = configured.get_secret_value()
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return json_error(403, "forbidden", "verify token does not match")
    if request.args.get("hub.mode", "subscribe") != "subscribe" or not challenge:
        return json_error(400, "bad_request", "expected hub.mode=subscribe and a hub.challenge")
    return jsonify({"hub.challenge": challenge[:256]})


@bp.post("/webhooks/strava")
def receive_event() -> Any:
    runtime = runtime_of()
    try:
        event = parse_event(request.get_json(silent=True))
    except InvalidEvent as error:
        metrics.WEBHOOK_EVENTS.labels("invalid", "rejected").inc()
        return json_error(400, "bad_request", str(error))
    if event.subscription_id != expected_subscription(runtime):
        metrics.WEBHOOK_EVENTS.labels(event.kind, "rejected").inc()
        log.warning("webhook event for another subscription rejected", extra={"type": event.kind})
        return json_error(403, "forbidden", "unknown subscription")
    key = keys.credential_key(PROVIDER, str(event.owner_id))
    known = runtime.redis.hexists(key, "record")
    if not known and restored_now(runtime):  # Redis had lost its data: restored just now
        known = runtime.redis.hexists(key, "record")
    if not known:
        # Strava may still send events for athletes that left; nothing to do, and a non-200
        # would only make it retry.
        metrics.WEBHOOK_EVENTS.labels(event.kind, "ignored").inc()
        return jsonify(status="ignored")
    enqueue(runtime.redis, event)
    metrics.WEBHOOK_EVENTS.labels(event.kind, "accepted").inc()
    return jsonify(status="accepted")
