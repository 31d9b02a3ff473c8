"""One credential, many would-be refreshers: exactly one token post, whoever they are."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from paceline.refresh import RefreshResult, refresh_credential
from token_refresher.refresher import PassOptions, run_pass

from tests.integration.refresher.conftest import CliRun, StravaSetup, finish, run_cli, spawn


def test_two_refresher_processes_started_together_post_once(
    strava_setup: Callable[..., StravaSetup],
) -> None:
    setup = strava_setup()
    runtime = setup.runtime()
    due = setup.seed(runtime, 30 * 60)
    # A slow token endpoint makes the two passes overlap whatever the start-up jitter.
    setup.sandbox.fault("/oauth/token", latency_ms=700)

    first, second = spawn(setup.env()), spawn(setup.env())
    runs = [finish(first), finish(second)]

    assert [r.code for r in runs] == [0, 0]
    assert setup.token_posts() == 1
    after = runtime.store.get("strava", due.account_id)
    assert after is not None and after.version == due.version + 1
    assert setup.sandbox.refresh_token_valid(after.refresh_token)
    results = sorted(
        line["result"]
        for run in runs
        for line in run.log_lines()
        if line["msg"] == "credential handled"
    )
    assert results in (["busy", "refreshed"], ["refreshed", "skipped"])


def test_two_passes_in_threads_with_separate_runtimes_post_once(
    strava_setup: Callable[..., StravaSetup],
) -> None:
    setup = strava_setup()
    runtimes = [setup.runtime(), setup.runtime()]
    accounts = [setup.seed(runtimes[0], 20 * 60).account_id for _ in range(5)]
    setup.sandbox.fault("/oauth/token", latency_ms=100)
    barrier = threading.Barrier(2)
    reports = []

    def one_pass(index: int) -> None:
        barrier.wait()
        reports.append(run_pass(runtimes[index], PassOptions(workers=4)))

    threads = [threading.Thread(target=one_pass, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert setup.token_posts() == len(accounts)
    assert sum(r.counts["refreshed"] for r in reports) == len(accounts)
    assert not any(r.failed for r in reports)


def test_on_demand_refresh_after_a_401_waits_for_the_refresher_and_reuses_its_answer(
    strava_setup: Callable[..., StravaSetup],
) -> None:
    """activity-api's path: same lock, same code; the rejected access token is not re-posted."""
    setup = strava_setup()
    refresher, api = setup.runtime(), setup.runtime()
    due = setup.seed(refresher, 30 * 60)
    setup.sandbox.fault("/oauth/token", latency_ms=500)
    outcome: dict[str, CliRun] = {}
    pass_thread = threading.Thread(target=lambda: outcome.update(cli=run_cli(refresher)))
    pass_thread.start()
    deadline = time.monotonic() + 5
    while not refresher.redis.exists(f"paceline:lock:strava:{due.account_id}"):
        assert time.monotonic() < deadline, "the pass never took the lock"
        time.sleep(0.005)

    on_demand = refresh_credential(
        api, "strava", due.account_id, lock_wait_seconds=5, rejected_access_token=due.access_token
    )
    pass_thread.join(10)

    assert outcome["cli"].code == 0
    assert setup.token_posts() == 1
    assert on_demand.result is RefreshResult.SKIPPED and on_demand.detail == "already refreshed"
    assert on_demand.credential is not None
    assert on_demand.credential.access_token != due.access_token
    assert on_demand.credential.version == due.version + 1


def test_a_slow_provider_outlasting_a_short_lock_still_gets_one_post(
    strava_setup: Callable[..., StravaSetup],
) -> None:
    """The lock is stretched to cover the token post, so a second pass cannot start one."""
    setup = strava_setup(rotation="always-single-use")
    first = setup.runtime(refresh_lock_ttl_seconds=0.3, http_timeout_seconds=1.0)
    second = setup.runtime(refresh_lock_ttl_seconds=0.3, http_timeout_seconds=1.0)
    due = setup.seed(first, 30 * 60)
    setup.sandbox.fault("/oauth/token", latency_ms=700, times=1)
    runs: dict[str, CliRun] = {}
    slow = threading.Thread(target=lambda: runs.update(first=run_cli(first)))
    slow.start()
    deadline = time.monotonic() + 5
    while first.redis.get(f"paceline:inflight:strava:{due.account_id}") is None:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    time.sleep(0.4)  # longer than the configured lock TTL

    runs["second"] = run_cli(second)
    slow.join(10)

    assert setup.token_posts() == 1
    assert (runs["first"].code, runs["second"].code) == (0, 0)
    assert '"result": "busy"' in runs["second"].stderr
    saved = first.store.get("strava", due.account_id)
    assert saved is not None and saved.version == due.version + 1
    assert setup.sandbox.refresh_token_valid(saved.refresh_token)
