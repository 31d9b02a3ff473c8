"""Errors as HTML pages for browsers and JSON bodies for API clients.

An error never echoes what the client sent (no state, code or token can come back in a page).
A client gets JSON when it asks for it (``Accept: application/json`` preferred over HTML, or a
JSON request body) or calls a JSON endpoint; browsers get a page that says what to do.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, render_template, request
from paceline.web.app import json_error
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

JSON_ENDPOINTS = {
    "token_import.import_token",
    "status.accounts",
    "openapi.document",
    "health.healthz",
    "health.readyz",
}
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")

TITLES = {
    400: "That request could not be used",
    401: "Sign in required",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    413: "Request too large",
    414: "Address too long",
    415: "Unsupported content type",
    422: "Could not import",
    502: "The provider could not be reached",
    503: "Temporarily unavailable",
}


def wants_json() -> bool:
    if request.endpoint in JSON_ENDPOINTS or request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_response(
    status: int,
    error: str,
    message: str,
    *,
    title: str | None = None,
    html_template: str = "error.html",
    **context: Any,
) -> Any:
    """One error, rendered for whoever asked: JSON ``{error, message, ...}`` or a page."""
    if wants_json():
        extra = {k: v for k, v in context.items() if isinstance(v, (str, int, list, tuple))}
        return json_error(status, error, message, **extra)
    page = render_template(
        html_template,
        status=status,
        error=error,
        title=title or TITLES.get(status, "Something went wrong"),
        message=message,
        **context,
    )
    return page, status


def init_errors(app: Flask) -> None:
    """Replace the base app's JSON-only handlers (same exception classes: these win)."""

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        code = error.code or 500
        name = (error.name or "error").lower().replace(" ", "_")
        response = app.make_response(
            error_response(code, name, error.description or error.name or "error")
        )
        original = error.get_response()
        for header in _KEPT_HEADERS:
            if original.headers.get(header):
                response.headers[header] = original.headers[header]
        return response

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Any:
        log.exception("unhandled error")
        return error_response(
            500, "internal_error", "Something went wrong; the service logs say what."
        )
