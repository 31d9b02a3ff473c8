"""The refresher's reporting helpers and crash hook: pure, no Redis, no HTTP. (The refresh
decision itself is the core library's: tests/unit/core/test_refresh_decision.py.)"""

from __future__ import annotations

import pytest
from paceline.refresh import Decision
from paceline.settings import ConfigError
from token_refresher import crashpoints
from token_refresher.refresher import Planned, percentiles


def test_percentiles_use_nearest_rank_in_milliseconds() -> None:
    values = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    assert percentiles(values) == {"n": 100, "p50": 50.0, "p99": 99.0, "max": 100.0}
    assert percentiles([]) == {}
    assert percentiles([0.004]) == {"n": 1, "p50": 4.0, "p99": 4.0, "max": 4.0}


def test_dry_run_lines_say_what_would_happen() -> None:
    assert Planned("strava", "42", Decision.REFRESH, 3000).describe() == (
        "would refresh strava:42 (expires in 3000s)"
    )
    assert "expired 60s ago" in Planned("strava", "42", Decision.REFRESH, -60).describe()
    assert "backing off for 30s" in Planned("strava", "42", Decision.DEFER, 60, 30).describe()
    assert "would recover" in Planned("strava", "42", Decision.RECOVER, 9000).describe()


def test_crash_hook_is_off_unless_asked_and_rejects_unknown_steps() -> None:
    assert crashpoints.from_environment({}) is None
    with pytest.raises(ConfigError, match="PACELINE_TEST_CRASH_AT"):
        crashpoints.from_environment({"PACELINE_TEST_CRASH_AT": "after-lunch"})
    hook = crashpoints.from_environment({"PACELINE_TEST_CRASH_AT": "saved"})
    assert hook is not None
    hook("answered")  # another step: this process lives on
