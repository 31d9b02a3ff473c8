"""Strava's OAuth flow: consent page, auto-approve, codes, PKCE, client authentication."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from flask.testing import FlaskClient
from provider_sandbox.tokens import pkce_challenge

REDIRECT = "http://localhost:8080/callback/strava"
SECRET = "sandbox-client-secret"
INVALID_CODE = {
    "message": "Bad Request",
    "errors": [{"resource": "AuthorizationCode", "field": "code", "code": "invalid"}],
}


def authorize_query(**extra: str) -> dict[str, str]:
    return {
        "client_id": "12345",
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "activity:read_all",
        "state": "st4te",
        "approval_prompt": "auto",
        **extra,
    }


def redirect_params(response: Any) -> dict[str, str]:
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def get_code(client: FlaskClient, **extra: str) -> str:
    return redirect_params(client.get("/oauth/authorize", query_string=authorize_query(**extra)))[
        "code"
    ]


def exchange(client: FlaskClient, code: str, **extra: str) -> Any:
    form = {"client_id": "12345", "client_secret": SECRET, "grant_type": "authorization_code"}
    return client.post("/oauth/token", data={**form, "code": code, **extra})


def test_auto_approve_redirects_with_state_code_and_granted_scope(
    sandbox_app_factory: Callable[..., Flask],
) -> None:
    client = sandbox_app_factory(auto_approve=True).test_client()

    response = client.get("/oauth/authorize", query_string=authorize_query())

    params = redirect_params(response)
    assert params["state"] == "st4te"
    assert len(params["code"]) == 40
    assert params["scope"] == "read,activity:read_all"  # Strava always grants read
    assert "scope=read,activity:read_all" in response.headers["Location"]


def test_code_exchange_answers_stravas_token_response_with_the_athlete(
    sandbox_app_factory: Callable[..., Flask],
) -> None:
    client = sandbox_app_factory(auto_approve=True).test_client()

    body = exchange(client, get_code(client)).json

    assert list(body) == [
        "token_type",
        "expires_at",
        "expires_in",
        "refresh_token",
        "access_token",
        "athlete",
    ]
    assert body["token_type"] == "Bearer"
    assert body["athlete"]["id"] == 1001
    assert body["athlete"]["firstname"] == "Ada"
    assert body["athlete"]["resource_state"] == 2


def test_consent_page_lists_athletes_escaped_and_authorize_redirects(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()
    client.post("/_sandbox/athletes", json={"firstname": "<script>x</script>", "lastname": "Q"})

    page = client.get("/oauth/authorize", query_string=authorize_query())

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Ada Lovelace" in html
    assert "<script>x</script>" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert 'value="authorize"' in html
    assert 'value="cancel"' in html

    form = {**authorize_query(), "athlete_id": "1002", "action": "authorize"}
    params = redirect_params(client.post("/oauth/authorize", data=form))
    assert exchange(client, params["code"]).json["athlete"]["id"] == 1002


def test_cancel_redirects_with_access_denied(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()

    response = client.post("/oauth/authorize", data={**authorize_query(), "action": "cancel"})

    assert redirect_params(response) == {"state": "st4te", "error": "access_denied"}


def test_unticked_scopes_and_configured_grant_narrow_the_granted_scope(
    sandbox_app: Flask,
) -> None:
    client = sandbox_app.test_client()
    form = {
        **authorize_query(scope="read,activity:read_all,profile:read_all"),
        "action": "authorize",
        "scope_choice": "1",
        "scope_item": "profile:read_all",
    }
    assert redirect_params(client.post("/oauth/authorize", data=form))["scope"] == (
        "read,profile:read_all"
    )

    client.post("/_sandbox/config", json={"auto_approve": True, "grant_scope": "read"})
    params = redirect_params(client.get("/oauth/authorize", query_string=authorize_query()))
    assert params["scope"] == "read"
    token = exchange(client, params["code"]).json["access_token"]
    listing = client.get("/api/v3/athlete/activities", headers={"Authorization": f"Bearer {token}"})
    assert listing.status_code == 401


def test_bad_authorize_requests_get_a_400_page(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()

    unknown = client.get("/oauth/authorize", query_string=authorize_query(client_id="999"))
    no_redirect = client.get(
        "/oauth/authorize", query_string={"client_id": "12345", "response_type": "code"}
    )

    assert unknown.status_code == 400
    assert "client_id" in unknown.get_data(as_text=True)
    assert no_redirect.status_code == 400
    assert "redirect_uri" in no_redirect.get_data(as_text=True)


def test_codes_are_single_use(sandbox_app_factory: Callable[..., Flask]) -> None:
    client = sandbox_app_factory(auto_approve=True).test_client()
    code = get_code(client)

    assert exchange(client, code).status_code == 200
    second = exchange(client, code)

    assert second.status_code == 400
    assert second.json == INVALID_CODE


def test_codes_expire_after_ten_minutes(sandbox_app_factory: Callable[..., Flask]) -> None:
    client = sandbox_app_factory(auto_approve=True).test_client()
    client.post("/_sandbox/clock", json={"freeze": True})
    fresh, stale = get_code(client), get_code(client)

    client.post("/_sandbox/clock", json={"advance_seconds": 599})
    assert exchange(client, fresh).status_code == 200
    client.post("/_sandbox/clock", json={"advance_seconds": 1})
    assert exchange(client, stale).json == INVALID_CODE


def test_codes_are_bound_to_their_application(sandbox_app_factory: Callable[..., Flask]) -> None:
    client = sandbox_app_factory(auto_approve=True).test_client()
    client.post("/_sandbox/apps", json={"client_id": "777", "client_secret": "other"})
    code = get_code(client)

    response = exchange(client, code, client_id="777", client_secret="other")

    assert response.json == INVALID_CODE


def test_pkce_verifier_is_checked_when_a_challenge_was_sent(
    sandbox_app_factory: Callable[..., Flask],
) -> None:
    client = sandbox_app_factory(auto_approve=True).test_client()
    verifier = "v" * 64
    pkce = {"code_challenge": pkce_challenge(verifier), "code_challenge_method": "S256"}

    missing = exchange(client, get_code(client, **pkce))
    wrong = exchange(client, get_code(client, **pkce), code_verifier="w" * 64)
    right = exchange(client, get_code(client, **pkce), code_verifier=verifier)

    assert missing.status_code == 400
    assert missing.json["errors"][0]["field"] == "code_verifier"
    assert wrong.status_code == 400
    assert right.status_code == 200


def test_plain_pkce_method_is_refused(sandbox_app_factory: Callable[..., Flask]) -> None:
    client = sandbox_app_factory(auto_approve=True).test_client()

    response = client.get(
        "/oauth/authorize",
        query_string=authorize_query(code_challenge="abc", code_challenge_method="plain"),
    )

    assert response.status_code == 400


def test_client_secret_basic_and_post_are_both_accepted(
    sandbox_app_factory: Callable[..., Flask],
) -> None:
    client = sandbox_app_factory(auto_approve=True).test_client()
    basic = base64.b64encode(f"12345:{SECRET}".encode()).decode()

    via_basic = client.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": get_code(client)},
        headers={"Authorization": f"Basic {basic}"},
    )
    via_json = client.post(
        "/oauth/token",
        json={
            "client_id": 12345,
            "client_secret": SECRET,
            "grant_type": "authorization_code",
            "code": get_code(client),
        },
    )

    assert via_basic.status_code == 200
    assert via_json.status_code == 200
    assert exchange(client, get_code(client)).status_code == 200


def test_wrong_client_secret_is_401_with_stravas_body(
    sandbox_app_factory: Callable[..., Flask],
) -> None:
    client = sandbox_app_factory(auto_approve=True).test_client()
    code = get_code(client)

    response = exchange(client, code, client_secret="nope")

    assert response.status_code == 401
    assert response.json == {
        "message": "Authorization Error",
        "errors": [{"resource": "Application", "field": "", "code": "invalid"}],
    }
    assert exchange(client, code).status_code == 200  # a failed client auth does not burn it


def test_wrong_client_secret_on_refresh_keeps_the_refresh_token_valid(
    sandbox_app_factory: Callable[..., Flask],
) -> None:
    client = sandbox_app_factory(auto_approve=True).test_client()
    issued = exchange(client, get_code(client)).json
    form = {"client_id": "12345", "grant_type": "refresh_token"}
    form["refresh_token"] = issued["refresh_token"]

    refused = client.post("/oauth/token", data={**form, "client_secret": "rotated-away"})
    accepted = client.post("/oauth/token", data={**form, "client_secret": SECRET})

    assert refused.status_code == 401
    assert refused.json["errors"][0]["resource"] == "Application"
    assert accepted.status_code == 200


def test_unknown_client_id_is_400_naming_the_application_client_id(sandbox_app: Flask) -> None:
    response = sandbox_app.test_client().post(
        "/oauth/token",
        data={"client_id": "999", "client_secret": SECRET, "grant_type": "refresh_token"},
    )

    assert response.status_code == 400
    assert response.json["errors"] == [
        {"resource": "Application", "field": "client_id", "code": "invalid"}
    ]


def test_missing_fields_are_named(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()

    def field_of(data: dict[str, str]) -> tuple[int, str]:
        response = client.post("/oauth/token", data=data)
        return response.status_code, response.json["errors"][0]["field"]

    creds = {"client_id": "12345", "client_secret": SECRET}
    assert field_of({"client_id": "12345"}) == (400, "grant_type")
    assert field_of({"grant_type": "refresh_token"}) == (400, "client_id")
    assert field_of({"grant_type": "refresh_token", "client_id": "12345"}) == (400, "client_secret")
    assert field_of({**creds, "grant_type": "refresh_token"}) == (400, "refresh_token")
    assert field_of({**creds, "grant_type": "authorization_code"}) == (400, "code")
    assert field_of({**creds, "grant_type": "password"}) == (400, "grant_type")


def test_deauthorize_needs_a_valid_token(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()

    response = client.post("/oauth/deauthorize", data={"access_token": "f" * 40})

    assert response.status_code == 401
    assert response.json["message"] == "Authorization Error"


def test_a_code_not_ready_yet_is_refused_without_being_burnt(
    sandbox_app_factory: Callable[..., Flask],
) -> None:
    client = sandbox_app_factory(auto_approve=True, code_ready_seconds=2).test_client()
    code = get_code(client)

    early = exchange(client, code)
    client.post("/_sandbox/clock", json={"advance_seconds": 2})
    later = exchange(client, code)

    assert early.status_code == 400 and early.json == INVALID_CODE
    assert later.status_code == 200
