"""A soak at a fixed request rate against activity-api under gunicorn: memory stays flat.

Widget traffic at 50 requests per second, paced, for ``PACELINE_SOAK_SECONDS`` (default 300)
after a warm-up, against the production gunicorn configuration (2 workers; request-count
recycling switched off, so a leak cannot hide behind worker restarts). Summaries go stale every
20 s so background refreshes run all along, and a webhook event arrives every 10 s. The RSS of
the master and every worker is sampled every 5 s: growth from after the warm-up to the end
must stay under 10 %, with zero errors.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
import requests

from tests.faults.conftest import Recorder
from tests.faults.stack import Service, Traffic, service_env, statuses
from tests.faults.test_redis_loss import connect
from tests.fixtures.redis import RedisServer
from tests.fixtures.runtime import RuntimeFactory
from tests.fixtures.sandbox import SandboxFactory

pytestmark = pytest.mark.faults

SOAK_SECONDS = float(os.environ.get("PACELINE_SOAK_SECONDS", "300"))
WARMUP_SECONDS = min(30.0, max(5.0, SOAK_SECONDS / 5))
RATE = 50.0
SAMPLE_EVERY = 5.0
MAX_GROWTH = 0.10
SUBSCRIPTION_ID = 4711


@pytest.mark.timeout(int(SOAK_SECONDS + WARMUP_SECONDS + 180))
def test_soak_at_fixed_rate_keeps_memory_flat_and_answers_every_request(
    sandbox_factory: SandboxFactory,
    redis_server: RedisServer,
    redis_client: redis.Redis,
    make_runtime: RuntimeFactory,
    services: Callable[..., Service],
    tmp_path: Path,
    fault_report: Recorder,
) -> None:
    sandbox = sandbox_factory(
        rate_limit_read="1000000,10000000", rate_limit_overall="1000000,10000000"
    )
    runtime = make_runtime(
        strava_base_url=sandbox.url,
        strava_client_id=sandbox.client_id,
        strava_client_secret=sandbox.client_secret,
    )
    accounts = [connect(runtime, sandbox) for _ in range(3)]
    api = services(
        "activity-api",
        service_env(
            redis_server.url,
            sandbox,
            tmp_path / "mirror",
            PACELINE_SUMMARY_FRESH_SECONDS="20",
            PACELINE_WEBHOOK_SUBSCRIPTION_ID=str(SUBSCRIPTION_ID),
            GUNICORN_MAX_REQUESTS="100000000",
            GUNICORN_MAX_REQUESTS_JITTER="1",
        ),
    )
    paths = ["/v1/strava/summary"]
    for account in accounts:
        paths += [
            f"/v1/strava/athletes/{account}/summary",
            f"/v1/strava/athletes/{account}/activities?limit=5",
        ]
    threads = 5
    traffic = Traffic(api.url, paths, threads=threads, rate=RATE).start()
    events: list[int] = []

    def send_event() -> None:
        owner = int(accounts[len(events) % len(accounts)])
        activity = sandbox.add_activity(owner, name=f"Soak run {len(events)}")
        answer = requests.post(
            f"{api.url}/webhooks/strava",
            json={
                "object_type": "activity",
                "aspect_type": "create",
                "object_id": activity["id"],
                "owner_id": owner,
                "subscription_id": SUBSCRIPTION_ID,
                "event_time": int(time.time()),
                "updates": {},
            },
            timeout=10,
        )
        events.append(answer.status_code)

    started = time.monotonic()
    time.sleep(WARMUP_SECONDS)
    measured_from = time.monotonic()
    samples: list[tuple[float, int]] = []
    next_event = measured_from
    while time.monotonic() - measured_from < SOAK_SECONDS:
        samples.append((time.monotonic() - measured_from, api.rss_kib()))
        if time.monotonic() >= next_event:
            send_event()
            next_event += 10.0
        time.sleep(SAMPLE_EVERY)
    samples.append((time.monotonic() - measured_from, api.rss_kib()))
    answers = traffic.stop()
    elapsed = time.monotonic() - started

    measured = [a for a in answers if a.at >= measured_from]
    rate = len(measured) / SOAK_SECONDS
    errors = [a for a in answers if a.status != 200]
    logged_errors = api.log_text().count('"unhandled error"')
    first = statistics.median(rss for _, rss in samples[:3])
    last = statistics.median(rss for _, rss in samples[-3:])
    growth = (last - first) / first
    figure = (
        f"{len(answers)} requests in {elapsed:.0f}s ({rate:.1f}/s measured over "
        f"{SOAK_SECONDS:.0f}s), {len(errors)} errors; RSS {first / 1024:.1f} -> "
        f"{last / 1024:.1f} MiB ({growth:+.1%}); {len(events)} webhook events"
    )
    passed = (
        growth < MAX_GROWTH
        and not errors
        and logged_errors == 0
        and rate >= 0.9 * RATE
        and all(status == 200 for status in events)
    )
    fault_report.add(f"soak {SOAK_SECONDS:.0f}s at {RATE:.0f} req/s", figure, passed)

    print("RSS samples (s, KiB):", samples)
    assert not errors, statuses(errors)
    assert logged_errors == 0, "activity-api logged an unhandled error"
    assert all(status == 200 for status in events), events
    assert rate >= 0.9 * RATE, f"the pace was not held: {rate:.1f} req/s"
    assert growth < MAX_GROWTH, f"memory grew {growth:.1%}"
