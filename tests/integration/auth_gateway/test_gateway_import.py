"""POST /import/<provider>: the JSON twin of ``paceline import``."""

from __future__ import annotations

from tests.integration.auth_gateway.gateway import PREFIX, Gateway


def test_import_stores_the_account_and_returns_no_token(gateway: Gateway) -> None:
    tokens = gateway.sandbox.issue_tokens(scope="read,activity:read")
    response = gateway.post(
        f"{PREFIX}/import/strava", json={"refresh_token": tokens["refresh_token"]}
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["account_id"] == str(gateway.sandbox.default_athlete_id)
    assert body["imported"] is True and body["replaced"] is False
    assert tokens["refresh_token"] not in response.get_data(as_text=True)
    assert tokens["access_token"] not in response.get_data(as_text=True)
    assert [c.account_id for c in gateway.stored()] == [body["account_id"]]
    assert len(gateway.mirrored()) == 1
    again = gateway.post(f"{PREFIX}/import/strava", json={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 200 and again.get_json()["replaced"] is True


def test_import_refused_token_is_422_and_stores_nothing(gateway: Gateway) -> None:
    response = gateway.post(f"{PREFIX}/import/strava", json={"refresh_token": "f" * 40})
    assert response.status_code == 422
    assert response.get_json()["error"] == "import_failed"
    assert gateway.stored() == []


def test_import_input_errors_are_json(gateway: Gateway) -> None:
    url = f"{PREFIX}/import/strava"
    assert gateway.post(url, data="refresh_token=abc").status_code == 415
    assert gateway.post(url, json=["abc"]).status_code == 400
    assert gateway.post(url, json={"refresh_token": 7}).status_code == 400
    # a string, as the schema asks, but not one token: the documented 422
    assert gateway.post(url, json={"refresh_token": "   "}).status_code == 422
    unknown = gateway.post(f"{PREFIX}/import/nope", json={"refresh_token": "abc"})
    assert unknown.status_code == 404 and unknown.get_json()["error"] == "unknown_provider"
    too_big = gateway.post(url, json={"refresh_token": "a" * 20_000})
    assert too_big.status_code == 413 and too_big.is_json
    assert gateway.stored() == []


def test_import_needs_admin_and_same_origin(gateway: Gateway) -> None:
    tokens = gateway.sandbox.issue_tokens()
    url = f"{PREFIX}/import/strava"
    anonymous = gateway.post(url, admin=False, json={"refresh_token": tokens["refresh_token"]})
    assert anonymous.status_code == 401 and anonymous.is_json
    cross = gateway.post(
        url,
        json={"refresh_token": tokens["refresh_token"]},
        headers={"Origin": "https://evil.example"},
    )
    assert cross.status_code == 403
    assert gateway.stored() == []
