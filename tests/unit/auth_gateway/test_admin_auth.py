"""Admin authentication: Basic against the hash, the proxy header only when enabled."""

from __future__ import annotations

import auth_gateway.admin_login as admin_login
import pytest
from flask import Flask
from paceline.settings import ConfigError

from tests.integration.auth_gateway.gateway import ADMIN, ADMIN_PASSWORD, basic
from tests.unit.auth_gateway.conftest import AppFactory

PAGE = "/auth/openapi.json"  # an admin page that needs no Redis


def test_basic_auth_with_the_right_password_gets_in(app: Flask) -> None:
    assert app.test_client().get(PAGE, headers=ADMIN).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic("admin", "wrong"),
        basic("someone", ADMIN_PASSWORD),
        basic("admin", ""),
        {"Authorization": "Bearer abcdefghijklmnop"},
        {"Authorization": "Basic !!!not-base64"},
    ],
)
def test_anything_else_is_a_401_with_a_basic_challenge(app: Flask, headers: dict[str, str]) -> None:
    response = app.test_client().get("/auth/", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Basic realm="paceline auth-gateway"')
    assert "Sign in as the paceline admin" in response.get_data(as_text=True)


def test_only_callback_and_health_are_open(app: Flask) -> None:
    client = app.test_client()
    opened = {}
    for rule in app.url_map.iter_rules():
        path = "/auth" + rule.rule.replace("<provider>", "strava").replace("<account>", "1")
        method = "POST" if "POST" in rule.methods else "GET"
        opened[rule.endpoint] = client.open(path, method=method).status_code != 401
    assert {e for e, is_open in opened.items() if is_open} == {
        "health.healthz",
        "health.readyz",
        "connect.callback",
    }
    assert client.get("/nothing-here").status_code == 401  # no probing for what exists


def test_metrics_answer_only_on_the_metrics_port(app: Flask) -> None:
    client = app.test_client()
    for path in ("/metrics", "/auth/metrics"):
        assert client.get(path).status_code == 404, path
        assert client.get(path, headers=ADMIN).status_code == 404, "not even for the admin"
    scrape = client.get("/metrics", base_url="http://localhost:9090")
    assert scrape.status_code == 200
    assert "paceline_tokens" in scrape.get_data(as_text=True)
    assert client.get("/auth/", base_url="http://localhost:9090").status_code == 404


PROXY_SECRET = "proxy-secret-for-tests-xxxxxxxxxxxxxxxxxxxx"
PROXIED = {"trusted_proxy_secret": PROXY_SECRET, "admin_emails": "Owner@Example.com"}
PROOF = {"X-Paceline-Proxy-Secret": PROXY_SECRET}


def test_trusted_header_is_ignored_unless_enabled(make_app: AppFactory) -> None:
    header = {"X-Auth-Request-Email": "owner@example.com"}
    assert make_app().test_client().get(PAGE, headers={**header, **PROOF}).status_code == 401
    enabled = make_app(trusted_auth_header="X-Auth-Request-Email", **PROXIED).test_client()
    assert enabled.get(PAGE, headers={**header, **PROOF}).status_code == 200
    assert enabled.get(PAGE, headers={"X-Auth-Request-Email": " "}).status_code == 401
    assert enabled.get(PAGE, headers=ADMIN).status_code == 200  # Basic still works


def test_trusted_header_without_the_proxy_secret_is_refused(make_app: AppFactory) -> None:
    client = make_app(trusted_auth_header="X-Auth-Request-Email", **PROXIED).test_client()
    header = {"X-Auth-Request-Email": "owner@example.com"}
    for proof in ({}, {"X-Paceline-Proxy-Secret": "guess"}, {"X-Paceline-Proxy-Secret": ""}):
        response = client.get(PAGE, headers={**header, **proof})
        assert response.status_code == 403, proof
        assert PROXY_SECRET not in response.get_data(as_text=True)
    # A forged identity header is refused even next to a valid password: no fall-through.
    assert client.get(PAGE, headers={**header, **ADMIN}).status_code == 403


def test_only_listed_admins_pass_the_proxy(make_app: AppFactory) -> None:
    client = make_app(trusted_auth_header="X-Auth-Request-Email", **PROXIED).test_client()
    stranger = {"X-Auth-Request-Email": "someone@example.com", **PROOF}
    response = client.get(PAGE, headers=stranger)
    assert response.status_code == 403
    assert "not as a paceline admin" in response.get_data(as_text=True)
    owner = {"X-Auth-Request-Email": "OWNER@example.com", **PROOF}
    assert client.get(PAGE, headers=owner).status_code == 200


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"trusted_auth_header": "X-Auth-Request-Email"}, "PACELINE_TRUSTED_PROXY_SECRET"),
        (
            {"trusted_auth_header": "X-Auth-Request-Email", "trusted_proxy_secret": PROXY_SECRET},
            "PACELINE_ADMIN_EMAILS",
        ),
        ({**PROXIED, "trusted_proxy_secret": "short"}, "PACELINE_TRUSTED_PROXY_SECRET"),
    ],
)
def test_a_trusted_header_without_proof_or_admins_fails_at_start(
    make_app: AppFactory, overrides: dict[str, str], variable: str
) -> None:
    with pytest.raises(ConfigError, match=variable):
        make_app(**overrides)


