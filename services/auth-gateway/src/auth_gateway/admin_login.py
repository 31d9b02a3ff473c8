"""Admin authentication: on every route except the provider callback and health.

Two ways in, both checked in constant time:

* HTTP Basic against ``PACELINE_ADMIN_PASSWORD_HASH`` (a werkzeug scrypt/pbkdf2 hash; there is
  no default password). The user name is compared with ``hmac.compare_digest`` and the password
  hash is checked even when the name is wrong, so timing tells nothing about either. Failures
  are throttled per client address and per user name (:mod:`auth_gateway.throttle`): a
  locked-out attempt answers 429 before any hash is computed.
* A trusted auth-proxy header (``PACELINE_TRUSTED_AUTH_HEADER``, e.g. oauth2-proxy's
  ``X-Auth-Request-Email``), honoured only with proof that the request came through the proxy:
  the shared secret ``PACELINE_TRUSTED_PROXY_SECRET`` in ``PACELINE_TRUSTED_PROXY_SECRET_HEADER``
  (which the proxy adds; compared in constant time), and only for identities listed in
  ``PACELINE_ADMIN_EMAILS``. A request that carries the identity header without the proof is
  refused outright (403), whatever else it carries.

Views opt out with :func:`public` (the callback, which is protected by state and cookie
instead) or :func:`public_with_open_signup` (``/connect`` when clubs let anyone sign up).
``/metrics`` is not here at all: it answers only on the metrics port (see
:mod:`paceline.web.metrics`), before this check runs.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, current_app, g, request
from paceline import metrics
from paceline.runtime import Runtime
from paceline.settings import Settings
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Forbidden, TooManyRequests, Unauthorized
from werkzeug.security import check_password_hash, generate_password_hash

from auth_gateway.throttle import LoginThrottle

log = logging.getLogger(__name__)

REALM = "paceline auth-gateway"
ALWAYS_PUBLIC = {"health.healthz", "health.readyz"}
View = TypeVar("View", bound=Callable[..., Any])
LOGIN_FAILURE_REASONS = ("bad_credentials", "throttled", "proxy_unproven", "not_admin")


def public(view: View) -> View:
    """No admin authentication for this view."""
    view.admin_exempt = "always"  # type: ignore[attr-defined]
    return view


def public_with_open_signup(view: View) -> View:
    """No admin authentication for this view when ``PACELINE_OPEN_SIGNUP`` is on."""
    view.admin_exempt = "open_signup"  # type: ignore[attr-defined]
    return view


@dataclass(frozen=True)
class Admin:
    name: str
    via: str  # "basic" or "proxy"


class NotConfigured(Forbidden):
    description = (
        "Admin access is not configured. Set PACELINE_ADMIN_PASSWORD_HASH (make one with "
        "`paceline hash-password`), PACELINE_ADMIN_PASSWORD, or PACELINE_TRUSTED_AUTH_HEADER "
        "behind an auth proxy."
    )


class ProxyUnproven(Forbidden):
    description = "The auth header did not come through the auth proxy; request refused."


class TooManyLogins(TooManyRequests):
    description = "Too many failed sign-ins; try again later."


class AdminAuth:
    def __init__(self, settings: Settings, throttle: LoginThrottle) -> None:
        self.throttle = throttle
        self.proxy_secret = (
            settings.trusted_proxy_secret.get_secret_value().encode()
            if settings.trusted_proxy_secret
            else None
        )
        self.proxy_secret_header = settings.trusted_proxy_secret_header
        self.admin_emails = frozenset(settings.admin_emails)
        self.user = settings.admin_user
        self.password_hash = (
            settings.admin_password_hash.get_secret_value()
            if settings.admin_password_hash
            else None
        )
        if settings.admin_password is not None:
            # A plain password (the chart's generated one): hashed here, kept only as the hash.
            self.password_hash = generate_password_hash(settings.admin_password.get_secret_value())
        self.header = settings.trusted_auth_header or None
        self.open_signup = settings.open_signup
        # Checked when the user name is wrong, with the same method and cost as the real hash,
        # so a wrong name takes as long as a wrong password.
        self._decoy_hash = (
            generate_password_hash(secrets.token_urlsafe(16), self.password_hash.split("$")[0])
            if self.password_hash
            else None
        )

    @property
    def configured(self) -> bool:
        return bool(self.password_hash or self.header)

    def exempt(self, endpoint: str | None) -> bool:
        if endpoint is None:
            return False  # unknown routes need admin too: no probing for what exists
        if endpoint in ALWAYS_PUBLIC:
            return True
        view = current_app.view_functions.get(endpoint)
        mode = getattr(view, "admin_exempt", None)
        return mode == "always" or (mode == "open_signup" and self.open_signup)

    def _proxy_admin(self, value: str) -> Admin:
        """The identity header is present: honoured only with the proxy's proof, and only for
        a listed admin; anything else is refused (never a fall-through to Basic)."""
        proof = request.headers.get(self.proxy_secret_header, "").encode()
        if self.proxy_secret is None or not hmac.compare_digest(proof, self.proxy_secret):
            metrics.LOGIN_FAILURES.labels("proxy_unproven").inc()
            log.warning(
                "auth header without the proxy's proof refused",
                extra={"remote_addr": request.remote_addr, "path": request.path},
            )
            raise ProxyUnproven()
        if value.lower() not in self.admin_emails:
            metrics.LOGIN_FAILURES.labels("not_admin").inc()
            raise Forbidden("Signed in through the auth proxy, but not as a paceline admin.")
        return Admin(name=value[:256], via="proxy")

    def identify(self) -> Admin | None:
        """The admin making this request, or None."""
        if self.header:
            value = request.headers.get(self.header, "").strip()
            if value:
                return self._proxy_admin(value)
        auth = request.authorization
        if self.password_hash and auth is not None and auth.type == "basic":
            address = request.remote_addr or "unknown"
            username = auth.username or ""
            wait = self.throttle.retry_after(address, username)
            if wait:  # answered before any hash is computed
                raise TooManyLogins(retry_after=wait)
            name = username.encode()
            password = auth.password or ""
            name_ok = hmac.compare_digest(name, self.user.encode())
            password_ok = check_password_hash(
                self.password_hash if name_ok else str(self._decoy_hash), password
            )
            if name_ok and password_ok:
                self.throttle.succeeded(address, username)
                return Admin(name=self.user, via="basic")
            locked = self.throttle.failed(address, username)
            log.warning(
                "admin authentication failed",
                extra={"remote_addr": address, "path": request.path, "locked_seconds": locked},
            )
        return None

    def require(self) -> None:
        """Before every request: let it through, or raise 401/403."""
        if self.exempt(request.endpoint):
            g.admin = None
            return
        if not self.configured:
            raise NotConfigured()
        admin = self.identify()
        if admin is None:
            if self.password_hash:
                raise Unauthorized(
                    "Sign in as the paceline admin to use this page.",
                    www_authenticate=_challenge(),
                )
            raise Forbidden("Sign in through the auth proxy in front of this gateway.")
        g.admin = admin


def _challenge() -> WWWAuthenticate:
    return WWWAuthenticate("basic", {"realm": REALM, "charset": "UTF-8"})


def init_admin_auth(app: Flask, runtime: Runtime) -> AdminAuth:
    settings = runtime.settings
    auth = AdminAuth(settings, LoginThrottle.from_settings(runtime.redis, runtime.clock, settings))
    app.extensions["auth_gateway.admin"] = auth
    for reason in LOGIN_FAILURE_REASONS:  # exported from zero, so the first one shows in rate()
        metrics.LOGIN_FAILURES.labels(reason)
    app.before_request(auth.require)
    app.jinja_env.globals["current_admin"] = current_admin
    if not auth.configured:
        log.warning(
            "no admin authentication configured: every admin page answers 403 until "
            "PACELINE_ADMIN_PASSWORD_HASH or PACELINE_TRUSTED_AUTH_HEADER is set"
        )
    return auth


def current_admin() -> Admin | None:
    admin: Admin | None = g.get("admin")
    return admin
