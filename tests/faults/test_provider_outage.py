"""The provider down for a long stretch, in every way it can be down, under widget traffic.

activity-api runs under gunicorn (2 workers) with two athletes cached and one never cached.
The sandbox then fails every call for a phase each: 5xx, hung connections (timeouts), no
server at all (connection refused), malformed JSON, and a 429 storm (budget spent and every
call refused). Throughout: zero 500s; cached summaries keep being served, marked stale, with an
age that keeps growing; the never-cached athlete gets a 503 with Retry-After. When the
provider is back, everything is fresh again without anyone touching anything.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
import requests
from provider_sandbox.server import SandboxServer

from tests.faults.conftest import Recorder
from tests.faults.stack import Answer, Service, Traffic, service_env, statuses
from tests.faults.test_redis_loss import connect
from tests.fixtures.redis import RedisServer
from tests.fixtures.runtime import RuntimeFactory
from tests.fixtures.sandbox import SandboxFactory, SandboxHandle

pytestmark = pytest.mark.faults

PHASE_SECONDS = 7.0
FRESH_SECONDS = 2
RECOVERY_LIMIT_SECONDS = 30.0
WINDOW_SECONDS = 10


@pytest.fixture
def provider(sandbox_factory: SandboxFactory) -> Iterator[SandboxHandle]:
    handle = sandbox_factory(
        rate_limit_read="100000,1000000",
        rate_limit_overall="100000,1000000",
        window_seconds=WINDOW_SECONDS,  # a compressed 15-minute window: a spent budget reopens
    )
    yield handle


def stop_server(sandbox: SandboxHandle) -> None:
    assert sandbox.server is not None
    sandbox.server.stop()


def restart_server(sandbox: SandboxHandle) -> None:
    """The same provider (its tokens and data) back on the same port."""
    assert sandbox.server is not None and sandbox.app is not None
    sandbox.server = SandboxServer(sandbox.app, "127.0.0.1", sandbox.server.port).start()


def test_provider_down_for_a_long_stretch_serves_stale_with_age_and_recovers_alone(
    provider: SandboxHandle,
    redis_server: RedisServer,
    redis_client: redis.Redis,
    make_runtime: RuntimeFactory,
    services: Callable[..., Service],
    tmp_path: Path,
    fault_report: Recorder,
) -> None:
    sandbox = provider
    mirror_dir = tmp_path / "mirror"
    runtime = make_runtime(
        strava_base_url=sandbox.url,
        strava_client_id=sandbox.client_id,
        strava_client_secret=sandbox.client_secret,
    )
    cached = [connect(runtime, sandbox) for _ in range(2)]
    never_cached = connect(runtime, sandbox)
    api = services(
        "activity-api",
        service_env(
            redis_server.url,
            sandbox,
            mirror_dir,
            PACELINE_SUMMARY_FRESH_SECONDS=str(FRESH_SECONDS),
            PACELINE_SUMMARY_RETRY_SECONDS="2",
            PACELINE_HTTP_TIMEOUT_SECONDS="1",
            PACELINE_SUMMARY_BUILD_TIMEOUT_SECONDS="3",
            PACELINE_GOVERNOR_WINDOW_SECONDS=str(WINDOW_SECONDS),
            GUNICORN_ACCESS_LOG="0",
        ),
    )
    watched = f"/v1/strava/athletes/{cached[0]}/summary"
    paths = [
        "/v1/strava/summary",
        watched,
        f"/v1/strava/athletes/{cached[1]}/summary",
        f"/v1/strava/athletes/{cached[0]}/activities?limit=2",
        f"/v1/strava/athletes/{never_cached}/summary",
    ]
    for path in paths[:-1]:
        assert requests.get(api.url + path, timeout=15).status_code == 200

    # Faults go straight into the sandbox's injector, each one in place before the previous
    # is lifted: the provider is never up, not even for a moment, between two phases.
    assert sandbox.app is not None
    injector = sandbox.app.extensions["sandbox"].faults
    traffic = Traffic(api.url, paths, threads=4).start()
    outage_started = time.monotonic()
    print("provider down: 5xx")
    current = injector.add(match="*", status=503).id
    time.sleep(PHASE_SECONDS)
    print("provider down: timeouts (hung connections)")
    hang = injector.add(match="*", timeout=True, hang_seconds=5).id
    injector.remove(current)
    time.sleep(PHASE_SECONDS)
    print("provider down: connection refused")
    stop_server(sandbox)  # releases the hung requests too
    injector.remove(hang)
    time.sleep(PHASE_SECONDS)
    print("provider down: malformed JSON")
    current = injector.add(match="*", malformed=True).id
    restart_server(sandbox)
    time.sleep(PHASE_SECONDS)
    print("provider down: 429 storm")
    storm = injector.add(match="*", status=429).id
    injector.remove(current)
    sandbox.set_rate_usage(read=(100000, 100000), overall=(100000, 100000))  # budget spent
    time.sleep(PHASE_SECONDS)
    sandbox.set_rate_usage(read=(0, 0), overall=(0, 0))
    injector.remove(storm)
    provider_back = time.monotonic()
    outage = [a for a in traffic.snapshot() if a.at >= outage_started]

    # Recovery, untouched: every path answers fresh (or at all, for the never-cached one).
    def recovered() -> bool:
        latest: dict[str, Answer] = {}
        for answer in traffic.snapshot():
            if answer.at >= provider_back:
                latest[answer.path] = answer
        return len(latest) == len(paths) and all(
            a.status == 200 and a.stale is False for a in latest.values()
        )

    # Judged while the traffic runs, once: with summaries fresh for only FRESH_SECONDS, the
    # latest answer of a path is stale again for a moment every few seconds (served stale
    # while its background refresh runs), so asking again later could find one of those.
    deadline = provider_back + RECOVERY_LIMIT_SECONDS
    is_recovered = recovered()
    while not is_recovered and time.monotonic() < deadline:
        time.sleep(0.25)
        is_recovered = recovered()
    recovery = time.monotonic() - provider_back
    answers = traffic.stop()

    counts = statuses(answers)
    watched_outage = [
        a
        for a in outage
        if a.path == watched and a.status == 200 and a.at >= outage_started + FRESH_SECONDS + 1
    ]
    ages = [a.age_seconds or 0.0 for a in sorted(watched_outage, key=lambda a: a.at)]
    growing = all(later >= earlier - 1 for earlier, later in itertools.pairwise(ages))
    outage_length = provider_back - outage_started
    never = [a for a in outage if a.path == paths[-1]]
    cached_outage = [a for a in outage if a.path != paths[-1]]
    errors = api.log_text().count('"unhandled error"')
    figure = (
        f"{len(answers)} requests over {outage_length:.0f}s down: {counts.get(500, 0)} x 500; "
        f"cached: {sum(a.status == 200 for a in cached_outage)}/{len(cached_outage)} x 200, "
        f"stale age {ages[0] if ages else 0:.0f}->{ages[-1] if ages else 0:.0f}s; "
        f"uncached: {sum(a.status == 503 for a in never)} x 503; recovered in {recovery:.1f}s"
    )
    passed = (
        counts.get(500, 0) == 0
        and counts.get(0, 0) == 0
        and all(a.status == 200 for a in cached_outage)
        and all(a.stale for a in watched_outage)
        and growing
        and bool(ages)
        and ages[-1] >= outage_length - FRESH_SECONDS - 3
        and all(a.status in (200, 503) and (a.status == 200 or a.retry_after) for a in never)
        and is_recovered
        and errors == 0
    )
    fault_report.add("provider down (5xx, timeouts, refused, malformed, 429)", figure, passed)

    print(f"status counts: {dict(counts)}; ages of {watched}: {ages[:3]} ... {ages[-3:]}")
    assert counts.get(500, 0) == 0, "activity-api answered 500"
    assert counts.get(0, 0) == 0, "a caller got no HTTP answer"
    assert all(a.status == 200 for a in cached_outage), statuses(cached_outage)
    assert watched_outage and all(a.stale for a in watched_outage), "stale data not marked stale"
    assert growing and ages[-1] >= outage_length - FRESH_SECONDS - 3, ages
    assert all(a.status in (200, 503) for a in never), statuses(never)
    assert all(a.retry_after for a in never if a.status == 503), "503 without Retry-After"
    assert is_recovered, f"not recovered {RECOVERY_LIMIT_SECONDS}s after the provider came back"
    assert errors == 0, "activity-api logged an unhandled error"
