"""``GET`` (subscription validation) and ``POST`` (events) on the webhook callback.

The callback path is :func:`activity_api.callback.callback_path`: with a path secret set, the
bare ``/webhooks/strava`` and every wrong token answer 404. Strava's events are not signed, so
the route is no oracle: every well-formed event gets the same ``200 {"status": "received"}``
whatever subscription or athlete it names, and is queued (:func:`activity_api.events.
enqueue`, capped and de-duplicated); the consumer checks it later, silently. Strava wants a
200 within 2 s; answering takes one Redis call. The route is rate limited per client address
(``PACELINE_WEBHOOK_RATE_LIMIT``, counted in Redis so every worker and replica shares it).
"""

from __future__ import annotations

import hmac
import logging
from functools import partial
from typing import Any

from flask import Blueprint, Flask, abort, jsonify, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from paceline import metrics
from paceline.runtime import Runtime
from paceline.web.app import json_error, runtime_of

from activity_api.callback import BASE_PATH, matches
from activity_api.events import InvalidEvent, enqueue, parse_event

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__)


def not_found() -> Any:
    """Exactly the answer to a path that does not exist."""
    abort(404)


@bp.get(BASE_PATH, defaults={"token": None})
@bp.get(f"{BASE_PATH}/<token>")
def validate_subscription(token: str | None) -> Any:
    """Echo ``hub.challenge`` when ``hub.verify_token`` is ours (constant-time comparison)."""
    settings = runtime_of().settings
    if not matches(settings, token):
        return not_found()
    configured = settings.webhook_verify_token
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


@bp.post(BASE_PATH, defaults={"token": None})
@bp.post(f"{BASE_PATH}/<token>")
def receive_event(token: str | None) -> Any:
    runtime = runtime_of()
    if not matches(runtime.settings, token):
        return not_found()
    try:
        event = parse_event(request.get_json(silent=True))
    except InvalidEvent as error:
        metrics.WEBHOOK_EVENTS.labels("invalid", "rejected").inc()
        return json_error(400, "bad_request", str(error))
    queued = enqueue(runtime.redis, event)
    metrics.WEBHOOK_EVENTS.labels(event.kind, "received" if queued else "duplicate").inc()
    return jsonify(status="received")


def rate_limit(app: Flask, runtime: Runtime) -> Limiter:
    """Limit the webhook routes per client address, counted in Redis.

    The address is the TCP peer's: forwarded headers can be forged, so behind an ingress the
    limit is per proxy address (a shared limit for the callback, which only Strava knows)."""
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri="redis://",
        storage_options={
            "connection_pool": runtime.redis.connection_pool,  # type: ignore[dict-item]
            "key_prefix": "paceline:webhook-limit",
        },
        strategy="moving-window",
        headers_enabled=False,
        default_limits=[],
    )
    limiter.limit(runtime.settings.webhook_rate_limit)(bp)
    _hooks_only_for(app, bp.name, limiter)
    return limiter


def _hooks_only_for(app: Flask, blueprint: str, limiter: Limiter) -> None:
    """Flask-Limiter hooks every request of the app (before, after, teardown); it limits only
    the webhook routes here, so move its hooks to that blueprint. Otherwise every cached widget
    read pays for them: measured, 40 % of a cached read's time in the app."""

    def is_limiters(hook: Any) -> bool:
        owner = getattr(hook, "__self__", None)
        if isinstance(hook, partial) and hook.args:
            owner = hook.args[0]
        return owner is limiter

    hook_lists: list[dict[Any, list[Any]]] = [
        app.before_request_funcs,
        app.after_request_funcs,
        app.teardown_request_funcs,
    ]
    for funcs in hook_lists:
        hooks = funcs.get(None, [])
        moved = [hook for hook in hooks if is_limiters(hook)]
        funcs[None] = [hook for hook in hooks if not is_limiters(hook)]
        funcs.setdefault(blueprint, []).extend(moved)
