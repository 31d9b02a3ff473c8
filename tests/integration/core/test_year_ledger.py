"""The year ledger in a real Redis: stored, patched, paged within its cap, erased with the
account, and never written back for an account erased mid-build (paceline.year_ledger)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import redis
from paceline.credential_intake import store_tokens
from paceline.erasure import erase_account
from paceline.governor import Priority
from paceline.oauth import TokenResponse
from paceline.runtime import Runtime
from paceline.strava_api import BudgetExhausted, Deadline
from paceline.year_ledger import KEEP_SECONDS, MAX_PAGES, PAGE_SIZE, Ledger, YearLedger, ledger_key
from paceline.year_totals import Figures, page_after

from tests.fixtures.runtime import RuntimeFactory

ACCOUNT = "42"
RUN = Figures("run", dt.date(2026, 3, 1), 10000.0, 3000, 50.0)
SWIM = Figures("swim", dt.date(2026, 3, 2), 1500.5, 2400, 0.0)


def connected(
    make_runtime: RuntimeFactory, scope: str = "read,activity:read_all", *, opted_in: bool = True
) -> Runtime:
    runtime = make_runtime(private_totals_accounts=ACCOUNT if opted_in else "")
    tokens = TokenResponse(
        access_token="access-token-for-ledger-tests",
        refresh_token="refresh-token-for-ledger-tests",
        expires_at=4_000_000_000.0,
        scopes=tuple(scope.split(",")),
        account_id=ACCOUNT,
        display_name=None,
        rotated=False,
    )
    store_tokens(runtime, "strava", ACCOUNT, tokens)
    return runtime


class ListingAPI:
    """Stands in for StravaAPI.activities: ``total`` runs of 2026, newest first, paged."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.asked: list[dict[str, Any]] = []

    def activities(self, account_id: str, priority: Priority, **params: Any) -> list[Any]:
        assert priority is Priority.BACKGROUND  # paging never spends the visitors' reserve
        self.asked.append(params)
        first = (params["page"] - 1) * params["per_page"]
        count = max(0, min(params["per_page"], self.total - first))
        return [
            {
                "id": 1000 + first + n,
                "sport_type": "Run",
                "start_date_local": "2026-02-01T07:00:00Z",
                "distance": 1000.0,
                "moving_time": 300,
            }
            for n in range(count)
        ]


def test_a_ledger_is_stored_with_a_lifetime_and_read_back(
    make_runtime: RuntimeFactory, redis_client: redis.Redis
) -> None:
    ledgers = YearLedger(connected(make_runtime))

    assert ledgers.store(ACCOUNT, Ledger(2026, {1: RUN, 2: SWIM}))

    assert ledgers.load(ACCOUNT) == Ledger(2026, {1: RUN, 2: SWIM}, capped=False)
    assert 0 < redis_client.ttl(ledger_key(ACCOUNT)) <= KEEP_SECONDS


def test_an_update_writes_only_the_difference_and_needs_a_ledger(
    make_runtime: RuntimeFactory, redis_client: redis.Redis
) -> None:
    ledgers = YearLedger(connected(make_runtime))
    assert not ledgers.update(ACCOUNT, {}, {1: RUN})  # nothing stored: nothing to update
    assert ledgers.load(ACCOUNT) is None

    ledgers.store(ACCOUNT, Ledger(2026, {1: RUN}))
    assert ledgers.update(ACCOUNT, {1: RUN}, {2: SWIM})

    assert ledgers.load(ACCOUNT) == Ledger(2026, {2: SWIM})


def test_erasing_the_account_erases_its_ledger_and_a_late_write_cannot_bring_it_back(
    make_runtime: RuntimeFactory, redis_client: redis.Redis
) -> None:
    runtime = connected(make_runtime)
    ledgers = YearLedger(runtime)
    ledgers.store(ACCOUNT, Ledger(2026, {1: RUN}))

    erase_account(runtime.store, "strava", ACCOUNT)

    assert not redis_client.exists(ledger_key(ACCOUNT))
    # A build that was in flight when the athlete revoked access finishes afterwards:
    assert not ledgers.store(ACCOUNT, Ledger(2026, {1: RUN}))
    assert not redis_client.exists(ledger_key(ACCOUNT))


