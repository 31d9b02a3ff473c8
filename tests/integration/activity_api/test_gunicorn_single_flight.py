"""Real gunicorn, four worker processes: fifty concurrent cache misses make one build, and
workers replaced after ``max_requests`` drop no request."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from paceline_dev.launch import GunicornServer, LaunchError, free_port
from paceline_dev.launch import start_gunicorn as launch_gunicorn

from tests.fixtures.redis import RedisServer
from tests.integration.activity_api.conftest import HarnessFactory, make_athlete


@pytest.fixture
def gunicorn_env(redis_server: RedisServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PACELINE_", "GUNICORN_"))}
    env.update(
        {
            "PACELINE_REDIS_URL": redis_server.url,
            "PACELINE_LOG_LEVEL": "WARNING",
            "PACELINE_METRICS_PORT": str(free_port()),
            "GUNICORN_ACCESS_LOG": "0",
        }
    )
    return env


StartGunicorn = Callable[[dict[str, str]], GunicornServer]


@pytest.fixture
def start_gunicorn(tmp_path: Path) -> Iterator[StartGunicorn]:
    """activity-api under gunicorn, ready once ``/readyz`` answers and four workers run."""
    servers: list[GunicornServer] = []

    def start(env: dict[str, str]) -> GunicornServer:
        try:
            server = launch_gunicorn("activity-api", env, tmp_path, workers=4, ready_path="/readyz")
        except LaunchError as error:
            pytest.fail(str(error))
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def test_fifty_concurrent_misses_across_four_workers_build_once(
    harness_factory: HarnessFactory,
    gunicorn_env: dict[str, str],
    start_gunicorn: StartGunicorn,
    tmp_path: Path,
) -> None:
    h = harness_factory()
    account = h.connect(make_athlete(h.sandbox))
    h.sandbox.fault("/api/v3/athlete", latency_ms=800, times=1)  # a slow build: all 50 overlap
    env = {
        **gunicorn_env,
        "PACELINE_STRAVA_BASE_URL": h.sandbox.url,
        "PACELINE_STRAVA_CLIENT_ID": h.sandbox.client_id,
        "PACELINE_STRAVA_CLIENT_SECRET": h.sandbox.client_secret,
    }
    server = start_gunicorn(env)
    url = server.url

    barrier = threading.Barrier(50)

    def ask(_: int) -> tuple[int, int]:
        barrier.wait()
        response = requests.get(f"{url}/v1/strava/athletes/{account}/summary", timeout=30)
        return response.status_code, response.json()["athlete"]["id"]

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(ask, range(50)))

    assert answers == [(200, int(account))] * 50
    assert h.api_calls() == {
        "GET /api/v3/athlete": 1,
        "GET /api/v3/athlete/activities": 1,
        "GET /api/v3/athletes/{id}/stats": 1,
        "GET /api/v3/activities/{id}": 1,
    }
    # Several worker processes served summaries (each wrote its own metric file).
    served_by = {
        match.group(1)
        for path in (tmp_path / "prom-activity-api").iterdir()
        if (match := re.match(r"counter_(\d+)\.db", path.name))
    }
    assert len(served_by) >= 2, served_by
    assert str(server.pid) not in served_by  # the master imports the app but serves nothing
    assert requests.get(f"{url}/metrics", timeout=5).status_code == 404
    metrics_url = f"http://127.0.0.1:{env['PACELINE_METRICS_PORT']}/metrics"
    metrics = requests.get(metrics_url, timeout=5).text
    assert 'paceline_summary_builds_total{provider="strava",result="built",trigger="miss"} 1.0' in (
        metrics
    )


def test_workers_replaced_after_max_requests_drop_no_request(
    harness_factory: HarnessFactory,
    gunicorn_env: dict[str, str],
    start_gunicorn: StartGunicorn,
    tmp_path: Path,
) -> None:
    """Each worker is replaced after about 25 requests while four clients keep reading: every
    answer is the summary, and the replacements (forked from a master that imported the app,
    with the webhook consumer and refresh pool of the old one stopped) serve too."""
    h = harness_factory()
    account = h.connect(make_athlete(h.sandbox))
    env = {
        **gunicorn_env,
        "PACELINE_STRAVA_BASE_URL": h.sandbox.url,
        "PACELINE_STRAVA_CLIENT_ID": h.sandbox.client_id,
        "PACELINE_STRAVA_CLIENT_SECRET": h.sandbox.client_secret,
        "GUNICORN_MAX_REQUESTS": "25",
        "GUNICORN_MAX_REQUESTS_JITTER": "5",
    }
    server = start_gunicorn(env)
    url = server.url
    first_workers = server.worker_pids()

    def read(_: int) -> list[tuple[int, int]]:
        with requests.Session() as session:
            answers = [session.get(f"{url}/v1/strava/summary", timeout=30) for _ in range(100)]
        return [(a.status_code, a.json()["athlete"]["id"]) for a in answers]

    with ThreadPoolExecutor(4) as pool:
        answers = [answer for batch in pool.map(read, range(4)) for answer in batch]

    assert answers == [(200, int(account))] * 400
    log = server.log_text()
    assert log.count("Autorestarting worker after current request") >= 8, log[-2000:]
    assert server.worker_pids().isdisjoint(first_workers)
