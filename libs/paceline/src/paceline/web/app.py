"""The common skeleton of a paceline web service.

:func:`create_base_app` gives a Flask app with the runtime attached, JSON errors that never echo
input or secrets, health, metrics, request timing, a request-size limit and the optional path
prefix (the ingress routes ``/api`` and ``/auth``; the app answers with and without it): the
last three from its WSGI edge (:mod:`paceline.web.edge`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, jsonify
from werkzeug.exceptions import HTTPException

from paceline.runtime import Runtime
from paceline.web.edge import Amend, Edge
from paceline.web.health import init_health
from paceline.web.metrics import init_metrics

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 64 * 1024


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
    import_name: str, service: str, runtime: Runtime, amend: Amend | None = None
) -> Flask:
    """The skeleton, inside its :class:`~paceline.web.edge.Edge`; ``amend`` adds a service's
    own response headers by path (it sees paths without the prefix). A service with a hot
    path sets the edge's ``hot`` once its parts exist (:func:`edge_of`)."""
    app = Flask(import_name)
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app.config["JSON_SORT_KEYS"] = False
    app.extensions["paceline.runtime"] = runtime
    register_json_errors(app)
    init_health(app, redis_ready(runtime))
    init_metrics(app, service, runtime.store, runtime.providers.names())
    app.wsgi_app = Edge(  # type: ignore[method-assign]
        app.wsgi_app,
        metrics_port=runtime.settings.metrics_port,
        collectors=app.extensions["paceline.collectors"],
        prefix=runtime.settings.path_prefix,
        timer=app.extensions["paceline.timer"],
        amend=amend,
        service=service,
    )
    return app


def edge_of(app: Flask) -> Edge:
    edge = app.wsgi_app
    if not isinstance(edge, Edge):
        raise TypeError("the app was not made by create_base_app")
    return edge
