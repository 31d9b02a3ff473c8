"""Security headers on every response, and limits on what a request may carry.

Pages need no JavaScript at all, so the policy allows none; the one inline stylesheet carries a
per-response nonce. Nothing may frame the gateway, nothing is cached (every page can show
account data or a one-time URL), and no referrer leaves it (the callback URL carries a code).
"""

from __future__ import annotations

import secrets

from flask import Flask, Response, g, request
from werkzeug.exceptions import RequestURITooLarge

MAX_REQUEST_BYTES = 16 * 1024
MAX_QUERY_BYTES = 4 * 1024
MAX_FORM_PARTS = 32


def csp_nonce() -> str:
    nonce: str | None = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(16)
    return nonce


def content_security_policy(nonce: str) -> str:
    return "; ".join(
        [
            "default-src 'none'",
            f"style-src 'nonce-{nonce}'",
            "img-src 'self' data:",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ]
    )


def _limit_query() -> None:
    if len(request.query_string) > MAX_QUERY_BYTES:
        raise RequestURITooLarge("The query string is too long.")


def _headers(response: Response) -> Response:
    headers = response.headers
    headers["Content-Security-Policy"] = content_security_policy(csp_nonce())
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
    headers["Cache-Control"] = "no-store"
    headers["Pragma"] = "no-cache"
    return response


def init_security(app: Flask) -> None:
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app.config["MAX_FORM_MEMORY_SIZE"] = MAX_REQUEST_BYTES
    app.config["MAX_FORM_PARTS"] = MAX_FORM_PARTS
    app.before_request(_limit_query)
    app.after_request(_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
