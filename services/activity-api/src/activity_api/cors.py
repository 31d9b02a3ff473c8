"""CORS for the public read API: only origins on the allow-list (``PACELINE_CORS_ORIGINS``).

Only the read routes (``/v1/...`` and ``/openapi.json``) get CORS headers; webhooks, health,
metrics and the widget's own files are not fetched cross-origin. ``Vary: Origin`` is always set
on those routes so a CDN never hands one origin's answer to another.

It is WSGI middleware rather than an ``after_request`` hook: every widget view passes here, and
appending ready-made pairs to the header list ``start_response`` gets costs far less than a
Flask hook setting werkzeug ``Headers`` one by one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from paceline.web.app import StartResponse, WSGIApp

PUBLIC_PATHS = ("/v1/", "/openapi.json")
ALLOWED_REQUEST_HEADERS = "If-None-Match, Cache-Control"
EXPOSED_HEADERS = "ETag, Retry-After"
PREFLIGHT = [
    ("Access-Control-Allow-Methods", "GET, OPTIONS"),
    ("Access-Control-Allow-Headers", ALLOWED_REQUEST_HEADERS),
    ("Access-Control-Max-Age", "86400"),
]

Header = tuple[str, str]


def add_vary_origin(headers: list[Header]) -> None:
    """Add ``Origin`` to the response's ``Vary`` (a header of its own when there is none)."""
    for index, (name, value) in enumerate(headers):
        if name.lower() == "vary":
            if "origin" not in value.lower():
                headers[index] = (name, f"{value}, Origin")
            return
    headers.append(("Vary", "Origin"))


class Cors:
    def __init__(self, app: WSGIApp, origins: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(origins)
        self.any_origin = "*" in self.allowed

    def cors_headers(self, origin: str | None, preflight: bool) -> list[Header]:
        """What a request from ``origin`` is told, beyond ``Vary: Origin``."""
        if not origin or not (self.any_origin or origin in self.allowed):
            return []
        allow = "*" if self.any_origin else origin
        headers = [
            ("Access-Control-Allow-Origin", allow),
            ("Access-Control-Expose-Headers", EXPOSED_HEADERS),
        ]
        return headers + PREFLIGHT if preflight else headers

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not environ.get("PATH_INFO", "").startswith(PUBLIC_PATHS):
            return self.app(environ, start_response)
        extra = self.cors_headers(
            environ.get("HTTP_ORIGIN"), environ.get("REQUEST_METHOD") == "OPTIONS"
        )

        def start(status: str, headers: list[Header], exc_info: Any = None) -> Any:
            add_vary_origin(headers)
            headers.extend(extra)
            return start_response(status, headers, exc_info)

        return self.app(environ, start)
