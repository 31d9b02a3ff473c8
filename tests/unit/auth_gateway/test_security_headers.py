"""Security headers on every response; request limits; JSON errors for API clients."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.integration.auth_gateway.gateway import ADMIN

REQUESTS = [
    ("GET", "/auth/", ADMIN),
    ("GET", "/auth/", {}),
    ("GET", "/auth/accounts", ADMIN),
    ("GET", "/auth/openapi.json", ADMIN),
    ("GET", "/auth/healthz", {}),
    ("GET", "/metrics", {}),
    ("GET", "/auth/metrics", ADMIN),
    ("GET", "/auth/connect/strava", ADMIN),
    ("GET", "/auth/callback/strava?state=x&code=y", {}),
    ("POST", "/auth/import/strava", ADMIN),
    ("POST", "/auth/disconnect/strava/1", ADMIN),
    ("GET", "/auth/nowhere", ADMIN),
]


@pytest.mark.parametrize(("method", "path", "headers"), REQUESTS)
def test_every_response_carries_the_security_headers(
    app: Flask, method: str, path: str, headers: dict[str, str]
) -> None:
    response = app.test_client().open(path, method=method, headers=headers)
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "script-src" not in csp  # no JavaScript is allowed at all
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"


def test_inline_style_carries_this_responses_nonce(app: Flask) -> None:
    response = app.test_client().get("/auth/nowhere", headers=ADMIN)
    nonce = response.headers["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
    assert f'<style nonce="{nonce}">' in response.get_data(as_text=True)


def test_errors_are_json_for_api_clients_and_html_for_browsers(app: Flask) -> None:
    client = app.test_client()
    api = client.get("/auth/nowhere", headers={**ADMIN, "Accept": "application/json"})
    assert api.status_code == 404 and api.is_json
    assert set(api.get_json()) == {"error", "message"}
    browser = client.get("/auth/nowhere", headers={**ADMIN, "Accept": "text/html,*/*;q=0.8"})
    assert browser.status_code == 404 and browser.mimetype == "text/html"
    assert "Not found" in browser.get_data(as_text=True)
    unauthorized = client.get("/auth/", headers={"Accept": "application/json"})
    assert unauthorized.status_code == 401 and unauthorized.get_json()["error"] == "unauthorized"
    assert unauthorized.headers["WWW-Authenticate"].startswith("Basic")


def test_request_size_limits(app: Flask) -> None:
    client = app.test_client()
    big = client.post("/auth/import/strava", headers=ADMIN, json={"refresh_token": "a" * 20_000})
    assert big.status_code == 413 and big.is_json
    long_query = client.get("/auth/callback/strava?state=" + "s" * 5000)
    assert long_query.status_code == 414
    form = client.post(
        "/auth/disconnect/strava/1", headers=ADMIN, data={"csrf_token": "t" * 20_000}
    )
    assert form.status_code == 413
