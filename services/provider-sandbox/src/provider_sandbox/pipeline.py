"""What happens around every provider request: rate limiting, faults, headers, counting.

Order matters and mirrors the brief: a request to ``/api/v3`` is first checked against the
application's rate limits (a refused request gets 429 and is not counted), then any matching
fault is applied, then the view runs. Every ``/api/v3`` answer, errors included, carries the
four rate-limit headers. Everything except ``/_sandbox/`` is counted in the call log.
"""

from __future__ import annotations

import contextlib
import re
import socket
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.http import HTTP_STATUS_CODES

from .errors import API_PREFIX, CONTROL_PREFIX, StravaError, rate_limit_exceeded, strava_response
from .faults import Fault
from .ratelimit import Usage, header_pair
from .state import Sandbox, get_sandbox

_RULE_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
MALFORMED_BODY = '{"id": 1, "resource_state": 3, "name": "Morning R'


def _template_param(match: re.Match[str]) -> str:
    name = match.group(1)
    return "{id}" if name.endswith("id") else "{" + name + "}"


def endpoint_key() -> str:
    """``METHOD /route/{id}`` from the matched Flask rule (Strava's documented spelling)."""
    rule = request.url_rule
    path = _RULE_PARAM.sub(_template_param, rule.rule) if rule is not None else request.path
    return f"{request.method} {path}"


def is_api(path: str) -> bool:
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def is_control(path: str) -> bool:
    return path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")


def bearer_token() -> str | None:
    """The access token from ``Authorization: Bearer`` or, like Strava, ``access_token``."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.values.get("access_token") or None


def request_values() -> dict[str, Any]:
    """A provider call's input from the query, a form body or a JSON body (Strava takes all
    three: its docs post form fields with ``curl -F``, developers.strava.com/docs/authentication
    and /docs/webhooks; clients also send the token exchange as JSON or query parameters)."""
    values: dict[str, Any] = dict(request.args.items())
    values.update(request.form.items())
    if request.is_json:
        body = request.get_json(silent=True)
        if isinstance(body, dict):
            values.update(body)
    return values


def _client_of_request(sandbox: Sandbox) -> str:
    """The application a request is charged to (rate limits are per application)."""
    token = bearer_token()
    if token:
        record = sandbox.tokens.access_token(token)
        if record is not None:
            return record.client_id
    client_id = request.values.get("client_id")
    if client_id and client_id in sandbox.world.apps:
        return client_id
    return sandbox.config.client_id


def _apply_fault(sandbox: Sandbox, fault: Fault) -> Response | None:
    if fault.latency_ms:
        sandbox.faults.hang(fault.latency_ms / 1000)
    if fault.timeout:
        sandbox.faults.hang(fault.hang_seconds)
        g.sandbox_status = "timeout"
        sock = request.environ.get("werkzeug.socket")
        if sock is not None:
            # Close without an answer: the write that follows fails, werkzeug drops it.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        response = jsonify({"message": "sandbox: simulated upstream timeout"})
        response.status_code = 504
        return response
    if fault.malformed:
        return Response(MALFORMED_BODY, status=fault.status or 200, mimetype="application/json")
    if fault.status is not None:
        if fault.status == 429:
            return strava_response(rate_limit_exceeded())
        name = HTTP_STATUS_CODES.get(fault.status, "Error")
        return strava_response(StravaError(fault.status, name, "Sandbox", "fault", "injected"))
    return None


def _before() -> Response | None:
    path = request.path
    if is_control(path):
        return None
    sandbox = get_sandbox()
    g.sandbox_tracked = True
    if is_api(path):
        client_id = _client_of_request(sandbox)
        allowed, usage = sandbox.limiter.hit(
            client_id, request.method, sandbox.now(), sandbox.config, path
        )
        g.sandbox_usage = usage
        if not allowed:
            g.sandbox_rate_limited = True
            return strava_response(rate_limit_exceeded())
    fault = sandbox.faults.take(request.method, path)
    if fault is None:
        return None
    g.sandbox_fault = fault.id
    return _apply_fault(sandbox, fault)


def _after(response: Response) -> Response:
    if not g.get("sandbox_tracked"):
        return response
    sandbox = get_sandbox()
    usage: Usage | None = g.get("sandbox_usage")
    if usage is not None:
        config = sandbox.config
        response.headers["X-RateLimit-Limit"] = header_pair(config.rate_limit_overall)
        response.headers["X-RateLimit-Usage"] = header_pair(usage.overall)
        response.headers["X-ReadRateLimit-Limit"] = header_pair(config.rate_limit_read)
        response.headers["X-ReadRateLimit-Usage"] = header_pair(usage.read)
    sandbox.calls.record(
        endpoint_key(),
        g.get("sandbox_status") or str(response.status_code),
        sandbox.now(),
        rate_limited=bool(g.get("sandbox_rate_limited")),
        fault=g.get("sandbox_fault"),
    )
    return response


def install(app: Flask) -> None:
    """Hook the pipeline into ``app``."""
    app.before_request(_before)
    app.after_request(_after)
