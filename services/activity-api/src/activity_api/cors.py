"""CORS for the public read API: only origins on the allow-list (``PACELINE_CORS_ORIGINS``).

Only the read routes get CORS headers; webhooks, health and metrics are not for browsers.
``Vary: Origin`` is always set on those routes so a CDN never hands one origin's answer to
another.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask, Response, request

PUBLIC_BLUEPRINTS = frozenset({"summary", "activities", "openapi"})
ALLOWED_REQUEST_HEADERS = "If-None-Match, Cache-Control"
EXPOSED_HEADERS = "ETag, Retry-After"


def add_vary_origin(response: Response) -> None:
    """``Vary: Origin`` without werkzeug's HeaderSet round trip (this runs on every read)."""
    vary = response.headers.get("Vary")
    if not vary:
        response.headers["Vary"] = "Origin"
    elif "origin" not in vary.lower():
        response.headers["Vary"] = f"{vary}, Origin"


def init_cors(app: Flask, origins: Iterable[str]) -> None:
    allowed = frozenset(origins)
    any_origin = "*" in allowed

    @app.after_request
    def add_cors_headers(response: Response) -> Response:
        if request.blueprint not in PUBLIC_BLUEPRINTS:
            return response
        add_vary_origin(response)
        origin = request.headers.get("Origin")
        if not origin or not (any_origin or origin in allowed):
            return response
        response.headers["Access-Control-Allow-Origin"] = "*" if any_origin else origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = "GET, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_REQUEST_HEADERS
            response.headers["Access-Control-Max-Age"] = "86400"
        return response
