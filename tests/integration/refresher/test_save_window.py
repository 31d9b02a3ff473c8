"""From the provider's answer to the save: short, measured, and not given up on a Redis hiccup."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis
from paceline.refresh import RefreshResult, inflight_key, refresh_credential
from paceline.store import SaveResult, TokenStore

from tests.integration.refresher.conftest import StravaSetup, run_cli


def test_answer_to_save_window_is_measured_per_credential_and_per_run(
    strava_setup: Callable[..., StravaSetup],
) -> None:
    setup = strava_setup(rotation="always-single-use")
    runtime = setup.runtime()
    for _ in range(20):
        setup.seed(runtime, 30 * 60)

    result = run_cli(runtime, "--workers", "4")

    assert result.code == 0
    handled = [line for line in result.log_lines() if line["msg"] == "credential handled"]
    assert len(handled) == 20
    assert all(0 < line["answer_to_save_ms"] < 1000 for line in handled)
    window = result.pass_summary()["answer_to_save_ms"]
    assert window["n"] == 20 and 0 < window["p50"] <= window["p99"] <= window["max"]
    # The window holds one Redis round trip, not the provider call or the mirror write.
    assert window["p50"] < min(line["provider_ms"] for line in handled) + 50


@pytest.mark.parametrize("landed", [False, True], ids=["write_lost", "reply_lost"])
def test_a_redis_hiccup_at_save_time_does_not_lose_the_answer(
    strava_setup: Callable[..., StravaSetup], monkeypatch: pytest.MonkeyPatch, landed: bool
) -> None:
    setup = strava_setup(rotation="always-single-use")
    runtime = setup.runtime()
    due = setup.seed(runtime, 30 * 60)
    real_save = TokenStore.save
    failures = [2]

    def flaky_save(self: TokenStore, *args: Any, **kwargs: Any) -> SaveResult:
        if failures[0] > 0 and not kwargs.get("mirror", True):
            failures[0] -= 1
            if landed and failures[0] == 1:
                real_save(self, *args, **kwargs)  # written, but the reply never came back
            raise redis.ConnectionError("connection reset by peer")
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(TokenStore, "save", flaky_save)
    waits: list[float] = []
    runtime.sleep = waits.append  # the retry policy's waits, recorded instead of slept

    outcome = refresh_credential(runtime, "strava", due.account_id)

    assert outcome.result is RefreshResult.REFRESHED
    assert waits == [0.05, 0.1], "two hiccups: the first two waits of SAVE_RETRY_DELAYS"
    saved = runtime.store.get("strava", due.account_id)
    assert saved is not None and saved.version == due.version + 1
    assert setup.sandbox.refresh_token_valid(saved.refresh_token)
    assert runtime.redis.get(inflight_key("strava", due.account_id)) is None
