"""PKCE (S256) for a generic provider that supports it, against the sandbox (which checks it)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from auth_gateway.oauth_flow import state_key

from tests.fixtures.sandbox import SandboxHandle
from tests.integration.auth_gateway.gateway import Gateway, GatewayFactory, query


def generic_provider(sandbox: SandboxHandle) -> dict[str, Any]:
    return {
        "club": {
            "authorize_url": f"{sandbox.url}/oauth/authorize",
            "token_url": f"{sandbox.url}/oauth/token",
            "deauthorize_url": f"{sandbox.url}/oauth/deauthorize",
            "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret,
            "client_auth": "client_secret_basic",
            "pkce": True,
            "scopes": ["read", "activity:read"],
            "scope_separator": ",",
            "rotation": "always-single-use",
            "account_id_field": "athlete.id",
        }
    }


def record_token_posts(gateway: Gateway, provider: str) -> list[dict[str, Any]]:
    """Spy on the upstream client: what the gateway actually sent to the token endpoint."""
    upstream = gateway.runtime.upstream(provider)
    sent: list[dict[str, Any]] = []
    original = upstream.request

    def spy(method: str, url: str, **kwargs: Any) -> Any:
        if url.endswith("/oauth/token"):
            sent.append({"data": dict(kwargs.get("data") or {}), "headers": kwargs.get("headers")})
        return original(method, url, **kwargs)

    upstream.request = spy  # type: ignore[method-assign]
    return sent


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_pkce_verifier_reaches_the_token_endpoint(gateway_factory: GatewayFactory) -> None:
    probe = gateway_factory()
    gateway = gateway_factory(providers=json.dumps(generic_provider(probe.sandbox)))
    sent = record_token_posts(gateway, "club")
    authorize_url = gateway.start("club")
    params = query(authorize_url)
    assert params["code_challenge_method"] == "S256"

    response = gateway.callback(gateway.approve(authorize_url))

    assert response.status_code == 200, response.get_data(as_text=True)
    [post] = sent
    assert s256(post["data"]["code_verifier"]) == params["code_challenge"]
    assert post["headers"]["Authorization"].startswith("Basic ")  # client_secret_basic
    assert "client_secret" not in post["data"]
    assert [c.provider for c in gateway.stored()] == ["club"]


def test_wrong_pkce_verifier_is_refused_by_the_provider_and_nothing_stored(
    gateway_factory: GatewayFactory,
) -> None:
    probe = gateway_factory()
    gateway = gateway_factory(providers=json.dumps(generic_provider(probe.sandbox)))
    authorize_url = gateway.start("club")
    key = state_key("club", query(authorize_url)["state"])
    record = json.loads(gateway.runtime.redis.get(key))
    record["code_verifier"] = "x" * 64  # not the one the challenge was made from
    gateway.runtime.redis.set(key, json.dumps(record), ex=600)

    response = gateway.callback(gateway.approve(authorize_url))

    assert response.status_code == 400
    assert gateway.stored() == []


def test_strava_gets_no_pkce_parameters(gateway: Gateway) -> None:
    params = query(gateway.start())
    assert "code_challenge" not in params
