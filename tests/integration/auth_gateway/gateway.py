"""``Gateway``: the Flask test client of an auth-gateway with the steps of the browser flow.

Each test reads as the story it tells: connect, let the sandbox approve, come back to the
callback, look at what was stored. The fixtures that build one are in ``conftest.py``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from flask import Flask
from flask.testing import FlaskClient
from paceline.credential import Credential
from paceline.mirror import FileMirror
from paceline.runtime import Runtime
from werkzeug.security import generate_password_hash
from werkzeug.test import TestResponse

from tests.fixtures.sandbox import SandboxHandle

ADMIN_PASSWORD = "correct horse battery staple"
# pbkdf2 with few rounds keeps the suite fast; production hashes are scrypt (hash-password).
ADMIN_HASH = generate_password_hash(ADMIN_PASSWORD, "pbkdf2:sha256:1000")
PUBLIC_URL = "https://fit.example.test"
PREFIX = "/auth"
GATEWAY = PUBLIC_URL + PREFIX
SESSION_SECRET = "test-session-secret-" + "x" * 32


def basic(user: str, password: str) -> dict[str, str]:
    pair = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


ADMIN = basic("admin", ADMIN_PASSWORD)


@dataclass
class Gateway:
    app: Flask
    client: FlaskClient
    runtime: Runtime
    sandbox: SandboxHandle
    mirror_dir: Path
    slept: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        """The gateway's injected sleeper: recorded, and the sandbox's clock moves instead."""
        self.slept.append(seconds)
        self.sandbox.advance(seconds)

    # --- requests through the gateway, as the browser at PUBLIC_URL would make them -----------
    def get(self, url: str, *, admin: bool = True, **kwargs: Any) -> TestResponse:
        return self._open("GET", url, admin=admin, **kwargs)

    def post(self, url: str, *, admin: bool = True, **kwargs: Any) -> TestResponse:
        return self._open("POST", url, admin=admin, **kwargs)

    def _open(self, method: str, url: str, *, admin: bool, **kwargs: Any) -> TestResponse:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {**(ADMIN if admin else {}), **kwargs.pop("headers", {})}
        return self.client.open(path, method=method, base_url=PUBLIC_URL, headers=headers, **kwargs)

    # --- the browser flow -----------------------------------------------------------------------
    def start(self, provider: str = "strava", **kwargs: Any) -> str:
        """GET /connect; returns the provider authorize URL the gateway redirected to."""
        response = self.get(f"{PREFIX}/connect/{provider}", **kwargs)
        assert response.status_code == 302, response.get_data(as_text=True)
        return str(response.headers["Location"])

    def approve(self, authorize_url: str) -> str:
        """The sandbox's (auto-approving) authorize page; returns the callback URL it sends to."""
        answer = requests.get(authorize_url, allow_redirects=False, timeout=10)
        assert answer.status_code == 302, answer.text
        return str(answer.headers["Location"])

    def callback(self, url: str, **kwargs: Any) -> TestResponse:
        return self.get(url, admin=False, **kwargs)

    def connect(self, provider: str = "strava") -> TestResponse:
        return self.callback(self.approve(self.start(provider)))

    # --- what happened --------------------------------------------------------------------------
    def stored(self, provider: str | None = None) -> list[Credential]:
        return self.runtime.store.list(provider)

    def mirrored(self) -> list[Credential]:
        return FileMirror(self.mirror_dir).load_all()

    def token_posts(self) -> int:
        return int(self.sandbox.calls()["by_endpoint"].get("POST /oauth/token", 0))

    def deauthorizations(self) -> int:
        return int(self.sandbox.calls()["by_endpoint"].get("POST /oauth/deauthorize", 0))

    def csrf_token(self) -> str:
        page = self.get(f"{PREFIX}/").get_data(as_text=True)
        match = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert match, "the status page has no form with a CSRF token"
        return match.group(1)


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    params = {**query(url), **changes}
    return parts._replace(query=urlencode(params)).geturl()


GatewayFactory = Callable[..., Gateway]
