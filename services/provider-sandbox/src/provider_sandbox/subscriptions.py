"""Strava's push-subscription endpoints (``/api/v3/push_subscriptions``).

Authenticated by client credentials rather than a Bearer token. Creating one runs Strava's
validation handshake against ``callback_url`` before anything is stored; each application
may have a single subscription.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from .errors import StravaError, bad_request
from .models import App, Subscription
from .pipeline import request_values
from .representations import iso
from .state import get_sandbox
from .webhooks import verify_callback

bp = Blueprint("subscriptions", __name__, url_prefix="/api/v3/push_subscriptions")


def _app(values: dict[str, Any]) -> App:
    sandbox = get_sandbox()
    for name in ("client_id", "client_secret"):
        if not values.get(name):
            raise bad_request("Application", name, "missing")
    app = sandbox.authenticate_client(str(values["client_id"]), str(values["client_secret"]))
    if app is None:
        raise StravaError(401, "Authorization Error", "Application", "client_secret", "invalid")
    return app


def _subscription_json(subscription: Subscription) -> dict[str, Any]:
    return {
        "id": subscription.id,
        "resource_state": 2,
        "application_id": int(subscription.client_id),
        "callback_url": subscription.callback_url,
        "created_at": iso(subscription.created_at),
        "updated_at": iso(subscription.updated_at),
    }


@bp.post("")
def create() -> tuple[dict[str, Any], int]:
    """Validate the callback (hub.challenge echo within the timeout), then store."""
    sandbox = get_sandbox()
    values = request_values()
    app = _app(values)
    for name in ("callback_url", "verify_token"):
        if not values.get(name):
            raise bad_request("PushSubscription", name, "missing")
    callback_url, verify_token = str(values["callback_url"]), str(values["verify_token"])
    if sandbox.world.subscription_of(app.client_id) is not None:
        raise bad_request("PushSubscription", "", "already exists")
    problem = verify_callback(callback_url, verify_token, sandbox.config.webhook_timeout_seconds)
    if problem is not None:
        raise bad_request("PushSubscription", "callback url", problem)
    with sandbox.lock:
        if sandbox.world.subscription_of(app.client_id) is not None:
            raise bad_request("PushSubscription", "", "already exists")
        subscription = sandbox.world.add_subscription(
            app.client_id, callback_url, verify_token, sandbox.now()
        )
    return {"id": subscription.id}, 201


@bp.get("")
def view() -> list[dict[str, Any]]:
    """The application's subscriptions (zero or one)."""
    sandbox = get_sandbox()
    app = _app(request_values())
    subscription = sandbox.world.subscription_of(app.client_id)
    return [_subscription_json(subscription)] if subscription else []


@bp.delete("/<int:subscription_id>")
def delete(subscription_id: int) -> Response:
    sandbox = get_sandbox()
    app = _app(request_values())
    with sandbox.lock:
        subscription = sandbox.world.subscriptions.get(subscription_id)
        if subscription is None or subscription.client_id != app.client_id:
            raise StravaError(404, "Record Not Found", "PushSubscription", "id", "invalid")
        del sandbox.world.subscriptions[subscription_id]
    return Response(status=204)
