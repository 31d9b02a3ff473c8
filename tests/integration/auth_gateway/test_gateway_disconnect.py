"""POST /disconnect: CSRF-protected; revokes at the provider, then forgets the account."""

from __future__ import annotations

import time

from auth_gateway.csrf import CSRF_COOKIE
from paceline import keys
from paceline.clock import ManualClock

from tests.integration.auth_gateway.gateway import PREFIX, Gateway, GatewayFactory


def seed_account_data(gateway: Gateway, account: str) -> dict[str, bytes]:
    """Cached data of the account (and of someone else) as activity-api/refresher leave it."""
    redis = gateway.runtime.redis
    made = {
        "summary": f"paceline:summary:strava:{account}".encode(),
        "cooldown": f"paceline:summary-cooldown:strava:{account}".encode(),
        "inflight": f"paceline:inflight:strava:{account}".encode(),
        "suffixed": f"paceline:activities:strava:{account}:page:1".encode(),
        "lock": keys.lock_key("strava", account).encode(),
        "fence": f"paceline:fence:lock:strava:{account}".encode(),
        "ratelimit": f"paceline:ratelimit:strava:{account}".encode(),  # an app id, by chance
        "other": b"paceline:summary:strava:99999999",
    }
    for key in made.values():
        redis.set(key, "x")
    return made


def disconnect(gateway: Gateway, account: str, **form: str) -> object:
    return gateway.post(
        f"{PREFIX}/disconnect/strava/{account}",
        data={"csrf_token": gateway.csrf_token(), **form},
    )


def test_disconnect_revokes_deletes_credential_mirror_and_cached_data(gateway: Gateway) -> None:
    gateway.connect()
    [credential] = gateway.stored()
    account = credential.account_id
    data = seed_account_data(gateway, account)

    response = disconnect(gateway, account)

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f"Disconnected strava account {account}" in html
    assert "Access was revoked at strava" in html
    assert gateway.deauthorizations() == 1
    assert not gateway.sandbox.refresh_token_valid(credential.refresh_token)
    assert gateway.stored() == [] and gateway.mirrored() == []
    redis = gateway.runtime.redis
    for name in ("summary", "cooldown", "inflight", "suffixed"):
        assert not redis.exists(data[name]), name
    for name in ("lock", "fence", "ratelimit", "other"):
        assert redis.exists(data[name]), name


def test_disconnect_without_csrf_token_or_cookie_is_refused(gateway: Gateway) -> None:
    gateway.connect()
    account = gateway.stored()[0].account_id
    token = gateway.csrf_token()
    path = f"{PREFIX}/disconnect/strava/{account}"
    assert gateway.post(path, data={}).status_code == 403
    assert gateway.post(path, data={"csrf_token": "forged"}).status_code == 403
    cross_site = gateway.post(
        path, data={"csrf_token": token}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert cross_site.status_code == 403
    foreign = gateway.post(
        path, data={"csrf_token": token}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    gateway.client.delete_cookie(CSRF_COOKIE, domain="fit.example.test", path="/auth/")
    no_cookie = gateway.post(path, data={"csrf_token": token})
    assert no_cookie.status_code == 403
    assert "reload it and try again" in no_cookie.get_data(as_text=True)
    assert gateway.deauthorizations() == 0
    assert len(gateway.stored()) == 1 and len(gateway.mirrored()) == 1


def test_disconnect_needs_admin(gateway: Gateway) -> None:
    gateway.connect()
    account = gateway.stored()[0].account_id
    token = gateway.csrf_token()
    response = gateway.post(
        f"{PREFIX}/disconnect/strava/{account}", admin=False, data={"csrf_token": token}
    )
    assert response.status_code == 401
    assert len(gateway.stored()) == 1


def test_provider_down_deletes_nothing_until_disconnect_anyway(gateway: Gateway) -> None:
    gateway.connect()
    account = gateway.stored()[0].account_id
    gateway.sandbox.fault("/oauth/deauthorize", status=503)
    refused = disconnect(gateway, account)
    assert refused.status_code == 502
    html = refused.get_data(as_text=True)
    assert "nothing was deleted" in html and "Disconnect anyway" in html
    assert len(gateway.stored()) == 1 and len(gateway.mirrored()) == 1

    forced = disconnect(gateway, account, force="1")
    assert forced.status_code == 200
    assert "could <strong>not</strong> be revoked" in forced.get_data(as_text=True)
    assert gateway.stored() == [] and gateway.mirrored() == []


def test_expired_access_token_is_refreshed_to_revoke(gateway_factory: GatewayFactory) -> None:
    clock = ManualClock(time.time())
    gateway = gateway_factory(clock=clock)
    gateway.connect()
    [credential] = gateway.stored()
    clock.advance(7 * 3600)
    gateway.sandbox.advance(7 * 3600)
    response = disconnect(gateway, credential.account_id)
    assert response.status_code == 200
    assert "Access was revoked" in response.get_data(as_text=True)
    assert gateway.token_posts() == 2  # the code exchange, then one refresh to get a live token
    assert gateway.stored() == []


def test_disconnect_unknown_account_is_404(gateway: Gateway) -> None:
    gateway.connect()
    token = gateway.csrf_token()
    response = gateway.post(f"{PREFIX}/disconnect/strava/12345", data={"csrf_token": token})
    assert response.status_code == 404
    assert gateway.deauthorizations() == 0 and len(gateway.stored()) == 1
