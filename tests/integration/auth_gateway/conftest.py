"""The auth-gateway wired to a real redis-server, a file mirror and the provider sandbox.

``gateway_factory(**settings)`` builds the app (admin password and URLs from ``gateway.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from auth_gateway.app import create_app

from tests.fixtures.runtime import RuntimeFactory
from tests.fixtures.sandbox import SandboxHandle
from tests.integration.auth_gateway.gateway import (
    ADMIN_HASH,
    PREFIX,
    PUBLIC_URL,
    SESSION_SECRET,
    Gateway,
    GatewayFactory,
)


@pytest.fixture
def gateway_factory(
    make_runtime: RuntimeFactory, sandbox: SandboxHandle, mirror_dir: Path
) -> GatewayFactory:
    """Build a gateway against the sandbox; keyword arguments are settings overrides."""
    sandbox.configure(auto_approve=True)

    def build(*, clock: Any = None, **overrides: Any) -> Gateway:
        settings: dict[str, Any] = {
            "strava_client_id": sandbox.client_id,
            "strava_client_secret": sandbox.client_secret,
            "strava_base_url": sandbox.url,
            "public_url": PUBLIC_URL,
            "path_prefix": PREFIX,
            "admin_password_hash": ADMIN_HASH,
            "session_secret": SESSION_SECRET,
            "secret_backend": "file",
            **overrides,
        }
        runtime = make_runtime(clock=clock, **settings)
        app = create_app(runtime=runtime)
        app.testing = True
        gateway = Gateway(app, app.test_client(), runtime, sandbox, mirror_dir)
        # The code exchange's retry waits on the sandbox's clock, not for real.
        app.extensions["auth_gateway.flow"].sleep = gateway.sleep
        return gateway

    return build


@pytest.fixture
def gateway(gateway_factory: GatewayFactory) -> Gateway:
    return gateway_factory()
