"""When Strava fails, visitors still get the last good summary (stale), or a clean 503."""

from __future__ import annotations

import time

import pytest
from activity_api.app import create_app, stop_background
from paceline.redis_client import connect
from paceline.runtime import build_runtime
from paceline_dev.launch import free_port as pick_free_port

from tests.integration.activity_api.conftest import Harness, make_athlete


@pytest.fixture
def free_port() -> int:
    return pick_free_port()


def stale_setup(harness: Harness) -> tuple[str, str]:
    account = harness.connect(make_athlete(harness.sandbox, photos_on_latest=0))
    path = f"/v1/strava/athletes/{account}/summary"
    assert harness.client.get(path).status_code == 200
    harness.clock.advance(harness.runtime.settings.summary_fresh_seconds + 5)
    return account, path


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 500},
        {"status": 503},
        {"status": 429},
        {"malformed": True},
        {"timeout": True, "hang_seconds": 3.0},
    ],
    ids=["500", "503", "429", "malformed", "timeout"],
)
def test_cached_summaries_are_served_stale_when_the_provider_fails(
    harness: Harness, fault: dict[str, object]
) -> None:
    _, path = stale_setup(harness)
    harness.sandbox.fault("/api/v3/*", **fault)  # type: ignore[arg-type]
    calls_before = harness.total_api_calls()

    statuses = []
    for _ in range(50):
        response = harness.client.get(path)
        statuses.append(response.status_code)
        body = response.get_json()
        assert body["meta"]["stale"] is True
        assert body["latest_activity"]["name"] == "Morning run"
    assert harness.builds_done()
    assert set(statuses) == {200}
    # one failed refresh attempt, then a cooldown: the provider is not hammered
    harness.sandbox.clear_faults()  # releases a hanging request so the sandbox counts it
    deadline = time.monotonic() + 5
    while harness.total_api_calls() == calls_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert harness.total_api_calls() - calls_before == 1
    response = harness.client.get(path)
    assert response.status_code == 200 and response.get_json()["meta"]["stale"] is True


def test_with_nothing_cached_the_answer_is_a_503_with_retry_after(harness: Harness) -> None:
    account = harness.connect(make_athlete(harness.sandbox))
    harness.sandbox.fault("/api/v3/*", status=500)

    first = harness.client.get(f"/v1/strava/athletes/{account}/summary")
    assert first.status_code == 503
    assert int(first.headers["Retry-After"]) >= 1
    assert first.headers["Cache-Control"] == "no-store"
    body = first.get_json()
    assert body["error"] == "upstream_unavailable"
    assert body["retry_after_seconds"] == int(first.headers["Retry-After"])
    calls = harness.total_api_calls()

    second = harness.client.get(f"/v1/strava/athletes/{account}/activities")
    assert second.status_code == 503
    assert harness.total_api_calls() == calls  # the cooldown spares the provider

    harness.sandbox.clear_faults()
    harness.clock.advance(int(first.headers["Retry-After"]))
    assert harness.client.get(f"/v1/strava/athletes/{account}/summary").status_code == 200


def test_a_refused_token_and_failed_refresh_is_a_503_not_a_500(harness: Harness) -> None:
    account = harness.connect(make_athlete(harness.sandbox))
    harness.sandbox.fault("/api/v3/*", status=401)
    harness.sandbox.fault("/oauth/token", status=400)
    response = harness.client.get(f"/v1/strava/athletes/{account}/summary")
    assert response.status_code == 503
    assert response.get_json()["error"] == "account_unavailable"
    credential = harness.runtime.store.get("strava", account)
    assert credential is not None and credential.state.value == "needs_reauth"


def test_redis_down_is_a_503(harness: Harness, free_port: int) -> None:
    settings = harness.runtime.settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{free_port}/0"}
    )
    dead = connect(settings.redis_url, timeout=0.2)  # the production client factory
    runtime = build_runtime(settings, redis_client=dead, clock=harness.clock)
    app = create_app(runtime=runtime, start_background=False)
    try:
        for path in ("/v1/strava/summary", "/v1/strava/athletes/1003/summary"):
            response = app.test_client().get(path)
            assert response.status_code == 503
            assert response.get_json()["error"] == "store_unavailable"
            assert response.headers["Retry-After"]
        assert app.test_client().get("/readyz").status_code == 503
    finally:
        stop_background(app)
