"""Redis SIGKILLed and restarted empty while widget callers hammer activity-api (gunicorn).

While Redis is down, each worker serves the summaries it served recently from its memory
(``activity_api.reader.LastGood``), marked stale; anything else gets a 503 with ``Retry-After``
(counted here); never a 500. When Redis comes back empty,
credentials are restored from the durable mirror (file backend) by the first read that misses
them, so the API serves again well within one refresh cycle, without a 404 "not connected" in
between; a token-refresher pass afterwards finds every credential back, versions and tokens
intact, and the tokens still refreshable at the provider.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from paceline.clock import SystemClock
from paceline.mirror import FileMirror
from paceline.runtime import Runtime, build_runtime
from paceline.settings import load_settings
from paceline_dev.sandbox import store_issued

from tests.faults.conftest import Recorder
from tests.faults.stack import Service, Traffic, json_lines, service_env, statuses
from tests.fixtures.redis import RedisServer, start_redis
from tests.fixtures.sandbox import SandboxFactory, SandboxHandle
from tests.integration.refresher.conftest import finish, spawn

pytestmark = pytest.mark.faults

ATHLETES = 3
OUTAGE_SECONDS = 4.0
RECOVERY_LIMIT_SECONDS = 30.0  # the CronJob's cycle is minutes; this is far inside it


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[list[RedisServer]]:
    """This test's Redis (it gets killed); every incarnation is stopped at the end."""
    servers = [start_redis(tmp_path / "redis-1")]
    yield servers
    for server in servers:
        server.stop()


def connect(runtime: Runtime, sandbox: SandboxHandle) -> str:
    """An athlete connected as the auth-gateway would: tokens from the provider, stored."""
    athlete = sandbox.add_athlete(firstname="Redis", lastname="Loss")
    sandbox.add_activity(int(athlete["id"]), name="Morning run", photos=0)
    issued = sandbox.issue_tokens(int(athlete["id"]), "read,activity:read")
    return store_issued(runtime, issued)


