"""The ``/_sandbox/`` control API for the world: athletes, activities, apps, tokens, webhooks.

Tests and the demo use it to create exactly the data they need, to get tokens without a
browser, and to make Strava send webhook events.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from .errors import control_error
from .representations import activity_detail, athlete_detail
from .schemas import ACTIVITY_FIELDS, ATHLETE_FIELDS, EVENT_FIELDS, digits
from .state import get_sandbox
from .stats import year_sums
from .tokens import parse_scope
from .validation import InputError, check_object, integer, json_object, string
from .webhooks import build_event

bp = Blueprint("control_world", __name__, url_prefix="/_sandbox")


def _split_emit(payload: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    emit = payload.pop("emit_webhook", False)
    if not isinstance(emit, bool):
        raise InputError("emit_webhook", "must be a boolean")
    return payload, emit


@bp.get("/athletes")
def list_athletes() -> list[dict[str, Any]]:
    sandbox = get_sandbox()
    with sandbox.lock:
        world = sandbox.world
        return [athlete_detail(a, world.activities_of(a.id)) for a in world.athletes.values()]


@bp.post("/athletes")
def add_athlete() -> tuple[dict[str, Any], int]:
    fields = check_object(json_object(), ATHLETE_FIELDS, required=("firstname", "lastname"))
    sandbox = get_sandbox()
    with sandbox.lock:
        try:
            athlete = sandbox.world.add_athlete(fields, sandbox.now())
        except ValueError as exc:
            raise InputError("id", str(exc)) from None
        return athlete_detail(athlete, []), 201


@bp.get("/athletes/<int:athlete_id>")
def get_athlete(athlete_id: int) -> dict[str, Any]:
    sandbox = get_sandbox()
    with sandbox.lock:
        athlete = sandbox.world.athlete(athlete_id)
        return athlete_detail(athlete, sandbox.world.activities_of(athlete_id))


@bp.get("/athletes/<int:athlete_id>/activities")
def athlete_activities(athlete_id: int) -> list[dict[str, Any]]:
    """All of the athlete's activities (private ones included), newest first, detailed."""
    sandbox = get_sandbox()
    with sandbox.lock:
        sandbox.world.athlete(athlete_id)
        return [activity_detail(a) for a in sandbox.world.activities_of(athlete_id)]


@bp.get("/athletes/<int:athlete_id>/year-totals")
def athlete_year_totals(athlete_id: int) -> dict[str, Any]:
    """The sandbox's own sums over ALL of the athlete's activities this year (private and
    followers-only included), which Strava's stats endpoint never gives: what honest totals
    must equal."""
    sandbox = get_sandbox()
    with sandbox.lock:
        sandbox.world.athlete(athlete_id)
        return year_sums(sandbox.world.activities_of(athlete_id), sandbox.now())


@bp.post("/athletes/<int:athlete_id>/activities")
def add_activity(athlete_id: int) -> tuple[dict[str, Any], int]:
    """Add one activity (defaults filled); ``emit_webhook`` sends a ``create`` event."""
    payload, emit = _split_emit(json_object())
    fields = check_object(payload, ACTIVITY_FIELDS)
    sandbox = get_sandbox()
    with sandbox.lock:
        try:
            activity = sandbox.world.add_activity(athlete_id, fields, sandbox.now())
        except ValueError as exc:
            raise InputError("id", str(exc)) from None
        body = activity_detail(activity)
    if emit:
        sandbox.emit_in_background("activity", "create", activity.id, athlete_id)
    return body, 201


@bp.get("/activities/<int:activity_id>")
def get_activity(activity_id: int) -> dict[str, Any]:
    sandbox = get_sandbox()
    with sandbox.lock:
        return activity_detail(sandbox.world.activity(activity_id))


@bp.route("/activities/<int:activity_id>", methods=["PUT", "PATCH"])
def update_activity(activity_id: int) -> dict[str, Any]:
    """Change fields; ``emit_webhook`` sends an ``update`` event with Strava's ``updates``."""
    payload, emit = _split_emit(json_object())
    fields = check_object(payload, {k: v for k, v in ACTIVITY_FIELDS.items() if k != "id"})
    sandbox = get_sandbox()
    with sandbox.lock:
        updates = sandbox.world.update_activity(activity_id, fields)
        activity = sandbox.world.activity(activity_id)
        body = activity_detail(activity)
    if emit:
        sandbox.emit_in_background("activity", "update", activity_id, activity.athlete_id, updates)
    return body


@bp.delete("/activities/<int:activity_id>")
def delete_activity(activity_id: int) -> dict[str, Any]:
    """Remove an activity; ``emit_webhook`` (body or query) sends a ``delete`` event."""
    payload, emit = _split_emit(json_object())
    check_object(payload, {})
    emit = emit or request.args.get("emit_webhook", "").lower() in ("1", "true", "yes")
    sandbox = get_sandbox()
    with sandbox.lock:
        activity = sandbox.world.delete_activity(activity_id)
    if emit:
        sandbox.emit_in_background("activity", "delete", activity_id, activity.athlete_id)
    return {"deleted": activity_id}


# -- apps and tokens ---------------------------------------------------------------------------


@bp.get("/apps")
def list_apps() -> list[dict[str, Any]]:
    sandbox = get_sandbox()
    with sandbox.lock:
        return [
            {"client_id": a.client_id, "client_secret": a.client_secret, "name": a.name}
            for a in sandbox.world.apps.values()
        ]