def test_paging_stops_at_the_first_short_page(make_runtime: RuntimeFactory) -> None:
    ledgers = YearLedger(connected(make_runtime))
    api = ListingAPI(total=PAGE_SIZE + 5)

    ledger = ledgers.page_year(api, ACCOUNT, 2026, None)  # type: ignore[arg-type]

    assert len(api.asked) == 2
    assert all(p["after"] == page_after(2026) and p["per_page"] == PAGE_SIZE for p in api.asked)
    assert len(ledger.entries) == PAGE_SIZE + 5 and not ledger.capped
    assert ledgers.load(ACCOUNT) == ledger


def test_paging_is_capped_and_a_capped_ledger_serves_stravas_totals(
    make_runtime: RuntimeFactory,
) -> None:
    ledgers = YearLedger(connected(make_runtime))
    api = ListingAPI(total=PAGE_SIZE * MAX_PAGES + 1)
    strava_body = {"totals": {"run": {"year_to_date": {"count": 7}}}, "goals": []}

    body = ledgers.after_build(
        api,  # type: ignore[arg-type]
        ACCOUNT,
        strava_body,
        [],
        30,
        None,
        dt.datetime(2026, 6, 1, tzinfo=dt.UTC).timestamp(),
    )

    assert len(api.asked) == MAX_PAGES
    assert ledgers.load(ACCOUNT) == Ledger(2026, {}, capped=True)  # a marker, no entries
    assert body == strava_body  # a short count would be a wrong one


def test_without_opt_in_or_without_read_all_nothing_is_paged(make_runtime: RuntimeFactory) -> None:
    api = ListingAPI(total=3)
    body = {"totals": {}, "goals": []}
    when = dt.datetime(2026, 6, 1, tzinfo=dt.UTC).timestamp()
    narrow = YearLedger(connected(make_runtime, scope="read,activity:read"))
    assert narrow.after_build(api, ACCOUNT, body, [], 30, None, when) == body  # type: ignore[arg-type]
    plain = YearLedger(connected(make_runtime, opted_in=False))
    assert not plain.counts_everything(ACCOUNT)
    assert plain.after_build(api, ACCOUNT, body, [], 30, None, when) == body  # type: ignore[arg-type]
    assert api.asked == []


def at(year: int, month: int = 6) -> float:
    return dt.datetime(year, month, 1, 12, tzinfo=dt.UTC).timestamp()


def test_a_new_year_pages_a_new_ledger(make_runtime: RuntimeFactory) -> None:
    ledgers = YearLedger(connected(make_runtime))
    ledgers.store(ACCOUNT, Ledger(2025, {1: RUN}))
    api = ListingAPI(total=3)  # three runs of 2026
    body = {"totals": {"run": {"year_to_date": {}}}, "goals": []}

    after = ledgers.after_build(api, ACCOUNT, body, [], 30, None, at(2026, 1))  # type: ignore[arg-type]

    assert [p["after"] for p in api.asked] == [page_after(2026)]
    assert ledgers.load(ACCOUNT).year == 2026  # type: ignore[union-attr]
    assert after["totals"]["run"]["year_to_date"]["count"] == 3


class SpentAPI:
    """The governor says no to every page."""

    def activities(self, account_id: str, priority: Priority, **params: Any) -> list[Any]:
        raise BudgetExhausted("GET /athlete/activities: rate budget spent", retry_after=60)


def test_a_cache_miss_that_cannot_page_serves_stravas_totals_and_says_it_is_behind(
    make_runtime: RuntimeFactory,
) -> None:
    ledgers = YearLedger(connected(make_runtime))
    ledgers.store(ACCOUNT, Ledger(2025, {1: RUN}))  # last year's: of no use now
    body = {"totals": {"run": {"year_to_date": {"count": 7}}}, "goals": []}

    served = ledgers.after_build(SpentAPI(), ACCOUNT, body, [], 30, Deadline(5.0), at(2026))  # type: ignore[arg-type]

    assert served == body
    assert ledgers.behind(ACCOUNT)
    with pytest.raises(BudgetExhausted):  # a background build fails instead, and is retried
        ledgers.after_build(SpentAPI(), ACCOUNT, body, [], 30, None, at(2026))  # type: ignore[arg-type]
