"""The application factory of auth-gateway: the admin-only OAuth bootstrap.

Routes (each handler in its own module):
``GET /`` status page · ``GET /accounts`` the same as JSON · ``GET /connect/<provider>`` ·
``GET /callback/<provider>`` · ``POST /disconnect/<provider>/<account>`` ·
``POST /import/<provider>`` · ``GET /openapi.json`` · ``/healthz`` ``/readyz``; ``/metrics`` on
the metrics port only.

The client address (what failed logins are throttled by) is the peer's, or comes from
``X-Forwarded-For`` only through werkzeug's ProxyFix with ``PACELINE_TRUSTED_PROXY_HOPS`` proxies
trusted (0 by default: the header is ignored).
"""

from __future__ import annotations

from flask import Flask
from paceline.runtime import Runtime, service_runtime
from paceline.settings import Settings
from paceline.web.app import create_base_app
from werkzeug.middleware.proxy_fix import ProxyFix

from auth_gateway import connect, disconnect, openapi, status, token_import
from auth_gateway.admin_login import init_admin_auth
from auth_gateway.csrf import init_csrf
from auth_gateway.errors import init_errors
from auth_gateway.formatting import init_formatting
from auth_gateway.oauth_flow import AuthorizationFlow, BrowserBinding
from auth_gateway.public_urls import gateway_base
from auth_gateway.security import init_security
from auth_gateway.signing import SessionKey

SERVICE = "auth-gateway"


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> Flask:
    """Build the app; tests pass their own ``settings`` or a whole ``runtime``."""
    runtime = runtime or service_runtime(SERVICE, settings)
    gateway_base(runtime.settings)  # fail at start, naming the variable, without a public URL
    app = create_base_app(__name__, SERVICE, runtime)
    app.jinja_env.autoescape = True  # every template escapes, whatever its file name
    key = SessionKey(runtime)
    app.extensions["auth_gateway.flow"] = AuthorizationFlow(runtime)
    app.extensions["auth_gateway.binding"] = BrowserBinding(key)
    init_security(app)
    init_errors(app)
    init_admin_auth(app, runtime)
    init_csrf(app, key)
    init_formatting(app, runtime.clock)
    for blueprint in (status.bp, connect.bp, disconnect.bp, token_import.bp, openapi.bp):
        app.register_blueprint(blueprint)
    hops = runtime.settings.trusted_proxy_hops
    if hops:  # only X-Forwarded-For: scheme, host and prefix never come from headers
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=0, x_host=0, x_port=0, x_prefix=0
        )
    return app
