"""Health as explicit state.

``/healthz``: the process is alive. ``/readyz``: it can serve (Redis answers) and is not
draining. On SIGTERM a worker flips to draining so the load balancer stops sending it traffic
while in-flight requests finish (the chart's preStop pause covers the endpoint update delay).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify


class Health:
    def __init__(self, check_ready: Callable[[], str | None]) -> None:
        self._draining = threading.Event()
        self._check_ready = check_ready

    @property
    def draining(self) -> bool:
        return self._draining.is_set()

    def start_draining(self) -> None:
        self._draining.set()

    def readiness(self) -> str | None:
        """None when ready, else a short reason."""
        if self.draining:
            return "draining"
        return self._check_ready()

    def chain_sigterm(self) -> None:
        """Set draining first on SIGTERM, then run whatever handler was there (gunicorn's)."""
        previous = signal.getsignal(signal.SIGTERM)

        def handler(signum: int, frame: FrameType | None) -> Any:
            self.start_draining()
            if callable(previous):
                return previous(signum, frame)
            raise SystemExit(0)

        signal.signal(signal.SIGTERM, handler)


bp = Blueprint("health", __name__)


def _health() -> Health:
    health: Health = current_app.extensions["paceline.health"]
    return health


@bp.get("/healthz")
def healthz() -> Any:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Any:
    reason = _health().readiness()
    if reason:
        return jsonify(status="not ready", reason=reason), 503
    return jsonify(status="ready")


def init_health(app: Flask, check_ready: Callable[[], str | None]) -> Health:
    health = Health(check_ready)
    app.extensions["paceline.health"] = health
    app.register_blueprint(bp)
    return health
