"""The application factory of auth-gateway."""

from __future__ import annotations

from flask import Flask

from paceline.runtime import Runtime
from paceline.settings import Settings
from paceline.web.app import create_base_app, service_runtime

SERVICE = "auth-gateway"


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> Flask:
    """Build the app; tests pass their own ``settings`` or a whole ``runtime``."""
    app = create_base_app(__name__, SERVICE, runtime or service_runtime(SERVICE, settings))
    return app
