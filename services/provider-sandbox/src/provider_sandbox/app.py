"""The Flask application factory.

All state is built here into one ``Sandbox`` object stored in ``app.extensions["sandbox"]``,
so every app is independent and nothing has to be patched in tests.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from . import api, control, control_world, errors, oauth, pipeline, subscriptions
from .clock import Clock
from .config import load_config
from .state import EXTENSION_KEY, Sandbox


def create_app(
    config: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    clock: Clock | None = None,
) -> Flask:
    """Build a sandbox app.

    ``config`` overrides take the lower-case field names of ``POST /_sandbox/config``;
    ``environ`` defaults to ``os.environ`` (pass ``{}`` for hermetic tests); ``clock`` lets
    embedding code supply its own time source.
    """
    settings = load_config(os.environ if environ is None else environ, config)
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep Strava's field order
    app.extensions[EXTENSION_KEY] = Sandbox(settings, clock)
    pipeline.install(app)
    errors.install(app)
    app.register_blueprint(oauth.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(subscriptions.bp)
    app.register_blueprint(control.bp)
    app.register_blueprint(control_world.bp)
    return app
