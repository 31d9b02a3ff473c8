"""``GET /connect/<provider>`` and ``GET /callback/<provider>``: the browser OAuth flow.

The checks themselves live in :mod:`auth_gateway.oauth_flow` (shared with
``paceline connect``); this module only moves the binding nonce in and out of its cookie and
renders the outcome.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app, make_response, redirect, render_template, request
from paceline.providers import UnknownProvider
from paceline.web.app import runtime_of

from auth_gateway.admin_login import public, public_with_open_signup
from auth_gateway.errors import error_response
from auth_gateway.oauth_flow import (
    BINDING_COOKIE,
    STATE_TTL_SECONDS,
    AuthorizationFlow,
    AuthorizationRejected,
    BrowserBinding,
)
from auth_gateway.public_urls import cookie_path, redirect_uri, secure_cookies

log = logging.getLogger(__name__)

bp = Blueprint("connect", __name__)


def flow() -> AuthorizationFlow:
    value: AuthorizationFlow = current_app.extensions["auth_gateway.flow"]
    return value


def browser_binding() -> BrowserBinding:
    value: BrowserBinding = current_app.extensions["auth_gateway.binding"]
    return value


def _unknown_provider(provider: str) -> Any:
    return error_response(
        404,
        "unknown_provider",
        "No provider of that name is configured here.",
        title="Unknown provider",
    )


@bp.get("/connect/<provider>")
@public_with_open_signup
def start(provider: str) -> Any:
    """Redirect to the provider with a fresh one-time state bound to this browser."""
    runtime = runtime_of()
    if provider not in runtime.providers:
        return _unknown_provider(provider)
    settings = runtime.settings
    nonce = browser_binding().reuse_or_new(request.cookies.get(BINDING_COOKIE))
    try:
        begun = flow().begin(provider, redirect_uri=redirect_uri(settings, provider), binding=nonce)
    except AuthorizationRejected as refused:  # too many pending states (open signup)
        return error_response(refused.status, refused.reason, refused.message, title="Busy")
    response = redirect(begun.url, code=302)
    response.set_cookie(
        BINDING_COOKIE,
        browser_binding().seal(nonce),
        max_age=STATE_TTL_SECONDS,
        path=cookie_path(settings),
        secure=secure_cookies(settings),
        httponly=True,
        # Lax, not Strict: the provider sends the browser back with a top-level cross-site
        # navigation, and a Strict cookie would be withheld from exactly that request.
        samesite="Lax",
    )
    return response


@bp.get("/callback/<provider>")
@public
def callback(provider: str) -> Any:
    """Verify state and cookie, then exchange, check and store (see oauth_flow.py)."""
    runtime = runtime_of()
    try:
        runtime.providers.get(provider)
    except UnknownProvider:
        return _unknown_provider(provider)
    params = {
        name: request.args.get(name, "")
        for name in ("state", "code", "scope", "error")
        if name in request.args
    }
    try:
        cookie = request.cookies.get(BINDING_COOKIE)
        nonce = browser_binding().open(cookie) if cookie else None
        connected = flow().complete(provider, params, binding=nonce)
    except AuthorizationRejected as rejected:
        return error_response(
            rejected.status,
            rejected.reason,
            rejected.message,
            title="Not connected",
            provider=provider,
            missing_scopes=list(rejected.missing_scopes),
            retry=True,
        )
    return make_response(
        render_template(
            "connected.html",
            connected=connected,
            status_link=not runtime.settings.open_signup,  # members of a club are not admins
        )
    )
