"""A worker's last good summaries: bounded, forgotten on disconnect, and only recent ones."""

from __future__ import annotations

from activity_api.reader import LastGood
from paceline.cache import CachedSummary


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def entry(n: int) -> CachedSummary:
    return CachedSummary(b'{"n":%d}' % n, float(n), dirty=False)


def test_keeps_at_most_size_accounts_dropping_the_least_recently_served() -> None:
    kept = LastGood(size=3)
    for n in range(3):
        kept.remember(str(n), entry(n))
    kept.remember("0", entry(10))  # served again: now the most recent
    kept.remember("3", entry(3))
    assert len(kept) == 3
    assert kept.recall("1") is None
    assert kept.recall("0") == entry(10)
    assert [kept.recall(a) is not None for a in ("0", "2", "3")] == [True, True, True]


def test_a_disconnected_account_is_forgotten() -> None:
    kept = LastGood()
    kept.remember("7", entry(7))
    kept.forget("7")
    assert kept.recall("7") is None


def test_an_account_not_seen_connected_for_max_age_is_not_served() -> None:
    ticks = Ticks()
    kept = LastGood(max_age_seconds=600, monotonic=ticks)
    kept.remember("7", entry(7))
    ticks.now += 600
    assert kept.recall("7") == entry(7)
    ticks.now += 1
    assert kept.recall("7") is None


def test_an_erasure_anywhere_drops_every_copy() -> None:
    kept = LastGood()
    kept.keep_generation(4)
    kept.remember("7", entry(7))
    kept.keep_generation(4)  # nothing erased since
    assert kept.recall("7") == entry(7)
    kept.keep_generation(5)  # some account was erased: which one, this worker cannot know
    assert kept.recall("7") is None
