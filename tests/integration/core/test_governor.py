"""The rate governor in a real Redis: shared budget, priorities, headers, 429s, windows."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from paceline import metrics
from paceline.clock import ManualClock
from paceline.governor import Priority, RateGovernor, WindowPlan, counts_as_read
from paceline.upstream import RateLimitReport

START = 1_767_225_600.0 + 60  # 2026-01-01T00:01:00Z


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def governor(client: redis.Redis, clock: ManualClock, **kw: object) -> RateGovernor:
    return RateGovernor(client, "strava", "12345", clock, **kw)  # type: ignore[arg-type]


def report(
    overall: tuple[int, int],
    read: tuple[int, int],
    *,
    limits: tuple[int, int] = (20, 100),
    read_limits: tuple[int, int] = (20, 100),
    status: int = 200,
) -> RateLimitReport:
    return RateLimitReport(
        "strava",
        {"overall": limits, "read": read_limits},
        {"overall": overall, "read": read},
        status,
        0.0,
    )


def test_concurrent_callers_never_exceed_the_limit(
    redis_client: redis.Redis, clock: ManualClock
) -> None:
    gov = governor(redis_client, clock)
    gov.observe(report((0, 0), (0, 0)))  # the provider says: 20 per quarter hour
    # Several processes share the budget: separate governors, one Redis.
    governors = [governor(redis_client, clock) for _ in range(4)]
    with ThreadPoolExecutor(16) as pool:
        decisions = list(
            pool.map(lambda i: governors[i % 4].acquire(Priority.INTERACTIVE), range(100))
        )
    assert sum(d.allowed for d in decisions) == 20
    assert gov.snapshot()["read"]["15min"] == (20, 20)


def test_background_stops_short_of_the_interactive_reserve(
    redis_client: redis.Redis, clock: ManualClock
) -> None:
    gov = governor(redis_client, clock, reserve_fraction=0.2)
    gov.observe(report((0, 0), (0, 0)))
    background = [gov.acquire(Priority.BACKGROUND).allowed for _ in range(20)]
    assert background.count(True) == 16
    prefetch = gov.acquire(Priority.PREFETCH)
    assert not prefetch.allowed
    interactive = [gov.acquire(Priority.INTERACTIVE).allowed for _ in range(5)]
    assert interactive == [True, True, True, True, False]


def test_prefetch_gives_way_first(redis_client: redis.Redis, clock: ManualClock) -> None:
    gov = governor(redis_client, clock, reserve_fraction=0.2)
    gov.observe(report((0, 0), (0, 0)))
    assert [gov.acquire(Priority.PREFETCH).allowed for _ in range(13)].count(True) == 12
    assert gov.acquire(Priority.BACKGROUND).allowed


def test_the_providers_count_wins_when_higher(
    redis_client: redis.Redis, clock: ManualClock
) -> None:
    gov = governor(redis_client, clock)
    assert gov.acquire(Priority.INTERACTIVE).allowed
    # another deployment sharing the app used 17 more meanwhile
    gov.observe(report((18, 18), (18, 18)))
    assert [gov.acquire(Priority.INTERACTIVE).allowed for _ in range(3)] == [True, True, False]


def test_our_count_stays_when_the_provider_lags(
    redis_client: redis.Redis, clock: ManualClock
) -> None:
    gov = governor(redis_client, clock)
    gov.observe(report((0, 0), (0, 0)))
    for _ in range(10):
        gov.acquire(Priority.INTERACTIVE)
    gov.observe(report((4, 4), (4, 4)))  # an early response; 6 more calls are in flight
    assert gov.snapshot()["overall"]["15min"] == (10, 20)


def test_a_429_closes_the_window_until_it_resets(
    redis_client: redis.Redis, clock: ManualClock
) -> None:
    gov = governor(redis_client, clock)
    gov.observe(report((20, 30), (20, 30), status=429))
    denied = gov.acquire(Priority.INTERACTIVE)
    assert not denied.allowed
    assert (denied.bucket, denied.window) == ("overall", "15min")
    assert denied.retry_after == 14 * 60  # 00:01 -> 00:15
    clock.advance(14 * 60)
    assert gov.acquire(Priority.INTERACTIVE).allowed


def test_a_bare_429_closes_the_quarter_hour(redis_client: redis.Redis, clock: ManualClock) -> None:
    gov = governor(redis_client, clock)
    gov.observe(RateLimitReport("strava", {}, {}, 429, 0.0))  # a 429 without any headers
    denied = gov.acquire(Priority.INTERACTIVE)
    assert not denied.allowed and denied.window == "15min"


def test_a_429_whose_headers_show_room_still_closes_the_quarter_hour(
    redis_client: redis.Redis, clock: ManualClock
) -> None:
    gov = governor(redis_client, clock)
    gov.observe(report((3, 3), (3, 3), status=429))
    denied = gov.acquire(Priority.INTERACTIVE)
    assert not denied.allowed and denied.window == "15min"
    assert denied.retry_after == 14 * 60


def test_the_daily_limit_blocks_until_midnight_utc(
    redis_client: redis.Redis, clock: ManualClock
) -> None:
    gov = governor(redis_client, clock)
    gov.observe(report((0, 100), (0, 100)))
    denied = gov.acquire(Priority.INTERACTIVE)
    assert not denied.allowed
    assert denied.window == "daily"
    assert denied.retry_after == 86400 - 60
    clock.advance(15 * 60)
    assert not gov.acquire(Priority.INTERACTIVE).allowed  # a new quarter hour is not enough
    clock.advance(86400)
    assert gov.acquire(Priority.INTERACTIVE).allowed


def test_uploads_count_only_against_overall_every_other_request_in_both(
    redis_client: redis.Redis, clock: ManualClock
) -> None:
    gov = governor(redis_client, clock)
    gov.observe(report((0, 0), (0, 0)))
    gov.acquire(Priority.INTERACTIVE, read=counts_as_read("POST", "/uploads"))
    gov.acquire(Priority.INTERACTIVE, read=counts_as_read("POST", "/push_subscriptions"))
    gov.acquire(Priority.INTERACTIVE, read=counts_as_read("DELETE", "/push_subscriptions/1"))
    snap = gov.snapshot()
    assert snap["overall"]["15min"][0] == 3
    assert snap["read"]["15min"][0] == 2  # Strava's "non-upload" bucket: not only GETs


def test_limits_come_from_headers_not_constants(
    redis_client: redis.Redis, clock: ManualClock
) -> None:
    gov = governor(redis_client, clock, assumed_limits={"overall": (3, 30), "read": (3, 30)})
    assert [gov.acquire(Priority.INTERACTIVE).allowed for _ in range(4)] == [True] * 3 + [False]
    gov.observe(report((3, 3), (3, 3), limits=(600, 30000), read_limits=(300, 3000)))
    assert gov.acquire(Priority.INTERACTIVE).allowed
    assert gov.snapshot()["overall"]["15min"] == (4, 600)


def test_windows_follow_the_injected_clock(redis_client: redis.Redis, clock: ManualClock) -> None:
    gov = governor(redis_client, clock, windows=WindowPlan(short_seconds=10, day_seconds=1000))
    gov.observe(report((20, 20), (20, 20)))
    assert not gov.acquire(Priority.INTERACTIVE).allowed
    clock.advance(10)
    assert gov.acquire(Priority.INTERACTIVE).allowed


def test_decisions_are_counted_by_priority_and_result(
    redis_client: redis.Redis, clock: ManualClock
) -> None:
    gov = governor(redis_client, clock)
    gov.observe(report((19, 19), (19, 19)))
    metric = metrics.GOVERNOR_DECISIONS
    before_allowed = metric.labels("strava", "interactive", "allowed")._value.get()
    before_denied = metric.labels("strava", "background", "denied")._value.get()
    gov.acquire(Priority.INTERACTIVE)
    gov.acquire(Priority.BACKGROUND)
    assert metric.labels("strava", "interactive", "allowed")._value.get() == before_allowed + 1
    assert metric.labels("strava", "background", "denied")._value.get() == before_denied + 1


def test_every_decision_is_immediate(redis_client: redis.Redis, clock: ManualClock) -> None:
    gov = governor(redis_client, clock)
    gov.observe(report((20, 20), (20, 20)))
    done = threading.Event()

    def ask() -> None:
        gov.acquire(Priority.INTERACTIVE)
        done.set()

    threading.Thread(target=ask).start()
    assert done.wait(1.0)
