"""A refused access token is refreshed through the shared locked path and the call retried
once; token posts never spend the API's rate budget."""

from __future__ import annotations

import time

from paceline import keys
from paceline.credential import Credential

from tests.integration.activity_api.conftest import Harness, HarnessFactory, make_athlete


def spoil_access_token(h: Harness, account: str) -> Credential:
    """The stored access token is no longer accepted (revoked, rotated elsewhere...)."""
    credential = h.runtime.store.get("strava", account)
    assert credential is not None
    h.runtime.store.save(
        credential.replace(access_token="not-a-valid-token-anymore"),
        expected_version=credential.version,
    )
    return credential


def test_a_401_refreshes_the_token_and_retries_once(harness: Harness) -> None:
    account = harness.connect(make_athlete(harness.sandbox, photos_on_latest=0))
    before = spoil_access_token(harness, account)

    response = harness.client.get(f"/v1/strava/athletes/{account}/summary")

    assert response.status_code == 200
    counts = harness.sandbox.calls()["by_endpoint"]
    assert counts["GET /api/v3/athlete"] == 2  # the refused call and its one retry
    assert counts["POST /oauth/token"] == 1
    after = harness.runtime.store.get("strava", account)
    assert after is not None
    # Strava hands back the same access token while it has over an hour left
    assert after.access_token == before.access_token != "not-a-valid-token-anymore"
    assert after.version > before.version + 1  # spoiled, then refreshed


def test_an_expired_token_is_refreshed_before_the_call(harness: Harness) -> None:
    account = harness.connect(make_athlete(harness.sandbox, photos_on_latest=0))
    credential = harness.runtime.store.get("strava", account)
    assert credential is not None
    harness.clock.set(credential.expires_at - 30)  # expiring: a call would only earn a 401
    harness.sandbox.set_time(credential.expires_at - 30)

    assert harness.client.get(f"/v1/strava/athletes/{account}/summary").status_code == 200
    counts = harness.sandbox.calls()["by_endpoint"]
    assert counts["POST /oauth/token"] == 1
    assert counts["GET /api/v3/athlete"] == 1  # no wasted 401


def test_token_posts_do_not_spend_the_api_budget(harness: Harness) -> None:
    account = harness.connect(make_athlete(harness.sandbox, photos_on_latest=0))
    spoil_access_token(harness, account)
    harness.client.get(f"/v1/strava/athletes/{account}/summary")

    api_calls = harness.total_api_calls()  # 401 + athlete + activities + stats
    assert api_calls == 4
    governor = harness.runtime.governor("strava")
    assert governor.snapshot()["overall"]["15min"][0] == api_calls
    assert harness.sandbox.rate_usage()  # the provider agrees: only API calls counted
    usage = next(iter(harness.sandbox.rate_usage()["usage"].values()))["overall"]
    assert usage.split(",")[0] == str(api_calls)


def test_a_second_401_after_the_retry_is_not_retried_again(harness: Harness) -> None:
    account = harness.connect(make_athlete(harness.sandbox, photos_on_latest=0))
    harness.sandbox.fault("/api/v3/athlete", status=401)
    response = harness.client.get(f"/v1/strava/athletes/{account}/summary")
    assert response.status_code == 503
    counts = harness.sandbox.calls()["by_endpoint"]
    assert counts["GET /api/v3/athlete"] == 2
    assert counts["POST /oauth/token"] == 1


def test_a_request_never_waits_for_another_processs_refresh(harness: Harness) -> None:
    account = harness.connect(make_athlete(harness.sandbox, photos_on_latest=0))
    spoil_access_token(harness, account)
    lease = harness.runtime.locks.try_acquire(keys.lock_key("strava", account))  # the refresher
    assert lease is not None

    started = time.perf_counter()
    response = harness.client.get(f"/v1/strava/athletes/{account}/summary")
    assert time.perf_counter() - started < 1.0
    assert response.status_code == 503
    assert response.get_json()["error"] == "token_refresh_in_progress"
    assert response.headers["Retry-After"] == "2"

    harness.runtime.locks.release(lease)
    assert harness.client.get(f"/v1/strava/athletes/{account}/summary").status_code == 200


def test_a_missing_scope_marks_needs_reauth_without_any_refresh(harness: Harness) -> None:
    account = harness.connect(make_athlete(harness.sandbox), scope="read")
    path = f"/v1/strava/athletes/{account}/summary"

    first = harness.client.get(path)

    assert first.status_code == 503
    assert first.get_json()["error"] == "account_unavailable"
    assert harness.sandbox.calls()["by_endpoint"].get("POST /oauth/token", 0) == 0  # no loop
    credential = harness.runtime.store.get("strava", account)
    assert credential is not None and credential.state.value == "needs_reauth"
    assert credential.last_error == "scope_missing: reconnect and grant activity:read"
    calls = harness.total_api_calls()
    harness.advance(3600)
    assert harness.client.get(path).status_code == 503
    assert harness.total_api_calls() == calls  # needs_reauth: Strava is not asked again


def test_a_wrong_client_secret_blames_no_account_when_activity_api_refreshes(
    harness_factory: HarnessFactory,
) -> None:
    good = harness_factory()
    account = good.connect(make_athlete(good.sandbox), expires_in=30)  # about to expire
    wrong = harness_factory(good.sandbox, strava_client_secret="rotated-away")

    answer = wrong.client.get(f"/v1/strava/athletes/{account}/summary")

    assert answer.status_code == 503
    assert good.sandbox.calls()["by_endpoint"].get("POST /oauth/token", 0) == 1  # no retry
    credential = good.runtime.store.get("strava", account)
    assert credential is not None and credential.state.value == "active"
