"""``paceline.revocation.confirm_revoked`` against the sandbox: a grant is called dead only when
Strava refuses both of its tokens; anything undecided erases nothing and says so."""

from __future__ import annotations

import pytest
import requests
from paceline.revocation import confirm_revoked
from paceline.upstream import TransientError

from tests.integration.activity_api.conftest import Harness, make_athlete


def revoke_at_strava(h: Harness, account: str) -> None:
    credential = h.runtime.store.get("strava", account)
    assert credential is not None
    answer = requests.post(
        f"{h.sandbox.url}/oauth/deauthorize",
        headers={"Authorization": f"Bearer {credential.access_token}"},
        timeout=5,
    )
    assert answer.status_code == 200


def test_a_live_grant_is_alive_without_spending_api_budget(harness: Harness) -> None:
    account = harness.connect(make_athlete(harness.sandbox))
    assert confirm_revoked(harness.runtime, "strava", account) is False
    assert harness.total_api_calls() == 0  # the refresh token answered: no API call
    assert harness.runtime.store.get("strava", account) is not None


def test_a_revoked_grant_is_confirmed_with_one_api_call(harness: Harness) -> None:
    account = harness.connect(make_athlete(harness.sandbox))
    revoke_at_strava(harness, account)
    assert confirm_revoked(harness.runtime, "strava", account) is True
    assert harness.api_calls() == {"GET /api/v3/athlete": 1}


def test_a_refused_refresh_with_a_working_access_token_is_not_a_revocation(
    harness: Harness,
) -> None:
    account = harness.connect(make_athlete(harness.sandbox))
    # The token endpoint refuses (as after a lost rotation), the grant itself still works.
    harness.sandbox.fault("/oauth/token", status=400, times=1)
    assert confirm_revoked(harness.runtime, "strava", account) is False


def test_a_token_endpoint_outage_is_decided_by_the_access_token(harness: Harness) -> None:
    account = harness.connect(make_athlete(harness.sandbox))
    harness.sandbox.fault("/oauth/token", status=503)
    assert confirm_revoked(harness.runtime, "strava", account) is False  # GET /athlete works


def test_an_undecided_check_raises_and_erases_nothing(harness: Harness) -> None:
    account = harness.connect(make_athlete(harness.sandbox))
    harness.sandbox.fault("/oauth/token", status=503)
    harness.sandbox.fault("/api/v3/*", status=503)
    with pytest.raises(TransientError):
        confirm_revoked(harness.runtime, "strava", account)
    assert harness.runtime.store.get("strava", account) is not None
