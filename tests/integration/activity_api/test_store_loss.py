"""Redis losing its data, or going away: widget readers see summaries, not 404s or 500s.

* Redis restarted empty: the first read that misses a credential restores every credential
  from the durable mirror, so the account is still connected (no 404 until the next refresher
  run) and its summary is built again.
* Redis unreachable: a summary this worker served is served again from its memory, marked
  stale; one it never served is a 503 with Retry-After.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from activity_api.app import create_app, stop_background
from flask import Flask
from paceline.clock import SystemClock
from paceline.credential_intake import store_tokens
from paceline.mirror import FileMirror
from paceline.oauth import TokenResponse
from paceline.runtime import Runtime, build_runtime
from paceline.settings import load_settings

from tests.fixtures.redis import RedisServer, start_redis
from tests.fixtures.sandbox import SandboxHandle
from tests.integration.activity_api.conftest import Harness, make_athlete


@pytest.fixture
def doomed_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_redis(tmp_path / "redis")
    yield server
    server.stop()


@pytest.fixture
def app_on_doomed_redis(
    doomed_redis: RedisServer, sandbox: SandboxHandle, tmp_path: Path, clean_env: None
) -> Iterator[tuple[Flask, Runtime]]:
    settings = load_settings(
        redis_url=doomed_redis.url,
        strava_base_url=sandbox.url,
        strava_client_id=sandbox.client_id,
        strava_client_secret=sandbox.client_secret,
        http_timeout_seconds=1.0,
    )
    runtime = build_runtime(
        settings,
        redis_client=doomed_redis.client(),
        mirror=FileMirror(tmp_path / "mirror"),
        clock=SystemClock(),
    )
    app = create_app(runtime=runtime, start_background=False)
    yield app, runtime
    stop_background(app, timeout=2)


def test_a_read_after_redis_lost_its_data_restores_credentials_from_the_mirror(
    harness: Harness,
) -> None:
    account = harness.connect(make_athlete(harness.sandbox))
    before = harness.runtime.store.get("strava", account)
    harness.runtime.redis.flushall()  # Redis restarted empty; the mirror still has everything

    answer = harness.client.get(f"/v1/strava/athletes/{account}/summary")

    assert answer.status_code == 200
    assert answer.get_json()["athlete"]["id"] == int(account)
    restored = harness.runtime.store.get("strava", account)
    assert restored is not None and before is not None
    assert (restored.version, restored.refresh_token) == (before.version, before.refresh_token)
    harness.runtime.redis.flushall()
    assert harness.client.get("/v1/strava/summary").status_code == 200


def test_an_unknown_account_is_still_a_404_after_a_restore(harness: Harness) -> None:
    harness.connect(make_athlete(harness.sandbox))
    harness.runtime.redis.flushall()
    assert harness.client.get("/v1/strava/athletes/99999/summary").status_code == 404


def test_redis_down_serves_what_this_worker_served_stale_and_503_for_the_rest(
    app_on_doomed_redis: tuple[Flask, Runtime], doomed_redis: RedisServer, sandbox: SandboxHandle
) -> None:
    app, runtime = app_on_doomed_redis
    client = app.test_client()
    accounts = []
    for photos in (0, 0):
        issued = sandbox.issue_tokens(make_athlete(sandbox, photos_on_latest=photos))
        account = str(issued["athlete_id"])
        tokens = TokenResponse(
            issued["access_token"],
            issued["refresh_token"],
            float(issued["expires_at"]),
            tuple(issued["scope"].split(",")),
            account,
            None,
            False,
        )
        store_tokens(runtime, "strava", account, tokens)
        accounts.append(account)
    served, never = accounts
    assert client.get(f"/v1/strava/athletes/{served}/summary").status_code == 200

    doomed_redis.kill()

    again = client.get(f"/v1/strava/athletes/{served}/summary")
    assert again.status_code == 200
    assert again.get_json()["meta"]["stale"] is True
    activities = client.get(f"/v1/strava/athletes/{served}/activities?limit=2")
    assert activities.status_code == 200 and activities.get_json()["meta"]["stale"] is True
    unknown = client.get(f"/v1/strava/athletes/{never}/summary")
    assert unknown.status_code == 503
    assert unknown.headers["Retry-After"]


def test_an_account_erased_elsewhere_is_not_served_from_memory_when_redis_goes_down(
    app_on_doomed_redis: tuple[Flask, Runtime], doomed_redis: RedisServer, sandbox: SandboxHandle
) -> None:
    """The webhook consumer (another process) erases an account after a confirmed revocation;
    this worker served it moments before. Any later read here sees the erasure count move, so
    the worker's copy is gone before Redis fails."""
    from paceline.erasure import erase_account

    app, runtime = app_on_doomed_redis
    client = app.test_client()
    accounts = []
    for _ in range(2):
        issued = sandbox.issue_tokens(make_athlete(sandbox, photos_on_latest=0))
        account = str(issued["athlete_id"])
        tokens = TokenResponse(
            issued["access_token"],
            issued["refresh_token"],
            float(issued["expires_at"]),
            tuple(issued["scope"].split(",")),
            account,
            None,
            False,
        )
        store_tokens(runtime, "strava", account, tokens)
        accounts.append(account)
    erased, other = accounts
    for account in accounts:
        assert client.get(f"/v1/strava/athletes/{account}/summary").status_code == 200

    erase_account(runtime.store, "strava", erased)  # as another process would
    assert client.get(f"/v1/strava/athletes/{other}/summary").status_code == 200
    doomed_redis.kill()

    assert client.get(f"/v1/strava/athletes/{erased}/summary").status_code == 503
