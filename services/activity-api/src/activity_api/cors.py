"""CORS for the public read API: only origins on the allow-list (``PACELINE_CORS_ORIGINS``).

Only the read routes (``/v1/...`` and ``/openapi.json``) get CORS headers; webhooks, health,
metrics and the widget's own files are not fetched cross-origin. ``Vary: Origin`` is always set
on those routes so a CDN never hands one origin's answer to another.

It amends the header list the server is handed (:class:`paceline.web.edge.Edge`'s ``amend``)
rather than being an ``after_request`` hook: every widget view passes here, and appending
ready-made pairs to that list costs far less than a Flask hook setting werkzeug ``Headers`` one
by one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

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
    def __init__(self, origins: Iterable[str]) -> None:
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

    def amend(self, environ: dict[str, Any]) -> Callable[[list[Header]], None] | None:
        """What to add to the answer of this request: nothing off the public read paths."""
        if not environ.get("PATH_INFO", "").startswith(PUBLIC_PATHS):
            return None
        extra = self.cors_headers(
            environ.get("HTTP_ORIGIN"), environ.get("REQUEST_METHOD") == "OPTIONS"
        )

        def add(headers: list[Header]) -> None:
            add_vary_origin(headers)
            headers.extend(extra)

        return add
