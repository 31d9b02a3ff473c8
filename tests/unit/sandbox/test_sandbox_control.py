"""The control API and configuration: validation, clock, reset, world editing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from provider_sandbox import create_app
from provider_sandbox.config import ConfigError, load_config


def test_environment_variables_use_the_sandbox_prefix() -> None:
    config = load_config(
        {
            "SANDBOX_AUTO_APPROVE": "true",
            "SANDBOX_WINDOW_SECONDS": "60",
            "SANDBOX_RATE_LIMIT_READ": "5,50",
            "SANDBOX_ROTATION": "always-single-use",
            "SANDBOX_GRANT_SCOPE": "",
            "PACELINE_STRAVA_CLIENT_ID": "999",
        }
    )

    assert config.auto_approve is True
    assert config.window_seconds == 60
    assert config.rate_limit_read == (5, 50)
    assert config.rotation == "always-single-use"
    assert config.grant_scope is None
    assert config.client_id == "12345"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SANDBOX_WINDOW_SECONDS", "fifteen"),
        ("SANDBOX_ROTATION", "sometimes-maybe"),
        ("SANDBOX_RATE_LIMIT_OVERALL", "200"),
        ("SANDBOX_AUTO_APPROVE", "perhaps"),
    ],
)
def test_bad_environment_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({name: value})

    assert caught.value.field == name


def test_unknown_default_athlete_fails_at_start() -> None:
    with pytest.raises(ConfigError, match="default_athlete_id"):
        create_app({"default_athlete_id": 4242}, environ={})


def test_config_updates_are_partial_and_validated(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()

    updated = client.post(
        "/_sandbox/config", json={"window_seconds": 60, "rate_limit_read": "3,30"}
    )
    unknown = client.post("/_sandbox/config", json={"windw_seconds": 60})
    wrong_type = client.post("/_sandbox/config", json={"auto_approve": "yes"})
    not_object = client.post("/_sandbox/config", json=[1, 2])

    assert updated.status_code == 200
    assert updated.json["window_seconds"] == 60
    assert updated.json["rate_limit_read"] == "3,30"
    assert updated.json["rate_limit_overall"] == "200,2000"
    assert (unknown.status_code, unknown.json["field"]) == (400, "windw_seconds")
    assert (wrong_type.status_code, wrong_type.json["field"]) == (400, "auto_approve")
    assert not_object.status_code == 400
    assert client.get("/_sandbox/config").json["auto_approve"] is False


def test_changing_client_credentials_replaces_the_registered_app(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()

    client.post("/_sandbox/config", json={"client_id": "555", "client_secret": "new"})

    apps = client.get("/_sandbox/apps").json
    assert [(a["client_id"], a["client_secret"]) for a in apps] == [("555", "new")]


def test_clock_advances_sets_and_freezes(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()

    frozen = client.post("/_sandbox/clock", json={"set_epoch": 1_700_000_000, "freeze": True})
    advanced = client.post("/_sandbox/clock", json={"advance_seconds": 90})
    both = client.post("/_sandbox/clock", json={"advance_seconds": 1, "set_epoch": 5})

    assert frozen.json["now"] == 1_700_000_000
    assert advanced.json["now"] == 1_700_000_090
    shown = client.get("/_sandbox/clock").json
    assert (shown["now"], shown["frozen"]) == (1_700_000_090, True)
    assert both.status_code == 400


def test_reset_restores_seed_configuration_and_forgets_tokens(
    sandbox_app_factory: Callable[..., Flask],
) -> None:
    client = sandbox_app_factory(window_seconds=120).test_client()
    tokens = client.post("/_sandbox/tokens", json={"athlete_id": 1001}).json
    client.post("/_sandbox/config", json={"window_seconds": 60, "auto_approve": True})
    client.post("/_sandbox/athletes", json={"firstname": "Tmp", "lastname": "T"})
    client.post("/_sandbox/faults", json={"match": "*", "status": 500})
    client.post("/_sandbox/clock", json={"advance_seconds": 86400 * 3})

    assert client.post("/_sandbox/reset").status_code == 200

    assert client.get("/_sandbox/config").json["window_seconds"] == 120  # start-up value
    assert client.get("/_sandbox/config").json["auto_approve"] is False
    assert [a["id"] for a in client.get("/_sandbox/athletes").json] == [1001, 1002]
    assert client.get("/_sandbox/faults").json == []
    assert client.get("/_sandbox/clock").json["offset"] == 0
    status = client.get(f"/_sandbox/tokens/{tokens['refresh_token']}/status").json
    assert status == {"valid": False, "state": "unknown"}


def test_reset_can_seed_relative_to_the_sandbox_clock(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()
    client.post("/_sandbox/clock", json={"set_epoch": 1_750_000_000, "freeze": True})

    client.post("/_sandbox/reset", json={"keep_clock": True})

    assert client.get("/_sandbox/clock").json["now"] == 1_750_000_000
    newest = client.get("/_sandbox/athletes/1001/activities").json[0]
    assert newest["start_date"].startswith("2025-06-14")  # the day before the frozen now


def test_new_seed_regenerates_the_world(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()
    before = client.get("/_sandbox/athletes/1001/activities").json[5]

    client.post("/_sandbox/config", json={"seed": 7, "seed_athletes": 3})

    assert len(client.get("/_sandbox/athletes").json) == 3
    assert client.get("/_sandbox/athletes/1001/activities").json[5] != before


def test_add_athlete_and_activity_with_defaults(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()
    client.post("/_sandbox/clock", json={"set_epoch": 1_750_000_000, "freeze": True})

    athlete = client.post(
        "/_sandbox/athletes",
        json={"firstname": "Eliud", "lastname": "Kipchoge", "city": "Eldoret", "sex": "M"},
    )
    activity = client.post(f"/_sandbox/athletes/{athlete.json['id']}/activities", json={})

    assert athlete.status_code == 201
    assert athlete.json["id"] == 1003
    assert athlete.json["username"] == "eliud_kipchoge"
    assert activity.status_code == 201
    body = activity.json
    assert body["sport_type"] == body["type"] == "Run"
    assert body["distance"] == 10000.0
    assert body["elapsed_time"] >= body["moving_time"] > 0
    assert body["visibility"] == "everyone"
    assert body["athlete"]["id"] == 1003
    assert body["id"] > 10_000_000_000
    assert body["name"].endswith("Run")


def test_activity_fields_are_validated(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()

    for body, field in (
        ({"sport_type": "Quidditch"}, "sport_type"),
        ({"distance": "far"}, "distance"),
        ({"start_latlng": [95, 0]}, "start_latlng"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"start_date": "yesterday"}, "start_date"),
        ({"emit_webhook": "yes"}, "emit_webhook"),
        ({"favourite": True}, "favourite"),
    ):
        response = client.post("/_sandbox/athletes/1001/activities", json=body)
        assert response.status_code == 400, body
        assert response.json["field"] == field
    assert client.post("/_sandbox/athletes/999/activities", json={}).status_code == 404


def test_update_and_delete_activity(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()
    added = client.post(
        "/_sandbox/athletes/1001/activities",
        json={"name": "Tempo", "start_date": "2025-06-01T06:30:00Z", "timezone": "Europe/Berlin"},
    ).json

    assert added["start_date"] == "2025-06-01T06:30:00Z"
    assert added["start_date_local"] == "2025-06-01T08:30:00Z"
    assert added["timezone"] == "(GMT+02:00) Europe/Berlin"
    updated = client.put(f"/_sandbox/activities/{added['id']}", json={"private": True, "photos": 2})
    assert updated.json["visibility"] == "only_me"
    assert updated.json["photos"]["count"] == 2
    assert client.delete(f"/_sandbox/activities/{added['id']}").status_code == 200
    assert client.get(f"/_sandbox/activities/{added['id']}").status_code == 404


def test_issued_tokens_validate_their_input(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()

    assert client.post("/_sandbox/tokens", json={"athlete_id": 5}).json["field"] == "athlete_id"
    assert client.post("/_sandbox/tokens", json={"client_id": "1"}).json["field"] == "client_id"
    issued = client.post("/_sandbox/tokens", json={"scope": "activity:read"}).json
    assert issued["athlete_id"] == 1001
    assert issued["scope"] == "read,activity:read"


def test_healthz(sandbox_app: Flask) -> None:
    assert sandbox_app.test_client().get("/_sandbox/healthz").json == {"status": "ok"}