@bp.post("/apps")
def add_app() -> tuple[dict[str, Any], int]:
    """Register another application (own client id, secret, rate limits, subscription)."""
    fields = check_object(
        json_object(),
        {
            "client_id": digits,
            "client_secret": string(),
            "name": string(),
        },
    )
    sandbox = get_sandbox()
    with sandbox.lock:
        try:
            app = sandbox.world.add_app(
                fields.get("client_id"), fields.get("client_secret"), fields.get("name", "App")
            )
        except ValueError as exc:
            raise InputError("client_id", str(exc)) from None
    return {"client_id": app.client_id, "client_secret": app.client_secret, "name": app.name}, 201


@bp.post("/tokens")
def issue_tokens() -> tuple[dict[str, Any], int]:
    """Issue a valid token pair directly, as if the athlete had just authorized the app."""
    fields = check_object(
        json_object(),
        {
            "athlete_id": integer(minimum=1),
            "scope": string(),
            "client_id": digits,
            "expires_in": integer(minimum=1),
        },
    )
    sandbox = get_sandbox()
    athlete_id = fields.get("athlete_id") or sandbox.default_athlete_id()
    client_id = fields.get("client_id", sandbox.config.client_id)
    if athlete_id not in sandbox.world.athletes:
        raise InputError("athlete_id", f"athlete {athlete_id} does not exist")
    if client_id not in sandbox.world.apps:
        raise InputError("client_id", f"application {client_id} is not registered")
    scopes = parse_scope(fields.get("scope", "read,activity:read_all"))
    scopes = ["read", *[s for s in scopes if s != "read"]]
    now = sandbox.now()
    issued = sandbox.tokens.issue(
        athlete_id, client_id, scopes, now, sandbox.config, lifetime=fields.get("expires_in")
    )
    return {
        "token_type": "Bearer",
        "expires_at": issued.expires_at,
        "expires_in": max(0, int(issued.expires_at - now)),
        "refresh_token": issued.refresh_token,
        "access_token": issued.access_token,
        "athlete_id": athlete_id,
        "client_id": client_id,
        "scope": ",".join(scopes),
    }, 201


@bp.post("/athletes/<int:athlete_id>/revoke")
def revoke_access(athlete_id: int) -> dict[str, Any]:
    """The athlete revokes the app on strava.com (Settings > My Apps > Revoke Access): every
    token of the grant dies at once. Strava then sends an ``athlete`` update event with
    ``{"authorized": "false"}`` to the app's subscription (developers.strava.com/docs/webhooks);
    ``emit_webhook: false`` models that event being lost or no subscription existing."""
    payload = json_object()
    emit = payload.pop("emit_webhook", True)
    if not isinstance(emit, bool):
        raise InputError("emit_webhook", "must be a boolean")
    fields = check_object(payload, {"client_id": digits})
    sandbox = get_sandbox()
    client_id = fields.get("client_id", sandbox.config.client_id)
    if athlete_id not in sandbox.world.athletes:
        raise InputError("athlete_id", f"athlete {athlete_id} does not exist")
    revoked = sandbox.tokens.revoke_grant(athlete_id, client_id)
    subscription = sandbox.world.subscription_of(client_id)
    if revoked and emit and subscription is not None:
        sandbox.emit_in_background(
            "athlete",
            "update",
            athlete_id,
            athlete_id,
            {"authorized": "false"},
            subscriptions=[subscription],
        )
    return {"revoked": revoked, "athlete_id": athlete_id, "client_id": client_id}


@bp.get("/tokens/<refresh_token>/status")
def token_status(refresh_token: str) -> dict[str, Any]:
    sandbox = get_sandbox()
    return sandbox.tokens.refresh_status(refresh_token, sandbox.now(), sandbox.config)


# -- webhooks -----------------------------------------------------------------------------------


@bp.post("/webhooks/emit")
def emit_webhook() -> Response:
    """Deliver one event synchronously (single attempt) and report the callback's status."""
    fields = check_object(
        json_object(),
        EVENT_FIELDS,
        required=("object_type", "aspect_type", "object_id", "owner_id"),
    )
    sandbox = get_sandbox()
    client_id = fields.get("client_id", sandbox.config.client_id)
    subscription = sandbox.world.subscription_of(client_id)
    if subscription is None:
        return control_error(f"application {client_id} has no push subscription", "client_id")
    event = build_event(
        subscription,
        fields["object_type"],
        fields["aspect_type"],
        fields["object_id"],
        fields["owner_id"],
        fields.get("updates"),
        sandbox.now(),
    )
    record = sandbox.webhooks.deliver(subscription, event, sandbox.config)
    return jsonify(
        {
            "status_code": record["status"],
            "delivered": record["delivered"],
            "error": record["attempts"][-1]["error"],
            "event": event,
        }
    )


@bp.get("/webhooks/deliveries")
def webhook_deliveries() -> dict[str, Any]:
    """Recent deliveries; ``?wait=SECONDS`` first waits for background deliveries to finish."""
    sandbox = get_sandbox()
    wait = request.args.get("wait")
    if wait:
        try:
            seconds = min(float(wait), 30.0)
        except ValueError:
            raise InputError("wait", "must be a number of seconds") from None
        sandbox.webhooks.wait_idle(seconds)
    return sandbox.webhooks.snapshot()
