"""Token lifetime, Strava's refresh rules and the three refresh-token rotation modes."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.fixtures.sandbox import bearer

HOUR = 3600
INVALID_REFRESH = {
    "message": "Bad Request",
    "errors": [{"resource": "RefreshToken", "field": "refresh_token", "code": "invalid"}],
}


def frozen_client(app: Flask, epoch: float = 1_750_000_000) -> FlaskClient:
    client = app.test_client()
    client.post("/_sandbox/clock", json={"set_epoch": epoch, "freeze": True})
    return client


def issue(client: FlaskClient, scope: str = "read,activity:read_all") -> dict[str, Any]:
    response = client.post("/_sandbox/tokens", json={"athlete_id": 1001, "scope": scope})
    assert response.status_code == 201
    body: dict[str, Any] = response.json
    return body


def refresh(client: FlaskClient, refresh_token: str) -> Any:
    return client.post(
        "/oauth/token",
        data={
            "client_id": "12345",
            "client_secret": "sandbox-client-secret",
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
        },
    )


def advance(client: FlaskClient, seconds: float) -> None:
    client.post("/_sandbox/clock", json={"advance_seconds": seconds})


def status(client: FlaskClient, refresh_token: str) -> bool:
    return bool(client.get(f"/_sandbox/tokens/{refresh_token}/status").json["valid"])


def test_tokens_look_like_stravas_and_live_six_hours(sandbox_app: Flask) -> None:
    client = frozen_client(sandbox_app)
    tokens = issue(client)
    assert re.fullmatch(r"[0-9a-f]{40}", tokens["access_token"])
    assert re.fullmatch(r"[0-9a-f]{40}", tokens["refresh_token"])
    assert tokens["expires_in"] == 6 * HOUR
    assert tokens["expires_at"] == 1_750_000_000 + 6 * HOUR

    advance(client, 6 * HOUR - 1)
    assert client.get("/api/v3/athlete", headers=bearer(tokens["access_token"])).status_code == 200
    advance(client, 1)
    expired = client.get("/api/v3/athlete", headers=bearer(tokens["access_token"]))
    assert expired.status_code == 401


def test_refresh_with_more_than_an_hour_left_returns_the_same_token(sandbox_app: Flask) -> None:
    client = frozen_client(sandbox_app)
    tokens = issue(client)
    advance(client, 4 * HOUR)

    response = refresh(client, tokens["refresh_token"])

    assert response.status_code == 200
    body = response.json
    assert body["access_token"] == tokens["access_token"]
    assert body["expires_at"] == tokens["expires_at"]
    assert body["expires_in"] == 2 * HOUR
    assert body["refresh_token"] == tokens["refresh_token"]
    assert body["token_type"] == "Bearer"
    assert "athlete" not in body


def test_refresh_inside_the_last_hour_rotates_and_kills_the_old_refresh_token(
    sandbox_app: Flask,
) -> None:
    client = frozen_client(sandbox_app)
    tokens = issue(client)
    advance(client, 5.5 * HOUR)

    body = refresh(client, tokens["refresh_token"]).json

    assert body["access_token"] != tokens["access_token"]
    assert body["refresh_token"] != tokens["refresh_token"]
    assert body["expires_in"] == 6 * HOUR
    again = refresh(client, tokens["refresh_token"])
    assert again.status_code == 400
    assert again.json == INVALID_REFRESH
    assert not status(client, tokens["refresh_token"])
    assert status(client, body["refresh_token"])
    # the previous access token stays usable until it expires, as on Strava
    old = client.get("/api/v3/athlete", headers=bearer(tokens["access_token"]))
    assert old.status_code == 200


def test_always_single_use_rotates_on_every_refresh(
    sandbox_app_factory: Callable[..., Flask],
) -> None:
    client = frozen_client(sandbox_app_factory(rotation="always-single-use"))
    tokens = issue(client)

    first = refresh(client, tokens["refresh_token"]).json
    second = refresh(client, first["refresh_token"]).json

    assert len({tokens["refresh_token"], first["refresh_token"], second["refresh_token"]}) == 3
    assert len({tokens["access_token"], first["access_token"], second["access_token"]}) == 3
    assert refresh(client, tokens["refresh_token"]).json == INVALID_REFRESH
    assert refresh(client, first["refresh_token"]).status_code == 400
    assert status(client, second["refresh_token"])


def test_never_rotation_keeps_the_refresh_token_forever(
    sandbox_app_factory: Callable[..., Flask],
) -> None:
    client = frozen_client(sandbox_app_factory(rotation="never"))
    tokens = issue(client)
    advance(client, 5.5 * HOUR)

    body = refresh(client, tokens["refresh_token"]).json

    assert body["access_token"] != tokens["access_token"]
    assert body["refresh_token"] == tokens["refresh_token"]


def test_reuse_grace_lets_a_client_that_lost_the_answer_recover(
    sandbox_app_factory: Callable[..., Flask],
) -> None:
    client = frozen_client(
        sandbox_app_factory(rotation="always-single-use", reuse_grace_seconds=30)
    )
    tokens = issue(client)
    lost = refresh(client, tokens["refresh_token"]).json  # the answer the client never saw
    advance(client, 10)

    recovered = refresh(client, tokens["refresh_token"])

    assert recovered.status_code == 200
    head = recovered.json["refresh_token"]
    assert head not in (tokens["refresh_token"], lost["refresh_token"])
    assert status(client, head)
    assert (
        client.get("/api/v3/athlete", headers=bearer(recovered.json["access_token"])).status_code
        == 200
    )
    advance(client, 21)  # 31 s after the first rotation
    assert refresh(client, tokens["refresh_token"]).json == INVALID_REFRESH
    assert refresh(client, head).status_code == 200


def test_previous_refresh_token_is_rejected_without_grace(sandbox_app: Flask) -> None:
    client = frozen_client(sandbox_app)
    tokens = issue(client)
    advance(client, 5.5 * HOUR)
    refresh(client, tokens["refresh_token"])

    assert refresh(client, tokens["refresh_token"]).status_code == 400


def test_refresh_token_only_works_for_its_own_application(sandbox_app: Flask) -> None:
    client = frozen_client(sandbox_app)
    other = client.post("/_sandbox/apps", json={"client_id": "777", "client_secret": "s7"}).json
    tokens = issue(client)

    response = client.post(
        "/oauth/token",
        data={
            "client_id": other["client_id"],
            "client_secret": other["client_secret"],
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
        },
    )

    assert response.status_code == 400
    assert response.json == INVALID_REFRESH


@pytest.mark.parametrize("rotation", ["sometimes", "always-single-use", "never"])
def test_deauthorize_revokes_every_token_of_the_athlete(
    sandbox_app_factory: Any, rotation: str
) -> None:
    client = frozen_client(sandbox_app_factory(rotation=rotation))
    first = issue(client)
    advance(client, 5.5 * HOUR)
    second = refresh(client, first["refresh_token"]).json

    response = client.post("/oauth/deauthorize", headers=bearer(second["access_token"]))

    assert response.status_code == 200
    assert response.json == {"access_token": second["access_token"]}
    for token in (first["access_token"], second["access_token"]):
        assert client.get("/api/v3/athlete", headers=bearer(token)).status_code == 401
    assert refresh(client, second["refresh_token"]).json == INVALID_REFRESH
    assert (
        client.get(f"/_sandbox/tokens/{second['refresh_token']}/status").json["state"] == "revoked"
    )
