"""Error bodies: Strava's ``{"message", "errors": [...]}`` shape and the control API's own.

Provider endpoints answer exactly like Strava so client error handling is exercised for
real; control endpoints answer ``{"error", "field"}`` because they are the sandbox's own.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from .config import ConfigError
from .validation import InputError
from .world import RecordNotFoundError

CONTROL_PREFIX = "/_sandbox"
API_PREFIX = "/api/v3"


class StravaError(Exception):
    """Raised by provider views; rendered as Strava's error JSON with ``status``."""

    def __init__(self, status: int, message: str, resource: str, field: str, code: str) -> None:
        super().__init__(f"{status} {message}: {resource}.{field} {code}")
        self.status = status
        self.body: dict[str, Any] = {
            "message": message,
            "errors": [{"resource": resource, "field": field, "code": code}],
        }


def strava_response(error: StravaError) -> Response:
    response = jsonify(error.body)
    response.status_code = error.status
    return response


def invalid_access_token() -> StravaError:
    return StravaError(401, "Authorization Error", "Athlete", "access_token", "invalid")


def missing_permission(permission: str) -> StravaError:
    """A valid token whose grant lacks the endpoint's scope (e.g. listing activities without
    activity:read): 401 with resource AccessToken, field ``<scope>_permission``, code missing.
    Source: github.com/node-strava/node-strava-v3/issues/97 and
    github.com/iamstuartwilson/strava/issues/51 quote real Strava's body."""
    return StravaError(401, "Authorization Error", "AccessToken", permission, "missing")


def wrong_client_secret() -> StravaError:
    """Strava's answer to a token request with a wrong (or rotated) client secret: the error is
    the application's, with an empty field. Source: the body real Strava returns, quoted in
    github.com/iamstuartwilson/strava/issues/28 and github.com/node-strava/node-strava-v3/
    issues/37. A bad client id is 400 with field ``client_id`` (github.com/zoffline/
    zwift-offline/issues/418; see :func:`bad_request`)."""
    return StravaError(401, "Authorization Error", "Application", "", "invalid")


def bad_request(resource: str, field: str, code: str = "invalid") -> StravaError:
    return StravaError(400, "Bad Request", resource, field, code)


def record_not_found(resource: str, field: str = "id") -> StravaError:
    return StravaError(404, "Record Not Found", resource, field, "invalid")


def rate_limit_exceeded() -> StravaError:
    return StravaError(429, "Rate Limit Exceeded", "Application", "rate limit", "exceeded")


def control_error(message: str, field: str | None = None, status: int = 400) -> Response:
    body: dict[str, Any] = {"error": message}
    if field is not None:
        body["field"] = field
    response = jsonify(body)
    response.status_code = status
    return response


def install(app: Flask) -> None:
    """Register handlers so every error leaves in the right dialect for its endpoint."""

    @app.errorhandler(StravaError)
    def _strava(error: StravaError) -> Response:
        return strava_response(error)

    @app.errorhandler(InputError)
    def _input(error: InputError) -> Response:
        return control_error(error.message, error.field)

    @app.errorhandler(ConfigError)
    def _config(error: ConfigError) -> Response:
        return control_error(error.message, error.field)

    @app.errorhandler(RecordNotFoundError)
    def _unknown(error: RecordNotFoundError) -> Response:
        return control_error(str(error), status=404)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response | HTTPException:
        path = request.path
        status = error.code or 500
        if path.startswith(CONTROL_PREFIX):
            return control_error(error.description or error.name, status=status)
        if path.startswith((API_PREFIX, "/oauth")):
            if status == 404:
                return strava_response(record_not_found("resource", "path"))
            return strava_response(StravaError(status, error.name, "Request", "method", "invalid"))
        return error
