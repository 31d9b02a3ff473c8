"""The common skeleton of a paceline web service.

:func:`create_base_app` gives a Flask app with the runtime attached, JSON errors that never echo
input or secrets, health, metrics, request timing, a request-size limit and the optional path
prefix (the ingress routes ``/api`` and ``/auth``; the app answers with and without it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, current_app, jsonify
from werkzeug.exceptions import HTTPException

from paceline.runtime import Runtime
from paceline.web.health import init_health
from paceline.web.metrics import MetricsPort, RequestTimer, init_metrics

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 64 * 1024

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class PathPrefix:
    """Serve the app both at ``/`` and under ``prefix`` (moved into SCRIPT_NAME, so
    ``url_for`` builds prefixed links for requests that came in with it)."""

    def __init__(self, app: WSGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix.rstrip("/")

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if self.prefix and (path == self.prefix or path.startswith(self.prefix + "/")):
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + self.prefix
            environ["PATH_INFO"] = path[len(self.prefix) :] or "/"
        return self.app(environ, start_response)


class NoSniff:
    """``X-Content-Type-Options: nosniff`` on every response (the middleware's own 404s and
    metrics included): a browser never reads JSON or text as script or HTML."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            if not any(name.lower() == "x-content-type-options" for name, _ in headers):
                headers.append(("X-Content-Type-Options", "nosniff"))
            return start_response(status, headers, *exc)

        return self.app(environ, start)


class ServiceApp(Flask):
    """Flask with request timing inside dispatch (:class:`~paceline.web.metrics.RequestTimer`):
    everything from the first ``before_request`` hook to the last ``after_request`` one."""

    def full_dispatch_request(self) -> Response:
        started = time.perf_counter()
        response = super().full_dispatch_request()
        timer: RequestTimer | None = self.extensions.get("paceline.timer")
        if timer is not None:
            timer.observe(response.status_code, time.perf_counter() - started)
        return response


def runtime_of(app: Flask | None = None) -> Runtime:
    runtime: Runtime = (app or current_app).extensions["paceline.runtime"]
    return runtime


def redis_ready(runtime: Runtime) -> Callable[[], str | None]:
    def check() -> str | None:
        try:
            runtime.redis.ping()
        except Exception:
            return "redis unreachable"
        return None

    return check


def json_error(status: int, error: str, message: str, **extra: Any) -> Any:
    response = jsonify(error=error, message=message, **extra)
    response.status_code = status
    return response


def register_json_errors(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        code = error.code or 500
        name = (error.name or "error").lower().replace(" ", "_")
        response = json_error(code, name, error.description or error.name or "error")
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if error.get_response().headers.get(header):
                response.headers[header] = error.get_response().headers[header]
        return response

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Any:
        log.exception("unhandled error")
        return json_error(500, "internal_error", "something went wrong; see the service logs")


def create_base_app(
    import_name: str,
    service: str,
    runtime: Runtime,
    middleware: Iterable[Callable[[WSGIApp], WSGIApp]] = (),
) -> Flask:
    """The skeleton; ``middleware`` wraps the WSGI app innermost first, inside the path prefix
    (so it sees paths without it)."""
    app = ServiceApp(import_name)
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app.config["JSON_SORT_KEYS"] = False
    app.extensions["paceline.runtime"] = runtime
    register_json_errors(app)
    init_health(app, redis_ready(runtime))
    init_metrics(app, service, runtime.store, runtime.providers.names())
    for wrap in middleware:
        app.wsgi_app = wrap(app.wsgi_app)  # type: ignore[method-assign,assignment]
    if runtime.settings.path_prefix:
        app.wsgi_app = PathPrefix(app.wsgi_app, runtime.settings.path_prefix)  # type: ignore[method-assign]
    app.wsgi_app = MetricsPort(  # type: ignore[method-assign]
        app.wsgi_app,
        runtime.settings.metrics_port,
        app.extensions["paceline.collectors"],
        runtime.settings.path_prefix,
    )
    app.wsgi_app = NoSniff(app.wsgi_app)  # type: ignore[method-assign]
    return app