def test_proxy_only_setup_answers_403_without_the_header(make_app: AppFactory) -> None:
    client = make_app(
        admin_password_hash="",
        trusted_auth_header="X-Forwarded-User",
        trusted_proxy_secret=PROXY_SECRET,
        admin_emails="me@example.com",
    ).test_client()
    response = client.get("/auth/")
    assert response.status_code == 403
    assert "auth proxy" in response.get_data(as_text=True)
    assert "WWW-Authenticate" not in response.headers
    assert (
        client.get(PAGE, headers={"X-Forwarded-User": "me@example.com", **PROOF}).status_code == 200
    )


def test_no_admin_configured_is_a_clear_403_not_a_password_prompt(make_app: AppFactory) -> None:
    response = make_app(admin_password_hash="").test_client().get("/auth/", headers=ADMIN)
    assert response.status_code == 403
    assert "PACELINE_ADMIN_PASSWORD_HASH" in response.get_data(as_text=True)


def test_comparisons_are_constant_time(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """The name goes through hmac.compare_digest, and a wrong name still costs a hash check."""
    compared: list[bytes] = []
    hashed: list[str] = []
    real_compare, real_check = admin_login.hmac.compare_digest, admin_login.check_password_hash

    def compare(a: bytes, b: bytes) -> bool:
        compared.append(a)
        return real_compare(a, b)

    def check(pwhash: str, password: str) -> bool:
        hashed.append(pwhash.split("$")[0])
        return real_check(pwhash, password)

    monkeypatch.setattr(admin_login.hmac, "compare_digest", compare)
    monkeypatch.setattr(admin_login, "check_password_hash", check)
    client = app.test_client()
    assert client.get(PAGE, headers=basic("intruder", "guess")).status_code == 401
    assert client.get(PAGE, headers=basic("admin", "guess")).status_code == 401
    names = [c for c in compared if isinstance(c, bytes)]  # werkzeug compares hex digests too
    assert names == [b"intruder", b"admin"]
    assert len(compared) == 4  # and both password checks ended in a constant-time compare
    # both paid for a check with the same method and cost as the real hash
    assert hashed == ["pbkdf2:sha256:1000", "pbkdf2:sha256:1000"]


def test_a_plain_admin_password_is_hashed_at_start_and_lets_the_admin_in(
    make_app: AppFactory,
) -> None:
    # The chart's zero-config install gives the generated password as PACELINE_ADMIN_PASSWORD.
    app = make_app(admin_password_hash=None, admin_password="generated-in-a-kept-secret")
    client = app.test_client()
    assert client.get(PAGE, headers=basic("admin", "generated-in-a-kept-secret")).status_code == 200
    assert client.get(PAGE, headers=basic("admin", "generated-in-a-kept")).status_code == 401
    assert client.get(PAGE, headers=ADMIN).status_code == 401  # the hash's password is not it
