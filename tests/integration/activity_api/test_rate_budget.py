"""A small application budget (20 calls per window): never exceeded, no 429 reaches a visitor,
stale summaries are served meanwhile, and the window reopens on the provider's clock."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from paceline.upstream import PermanentError

from tests.fixtures.sandbox import SandboxFactory, SandboxHandle
from tests.integration.activity_api.conftest import Harness, HarnessFactory, make_athlete

WINDOW = 900
LIMIT = 20


def calls_per_window(sandbox: SandboxHandle) -> Counter[int]:
    recent = sandbox.calls()["recent"]
    return Counter(
        int(call["at"] // WINDOW) for call in recent if call["endpoint"].startswith("GET /api/v3")
    )


def ask_all(h: Harness, accounts: list[str]) -> list[tuple[int, dict, str | None]]:
    answers = []
    for account in accounts:
        response = h.client.get(f"/v1/strava/athletes/{account}/summary")
        answers.append(
            (response.status_code, response.get_json(), response.headers.get("Retry-After"))
        )
    return answers


def test_budget_of_20_per_window(
    sandbox_factory: SandboxFactory, harness_factory: HarnessFactory
) -> None:
    sandbox = sandbox_factory(rate_limit_overall=f"{LIMIT},1000", rate_limit_read=f"{LIMIT},1000")
    start = (int(time.time()) // WINDOW + 4) * WINDOW + 60  # one minute into a quarter hour
    sandbox.set_time(start, freeze=True)
    h = harness_factory(sandbox=sandbox, summary_fresh_seconds=60)
    h.clock.set(start)
    accounts = [
        h.connect(make_athlete(sandbox, photos_on_latest=0, extra_runs=1)) for _ in range(8)
    ]

    # 1. Eight cache misses need 24 calls; the budget has 20.
    first = ask_all(h, accounts)
    statuses = [status for status, _, _ in first]
    assert statuses == [200] * 6 + [503] * 2
    for _status, body, retry_after in first[6:]:
        assert body["error"] == "rate_limited"
        assert retry_after is not None and 1 <= int(retry_after) <= WINDOW - 60
    assert h.total_api_calls() <= LIMIT

    # 2. Later in the same window: cached summaries are served stale, nothing is called.
    h.advance(120, sandbox=True)
    calls = h.total_api_calls()
    for _ in range(5):
        second = ask_all(h, accounts)
        for status, body, _ in second[:6]:
            assert status == 200
            assert body["meta"]["stale"] is True
        for status, _body, retry_after in second[6:]:
            assert status == 503
            assert int(retry_after or 0) <= WINDOW - 180
    assert h.builds_done()
    assert h.total_api_calls() == calls

    # 3. The next window opens on the provider's clock: the misses are built now, and
    #    background refreshes use what the interactive reserve leaves.
    h.advance(WINDOW - 180, sandbox=True)
    third = ask_all(h, accounts[6:] + accounts[:6])
    assert [status for status, _, _ in third] == [200] * 8
    assert all(body["meta"]["stale"] is False for _, body, _ in third[:2])
    assert h.builds_done()
    refreshed = [
        h.client.get(f"/v1/strava/athletes/{a}/summary").get_json()["meta"]["stale"] is False
        for a in accounts[:6]
    ]
    assert any(refreshed)

    # Never over the limit in any window, never a 429 from the provider or to a caller.
    per_window = calls_per_window(sandbox)
    assert len(per_window) == 2
    assert max(per_window.values()) <= LIMIT
    assert sandbox.calls()["rate_limited"] == 0
    assert "429" not in sandbox.calls()["by_status"]


def test_a_subscription_call_is_a_read_for_both_strava_and_the_governor(
    harness: Harness,
) -> None:
    api = harness.summaries.builder.api
    with pytest.raises(PermanentError):
        api.delete_subscription(999)  # a DELETE: Strava counts it in the read bucket too

    ours = api.governor.snapshot()
    theirs = harness.sandbox.rate_usage()["usage"][harness.sandbox.client_id]
    assert ours["read"]["15min"][0] == 1 and ours["overall"]["15min"][0] == 1
    assert theirs["read"] == "1,1" and theirs["overall"] == "1,1"


def test_a_refused_request_counts_towards_the_day_for_strava_and_the_governor(
    harness: Harness,
) -> None:
    account = harness.connect(make_athlete(harness.sandbox))
    harness.sandbox.set_rate_usage(read=(100, 500))  # the read quarter hour is full

    refused = harness.client.get(f"/v1/strava/athletes/{account}/summary")

    assert refused.status_code == 503
    theirs = harness.sandbox.rate_usage()["usage"][harness.sandbox.client_id]
    ours = harness.summaries.builder.api.governor.snapshot()
    assert theirs["read"] == "100,501"  # the 429 still counted towards the day
    assert ours["read"]["daily"][0] == 501
