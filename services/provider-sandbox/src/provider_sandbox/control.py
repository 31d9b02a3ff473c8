"""The ``/_sandbox/`` control API for the sandbox itself: health, config, clock, faults, counters.

Used by tests and the demo, never by paceline's production code. JSON in and out; input is
validated and a bad field answers 400 naming it. Control endpoints are never rate limited,
faulted or counted, so a test can always see and undo what it did. The world (athletes,
activities, tokens, webhooks) is shaped through ``control_world``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from .config import config_to_json
from .errors import control_error
from .ratelimit import Usage, header_pair
from .schemas import FAULT_FIELDS, digits, usage_pair
from .state import get_sandbox
from .validation import InputError, boolean, check_object, json_object, number

bp = Blueprint("control", __name__, url_prefix="/_sandbox")


@bp.get("/healthz")
def healthz() -> dict[str, Any]:
    return {"status": "ok"}


@bp.get("/config")
def get_config() -> dict[str, Any]:
    return config_to_json(get_sandbox().config)


@bp.post("/config")
def set_config() -> dict[str, Any]:
    """Partial update; unknown keys and wrong types answer 400 naming the field."""
    return config_to_json(get_sandbox().configure(json_object()))


@bp.post("/reset")
def reset() -> dict[str, Any]:
    """Back to start-up configuration, real time, seeded data; tokens, faults, counters gone.

    ``{"keep_clock": true}`` keeps the sandbox time and seeds relative to it.
    """
    payload = check_object(json_object(), {"keep_clock": boolean()})
    sandbox = get_sandbox()
    sandbox.reset(keep_clock=payload.get("keep_clock", False))
    return {"status": "reset", "now": sandbox.now()}


@bp.get("/clock")
def get_clock() -> dict[str, Any]:
    clock = get_sandbox().clock
    return {"now": clock.now(), "offset": clock.offset, "frozen": clock.frozen}


@bp.post("/clock")
def set_clock() -> dict[str, Any]:
    """``{"advance_seconds": N}``, ``{"set_epoch": T}`` and/or ``{"freeze": bool}``."""
    payload = check_object(
        json_object(),
        {"advance_seconds": number(), "set_epoch": number(minimum=0), "freeze": boolean()},
    )
    if "advance_seconds" in payload and "set_epoch" in payload:
        raise InputError("set_epoch", "give either advance_seconds or set_epoch, not both")
    clock = get_sandbox().clock
    if "freeze" in payload:
        clock.freeze(payload["freeze"])
    if "set_epoch" in payload:
        clock.set(payload["set_epoch"])
    if "advance_seconds" in payload:
        clock.advance(payload["advance_seconds"])
    return get_clock()


# -- faults, calls, rate limits ----------------------------------------------------------------


@bp.get("/faults")
def list_faults() -> list[dict[str, Any]]:
    return [f.to_json() for f in get_sandbox().faults.active()]


@bp.post("/faults")
def add_fault() -> tuple[dict[str, Any], int]:
    fields = check_object(json_object(), FAULT_FIELDS, required=("match",))
    match = fields["match"]
    if match != "*" and not match.startswith("/"):
        raise InputError("match", 'must be a path such as "/oauth/token", a glob, or "*"')
    if match.startswith("/_sandbox"):
        raise InputError("match", "control endpoints cannot be faulted")
    fault = get_sandbox().faults.add(**fields)
    return fault.to_json(), 201


@bp.delete("/faults")
def clear_faults() -> Response:
    get_sandbox().faults.clear()
    return Response(status=204)


@bp.delete("/faults/<int:fault_id>")
def delete_fault(fault_id: int) -> Response:
    if not get_sandbox().faults.remove(fault_id):
        return control_error(f"fault {fault_id} does not exist", status=404)
    return Response(status=204)


@bp.get("/calls")
def get_calls() -> dict[str, Any]:
    return get_sandbox().calls.snapshot()


@bp.delete("/calls")
def reset_calls() -> Response:
    get_sandbox().calls.reset()
    return Response(status=204)


def _usage_json(usage: Usage) -> dict[str, str]:
    return {"overall": header_pair(usage.overall), "read": header_pair(usage.read)}


@bp.get("/ratelimit")
def get_ratelimit() -> dict[str, Any]:
    """Usage per application in the current windows, formatted like the headers; and per
    past short window (index = floor(time / window_seconds)): requests counted per bucket and
    requests refused with 429."""
    sandbox = get_sandbox()
    config = sandbox.config
    usage = sandbox.limiter.all_usage(sandbox.now(), config)
    return {
        "limits": {
            "overall": header_pair(config.rate_limit_overall),
            "read": header_pair(config.rate_limit_read),
        },
        "usage": {client: _usage_json(u) for client, u in usage.items()},
        "window_seconds": config.window_seconds,
        "windows": sandbox.limiter.history(),
    }


@bp.post("/ratelimit")
def set_ratelimit() -> dict[str, Any]:
    """Pretend an application already used part of its budget (saves making the requests)."""
    fields = check_object(
        json_object(),
        {"client_id": digits, "overall": usage_pair, "read": usage_pair},
    )
    sandbox = get_sandbox()
    client_id = fields.get("client_id", sandbox.config.client_id)
    usage = sandbox.limiter.set_usage(
        client_id, sandbox.now(), sandbox.config, fields.get("overall"), fields.get("read")
    )
    return {"client_id": client_id, **_usage_json(usage)}
