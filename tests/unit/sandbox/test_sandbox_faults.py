"""Injected faults (status, malformed body, latency, hang) and the call counters."""

from __future__ import annotations

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from tests.fixtures.sandbox import SandboxControlError, SandboxHandle, bearer


def token(client: FlaskClient) -> str:
    body = {"athlete_id": 1001, "scope": "read,activity:read_all"}
    return str(client.post("/_sandbox/tokens", json=body).json["access_token"])


def add_fault(client: FlaskClient, **fields: object) -> int:
    response = client.post("/_sandbox/faults", json=fields)
    assert response.status_code == 201, response.json
    return int(response.json["id"])


def test_status_fault_applies_the_given_number_of_times(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()
    access = token(client)
    add_fault(client, match="/api/v3/athlete", status=503, times=2)

    statuses = [client.get("/api/v3/athlete", headers=bearer(access)).status_code for _ in range(3)]

    assert statuses == [503, 503, 200]
    assert client.get("/_sandbox/faults").json == []


def test_glob_fault_matches_api_paths_only(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()
    access = token(client)
    add_fault(client, match="/api/v3/*", status=500)

    api = client.get("/api/v3/athlete/activities", headers=bearer(access))
    oauth = client.post("/oauth/token", data={})

    assert api.status_code == 500
    assert api.json["message"] == "Internal Server Error"
    assert oauth.status_code == 400
    assert api.headers["X-RateLimit-Usage"] == "1,1"  # faults apply after counting


def test_malformed_fault_answers_200_with_broken_json(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()
    add_fault(client, match="/oauth/token", malformed=True, times=1)

    response = client.post("/oauth/token", data={})

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    with pytest.raises(ValueError):
        response.get_json(force=True)


def record_hangs(app: Flask, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The seconds each request is held by a fault (counted, not timed); it still waits."""
    faults = app.extensions["sandbox"].faults
    hang = faults.hang
    held: list[float] = []

    def recording_hang(seconds: float) -> None:
        held.append(seconds)
        hang(seconds)

    monkeypatch.setattr(faults, "hang", recording_hang)
    return held


def test_latency_fault_delays_then_answers_normally(
    sandbox_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = sandbox_app.test_client()
    access = token(client)
    add_fault(client, match="*", latency_ms=200, times=1)
    held = record_hangs(sandbox_app, monkeypatch)

    response = client.get("/api/v3/athlete", headers=bearer(access))
    again = client.get("/api/v3/athlete", headers=bearer(access))

    assert held == [0.2]  # the first request only (times=1)
    assert (response.status_code, again.status_code) == (200, 200)


def test_fault_method_filter_and_listing_and_clearing(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()
    access = token(client)
    fault_id = add_fault(client, match="*", method="POST", status=502)

    assert client.get("/api/v3/athlete", headers=bearer(access)).status_code == 200
    assert client.post("/oauth/token", data={}).status_code == 502
    listed = client.get("/_sandbox/faults").json
    assert [(f["id"], f["applied"], f["remaining"]) for f in listed] == [(fault_id, 1, None)]
    assert client.delete("/_sandbox/faults").status_code == 204
    assert client.post("/oauth/token", data={}).status_code == 400


def test_fault_input_is_validated(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()

    for body, field in (
        ({"status": 500}, "match"),
        ({"match": "/_sandbox/calls", "status": 500}, "match"),
        ({"match": "*", "status": "500"}, "status"),
        ({"match": "*", "colour": "red"}, "colour"),
        ({"match": "*", "times": 0}, "times"),
    ):
        response = client.post("/_sandbox/faults", json=body)
        assert response.status_code == 400
        assert response.json["field"] == field


def test_rate_limit_is_checked_before_faults(sandbox_app_factory: object) -> None:
    client = sandbox_app_factory(rate_limit_read="1,10").test_client()  # type: ignore[operator]
    access = token(client)
    add_fault(client, match="*", status=500)

    first = client.get("/api/v3/athlete", headers=bearer(access))
    second = client.get("/api/v3/athlete", headers=bearer(access))

    assert (first.status_code, second.status_code) == (500, 429)
    assert client.get("/_sandbox/faults").json[0]["applied"] == 1


def test_timeout_fault_hangs_then_closes_without_an_answer(
    sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.fault("/oauth/token", timeout=True, hang_seconds=0.3, times=1)
    assert sandbox.app is not None
    held = record_hangs(sandbox.app, monkeypatch)

    with pytest.raises(requests.ConnectionError):
        requests.post(f"{sandbox.url}/oauth/token", data={}, timeout=5)

    assert held == [0.3]
    assert requests.post(f"{sandbox.url}/oauth/token", data={}, timeout=5).status_code == 400
    assert sandbox.calls()["by_status"] == {"400": 1, "timeout": 1}


def test_timeout_fault_outlasts_a_client_timeout(sandbox: SandboxHandle) -> None:
    sandbox.fault("/api/v3/athlete", timeout=True, hang_seconds=30)

    with pytest.raises(requests.ReadTimeout):
        requests.get(f"{sandbox.api_url}/athlete", timeout=0.3)
    sandbox.clear_faults()  # releases the hung request at once


def test_control_helpers_report_errors_with_the_sandbox_answer(sandbox: SandboxHandle) -> None:
    with pytest.raises(SandboxControlError, match="match"):
        sandbox.fault("no-slash", status=500)


def test_calls_are_counted_by_route_template_and_status(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()
    access = token(client)
    ids = [a["id"] for a in client.get("/_sandbox/athletes/1001/activities").json[:2]]
    client.get("/api/v3/athlete", headers=bearer(access))
    for activity_id in ids:
        client.get(f"/api/v3/activities/{activity_id}", headers=bearer(access))
    client.get("/api/v3/activities/1", headers=bearer(access))
    client.post("/oauth/token", data={})
    client.get("/_sandbox/healthz")

    calls = client.get("/_sandbox/calls").json

    assert calls["total"] == 5
    assert calls["by_endpoint"] == {
        "GET /api/v3/activities/{id}": 3,
        "GET /api/v3/athlete": 1,
        "POST /oauth/token": 1,
    }
    assert calls["by_status"] == {"200": 3, "400": 1, "404": 1}
    assert calls["rate_limited"] == 0
    assert client.delete("/_sandbox/calls").status_code == 204
    assert client.get("/_sandbox/calls").json["total"] == 0


def test_faulted_calls_are_counted_with_the_fault_id(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()
    fault_id = add_fault(client, match="/oauth/token", status=500, times=1)

    client.post("/oauth/token", data={})

    calls = client.get("/_sandbox/calls").json
    assert calls["by_status"] == {"500": 1}
    assert calls["recent"][-1]["fault"] == fault_id
