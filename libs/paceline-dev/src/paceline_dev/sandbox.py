"""A client of a running provider sandbox's control API (``/_sandbox/...``), and storing the
token pairs it issues as the auth-gateway stores a callback's.

The tests' ``SandboxHandle`` builds its helpers on :class:`SandboxClient`; the benchmarks use
it as it is. HTTP only, so it works against a sandbox in this process or another one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

import requests
from paceline.credential_intake import store_tokens
from paceline.oauth import TokenResponse
from paceline.runtime import Runtime


class SandboxControlError(AssertionError):
    """A control call failed; the message carries the sandbox's answer."""


@dataclass
class SandboxClient:
    """A sandbox at ``url`` and the application credentials it accepts."""

    url: str
    client_id: str = ""
    client_secret: str = ""
    session: requests.Session = field(default_factory=requests.Session)

    @classmethod
    def connect(cls, url: str) -> Self:
        """A client for a sandbox started elsewhere; reads its application credentials."""
        client = cls(url.rstrip("/"))
        config = client.control("GET", "/config")
        client.client_id, client.client_secret = config["client_id"], config["client_secret"]
        return client

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v3"

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call ``/_sandbox{path}``; raise with the sandbox's error text on 4xx/5xx."""
        response = self.session.request(method, f"{self.url}/_sandbox{path}", timeout=30, **kwargs)
        if response.status_code >= 400:
            raise SandboxControlError(
                f"{method} /_sandbox{path} -> {response.status_code}: {response.text}"
            )
        return response.json() if response.content else None

    @property
    def default_athlete_id(self) -> int:
        """The athlete auto-approval logs in as (the first seeded one unless configured)."""
        configured = self.control("GET", "/config")["default_athlete_id"]
        if configured is not None:
            return int(configured)
        return int(min(a["id"] for a in self.control("GET", "/athletes")))

    def add_activity(
        self, athlete_id: int | None = None, *, emit_webhook: bool = False, **fields: Any
    ) -> dict[str, Any]:
        """Add one activity (defaults filled by the sandbox); returns its detailed JSON."""
        body = {**fields, "emit_webhook": emit_webhook}
        result: dict[str, Any] = self.control(
            "POST", f"/athletes/{athlete_id or self.default_athlete_id}/activities", json=body
        )
        return result

    def now(self) -> float:
        return float(self.control("GET", "/clock")["now"])

    def advance(self, seconds: float) -> float:
        """Move the sandbox clock; returns the new now."""
        return float(self.control("POST", "/clock", json={"advance_seconds": seconds})["now"])

    def calls(self) -> dict[str, Any]:
        result: dict[str, Any] = self.control("GET", "/calls")
        return result

    def api_calls(self) -> int:
        """Calls answered under ``/api/v3`` (token posts are not API calls)."""
        return sum(n for k, n in self.calls()["by_endpoint"].items() if " /api/v3/" in k)


def store_issued(runtime: Runtime, issued: Mapping[str, Any]) -> str:
    """Store a pair the sandbox issued (``POST /_sandbox/tokens``) as the auth-gateway stores
    what a callback's code exchange returned; the account id."""
    account = str(issued["athlete_id"])
    tokens = TokenResponse(
        access_token=issued["access_token"],
        refresh_token=issued["refresh_token"],
        expires_at=float(issued["expires_at"]),
        scopes=tuple(issued["scope"].split(",")),
        account_id=account,
        display_name=None,
        rotated=False,
    )
    store_tokens(runtime, "strava", account, tokens)
    return account