def test_redis_restarted_empty_mid_traffic_restores_credentials_and_never_answers_500(
    own_redis: list[RedisServer],
    sandbox_factory: SandboxFactory,
    services: Callable[..., Service],
    tmp_path: Path,
    fault_report: Recorder,
) -> None:
    redis_server = own_redis[0]
    sandbox = sandbox_factory(rate_limit_read="100000,1000000", rate_limit_overall="100000,1000000")
    mirror_dir = tmp_path / "mirror"
    env = service_env(
        redis_server.url,
        sandbox,
        mirror_dir,
        PACELINE_HTTP_TIMEOUT_SECONDS="2",
        PACELINE_SUMMARY_RETRY_SECONDS="2",
        GUNICORN_ACCESS_LOG="0",
    )
    settings = load_settings(
        redis_url=redis_server.url,
        strava_base_url=sandbox.url,
        strava_client_id=sandbox.client_id,
        strava_client_secret=sandbox.client_secret,
        secret_backend="file",
        secret_dir=str(mirror_dir),
    )
    runtime = build_runtime(
        settings,
        redis_client=redis_server.client(),
        mirror=FileMirror(mirror_dir),
        clock=SystemClock(),
    )
    accounts = [connect(runtime, sandbox) for _ in range(ATHLETES)]
    before = {account: runtime.store.get("strava", account) for account in accounts}
    api = services("activity-api", env, workers=2)
    workers = api.worker_pids()
    paths = ["/v1/strava/summary"]
    for account in accounts:
        paths += [
            f"/v1/strava/athletes/{account}/summary",
            f"/v1/strava/athletes/{account}/activities?limit=3",
        ]
    for path in paths:  # warm: every summary cached
        assert requests.get(api.url + path, timeout=15).status_code == 200, path

    traffic = Traffic(api.url, paths, threads=4).start()
    time.sleep(2.0)
    killed_at = time.monotonic()
    redis_server.kill()
    time.sleep(OUTAGE_SECONDS)
    restarted = start_redis(tmp_path / "redis-2", port=redis_server.port)
    own_redis.append(restarted)
    restarted_at = time.monotonic()
    # Empty by construction: no persistence, a new data directory.

    # Back to serving: every path answered 200 again after the restart.
    recovered_at: dict[str, float] = {}
    deadline = restarted_at + RECOVERY_LIMIT_SECONDS
    while len(recovered_at) < len(paths) and time.monotonic() < deadline:
        time.sleep(0.2)
        for answer in traffic.snapshot():
            if answer.at >= restarted_at and answer.status == 200:
                recovered_at.setdefault(answer.path, answer.at)
    time.sleep(2.0)  # and keeps serving
    answers = traffic.stop()
    recovery = max(recovered_at.values(), default=deadline) - restarted_at

    # One token-refresher pass (the CronJob) afterwards: everything is back, nothing to do.
    refresher = finish(spawn(env), timeout=60)
    summary = json_lines(refresher.stderr)[-1]
    restored_client = restarted.client()
    runtime_after = build_runtime(
        settings, redis_client=restored_client, mirror=FileMirror(mirror_dir), clock=SystemClock()
    )
    intact = 0
    for account in accounts:
        after = runtime_after.store.get("strava", account)
        old = before[account]
        assert old is not None
        if (
            after is not None
            and after.version == old.version
            and after.refresh_token == old.refresh_token
            and sandbox.refresh_token_valid(after.refresh_token)
        ):
            intact += 1

    counts = statuses(answers)
    during = [a for a in answers if killed_at <= a.at < restarted_at]
    after_recovery = [a for a in answers if a.at >= restarted_at + recovery]
    unavailable = [a for a in answers if a.status == 503]
    by_id = [a for a in during if "/athletes/" in a.path]
    from_memory = [a for a in by_id if a.status == 200 and a.stale]
    errors = api.log_text().count('"unhandled error"')
    retry_after = "" if all(a.retry_after for a in unavailable) else " (some w/o Retry-After)"
    figure = (
        f"{len(answers)} requests: {counts.get(500, 0)} x 500, {counts.get(404, 0)} x 404, "
        f"{counts.get(503, 0)} x 503{retry_after}; {OUTAGE_SECONDS:.0f}s down: "
        f"{sum(a.status == 200 for a in by_id)}/{len(by_id)} by-id reads 200 "
        f"({len(from_memory)} stale from worker memory); {intact}/{ATHLETES} credentials "
        f"restored from the mirror; serving {recovery:.1f}s after restart"
    )
    passed = (
        counts.get(500, 0) == 0
        and counts.get(0, 0) == 0
        and counts.get(404, 0) == 0
        and all(a.retry_after for a in unavailable)
        and intact == ATHLETES
        and len(recovered_at) == len(paths)
        and all(a.status == 200 for a in after_recovery)
        and errors == 0
        and bool(by_id)
        and all(a.status == 200 for a in by_id)
        and bool(from_memory)
    )
    fault_report.add("Redis killed, restarted empty", figure, passed)

    print(f"status counts: {dict(counts)}; during the outage: {dict(statuses(during))}")
    assert counts.get(500, 0) == 0, "a widget caller got a 500"
    assert counts.get(0, 0) == 0, "a widget caller got no HTTP answer at all"
    assert counts.get(404, 0) == 0, "an account looked disconnected while Redis was empty"
    assert all(a.retry_after for a in unavailable), "a 503 without Retry-After"
    assert by_id, "no request was made during the outage"
    # Summaries a worker had served: 200, stale from its memory (or fresh once Redis is back).
    assert all(a.status == 200 for a in by_id), statuses(by_id)
    assert from_memory, "no summary was served from a worker's memory during the outage"
    assert len(recovered_at) == len(paths), f"not serving again: {set(paths) - set(recovered_at)}"
    assert all(a.status == 200 for a in after_recovery), statuses(after_recovery)
    assert errors == 0, "activity-api logged an unhandled error"
    assert api.worker_pids() == workers, "a gunicorn worker died"
    assert intact == ATHLETES
    assert refresher.code == 0, refresher.stderr[-2000:]
    assert summary["msg"] == "refresher pass finished"
