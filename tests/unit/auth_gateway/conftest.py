"""auth-gateway apps on fakeredis, for tests of plain request handling (no Lua, locks or TTLs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fakeredis
import pytest
from auth_gateway.app import create_app
from flask import Flask
from paceline.clock import ManualClock
from paceline.mirror import NullMirror
from paceline.runtime import build_runtime
from paceline.settings import load_settings

from tests.integration.auth_gateway.gateway import ADMIN_HASH, PUBLIC_URL, SESSION_SECRET

AppFactory = Callable[..., Flask]


@pytest.fixture
def make_app(clean_env: None) -> AppFactory:
    def build(*, clock: Any = None, **overrides: Any) -> Flask:
        settings = load_settings(
            **{
                "public_url": PUBLIC_URL,
                "path_prefix": "/auth",
                "admin_password_hash": ADMIN_HASH,
                "session_secret": SESSION_SECRET,
                "strava_client_id": "12345",
                "strava_client_secret": "unit-test-client-secret",
                "strava_base_url": "http://127.0.0.1:9",
                **overrides,
            }
        )
        runtime = build_runtime(
            settings,
            redis_client=fakeredis.FakeRedis(),
            mirror=NullMirror(),
            clock=clock or ManualClock(),
        )
        app = create_app(runtime=runtime)
        app.testing = True
        return app

    return build


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app()
