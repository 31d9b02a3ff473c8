"""SIGKILL a busy refresher at arbitrary moments, many times: still no silent loss.

Hundreds of accounts, a provider with single-use refresh tokens and a real round trip, and a
refresher killed from outside mid-pass, again and again. Whatever the kills hit, afterwards every
credential is either refreshable (its stored refresh token is the provider's live one) or marked
``needs_reauth`` as a lost chain and counted; never active with a dead token. With a reuse-grace
window nothing at all is lost.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Callable

import pytest
from paceline.credential import CredentialState
from paceline.runstatus import refresh_totals

from tests.integration.refresher.conftest import StravaSetup, finish, spawn, wait_for_unlocked

ACCOUNTS = 200
WORKERS = 8
KILLS = 4


@pytest.mark.faults
@pytest.mark.parametrize("grace", [0, 600], ids=["no_grace", "grace"])
def test_repeated_sigkill_mid_pass_never_loses_a_token_silently(
    strava_setup: Callable[..., StravaSetup], grace: int
) -> None:
    setup = strava_setup(rotation="always-single-use", reuse_grace_seconds=grace)
    runtime = setup.runtime()
    seeded = [setup.seed(runtime, 30 * 60) for _ in range(ACCOUNTS)]
    setup.sandbox.fault("/oauth/token", latency_ms=60)
    env = setup.env(
        PACELINE_REFRESH_LOCK_TTL_SECONDS="1",
        PACELINE_HTTP_TIMEOUT_SECONDS="0.4",
        PACELINE_REFRESHER_WORKERS=str(WORKERS),
    )
    rng = random.Random(20260101)

    for _ in range(KILLS):
        process = spawn(env)
        time.sleep(0.7 + rng.random() * 0.5)  # start-up takes ~0.7 s; then mid-pass
        process.send_signal(signal.SIGKILL)
        finish(process)
        wait_for_unlocked(runtime, [c.account_id for c in seeded])
    final = finish(spawn(env), timeout=60)
    # The kills landed mid-pass: the last pass still found work left.
    assert final.log_lines()[-1]["counts"].get("refreshed", 0) > 0

    lost = []
    for before in seeded:
        after = runtime.store.get("strava", before.account_id)
        assert after is not None
        if after.state is CredentialState.ACTIVE:
            assert setup.sandbox.refresh_token_valid(after.refresh_token), before.account_id
            assert after.version > before.version  # refreshed at some point
        else:
            assert after.state is CredentialState.NEEDS_REAUTH
            assert "refresh chain lost" in (after.last_error or "")
            lost.append(before.account_id)
    assert refresh_totals(runtime.redis).get(("strava", "lost_chain"), 0) == len(lost)
    assert len(lost) <= KILLS * WORKERS
    if grace:
        assert lost == []
        assert final.code == 0
    assert final.log_lines()[-1]["msg"] == "refresher pass finished"
