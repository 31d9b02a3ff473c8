"""The governor's arithmetic: window alignment and the interactive reserve (pure)."""

from __future__ import annotations

import pytest
from paceline.governor import Priority, WindowPlan, allowance

MIDNIGHT = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def test_quarter_hour_windows_reset_at_00_15_30_45() -> None:
    plan = WindowPlan()
    assert plan.reset_in("15min", MIDNIGHT + 10 * 60) == 5 * 60
    assert plan.reset_in("15min", MIDNIGHT + 15 * 60) == 15 * 60
    assert plan.index("15min", MIDNIGHT + 14 * 60 + 59) != plan.index("15min", MIDNIGHT + 15 * 60)


def test_daily_window_resets_at_midnight_utc() -> None:
    plan = WindowPlan()
    assert plan.reset_in("daily", MIDNIGHT + 3600) == 23 * 3600
    assert plan.index("daily", MIDNIGHT - 1) + 1 == plan.index("daily", MIDNIGHT)


def test_compressed_windows_for_tests() -> None:
    plan = WindowPlan(short_seconds=10, day_seconds=100)
    assert plan.reset_in("15min", MIDNIGHT + 3) == 7


@pytest.mark.parametrize(
    ("limit", "priority", "expected"),
    [
        (100, Priority.INTERACTIVE, 100),
        (100, Priority.BACKGROUND, 80),
        (100, Priority.PREFETCH, 60),
        (20, Priority.BACKGROUND, 16),
        (1, Priority.BACKGROUND, 0),
        (1, Priority.INTERACTIVE, 1),
    ],
)
def test_lower_priorities_leave_a_reserve_for_interactive(
    limit: int, priority: Priority, expected: int
) -> None:
    assert allowance(limit, priority, 0.2) == expected


def test_no_reserve_means_everyone_shares_the_whole_limit() -> None:
    assert allowance(100, Priority.PREFETCH, 0.0) == 100


def test_any_client_id_makes_a_safe_key() -> None:
    from paceline.governor import app_key

    assert app_key("12345") == "12345"
    odd = app_key("123456789012-abcdefghijklmnopqrstuvwxyz012345.apps.googleusercontent.com/x y")
    assert odd.startswith("h") and len(odd) == 25 and " " not in odd
