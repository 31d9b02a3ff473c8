"""The browser OAuth flow against a real Redis and the Strava sandbox.

Every rejection is checked for what a user (or an attacker) would notice: a clear page, nothing
stored in Redis or the mirror, and — for anything wrong with state or cookie — no token post at
all (the sandbox's call counters prove the code was never exchanged).
"""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlsplit

import pytest
from auth_gateway.oauth_flow import BINDING_COOKIE, state_key
from paceline.clock import ManualClock

from tests.integration.auth_gateway.gateway import (
    ADMIN,
    GATEWAY,
    PREFIX,
    Gateway,
    GatewayFactory,
    basic,
    query,
    with_query,
)


def assert_nothing_stored(gateway: Gateway) -> None:
    assert gateway.stored() == []
    assert gateway.mirrored() == []


def other_athlete(gateway: Gateway) -> int:
    ids = sorted(a["id"] for a in gateway.sandbox.control("GET", "/athletes"))
    default = gateway.sandbox.default_athlete_id
    return next(i for i in ids if i != default)


# --- the happy path ---------------------------------------------------------------------------


def test_connect_stores_the_credential_in_redis_and_mirror_and_the_status_page_lists_it(
    gateway: Gateway,
) -> None:
    athlete = gateway.sandbox.athlete()
    authorize_url = gateway.start()
    params = query(authorize_url)
    assert authorize_url.startswith(gateway.sandbox.url + "/oauth/authorize?")
    assert params["redirect_uri"] == f"{GATEWAY}/callback/strava"
    assert params["scope"] == "read,activity:read_all"  # privacy events by default
    assert params["approval_prompt"] == "auto"
    assert len(params["state"]) >= 32
    ttl = gateway.runtime.redis.ttl(state_key("strava", params["state"]))
    assert 590 < ttl <= 600  # one-time state, server-side, 10 minutes

    page = gateway.callback(gateway.approve(authorize_url))

    assert page.status_code == 200
    text = page.get_data(as_text=True)
    name = f"{athlete['firstname']} {athlete['lastname']}"
    assert f"Connected strava account {athlete['id']} ({name})" in text
    assert "renews it from" in text
    assert "Private and followers-only activities are never shown" in text
    assert "leaves it at once (privacy event)" in text
    [credential] = gateway.stored()
    assert credential.account_id == str(athlete["id"])
    assert set(credential.scopes) == {"read", "activity:read_all"}
    assert credential.state.value == "active"
    [mirrored] = gateway.mirrored()
    assert (mirrored.account_id, mirrored.version) == (credential.account_id, credential.version)
    assert gateway.runtime.redis.exists(state_key("strava", params["state"])) == 0
    status = gateway.get(f"{PREFIX}/").get_data(as_text=True)
    assert name in status and f"account {athlete['id']}" in status


def test_binding_cookie_is_signed_httponly_samesite_secure_and_short_lived(
    gateway: Gateway,
) -> None:
    response = gateway.get(f"{PREFIX}/connect/strava")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if BINDING_COOKIE in c)
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie  # Strict would be withheld on the way back from Strava
    assert "Secure" in cookie
    assert "Max-Age=600" in cookie
    assert "Path=/auth/" in cookie


def test_reconnecting_the_same_account_replaces_its_tokens(gateway: Gateway) -> None:
    assert gateway.connect().status_code == 200
    first = gateway.stored()[0]
    page = gateway.connect()
    assert page.status_code == 200
    assert "Reconnected" in page.get_data(as_text=True)
    [second] = gateway.stored()
    assert second.version == first.version + 1


# --- admin authentication ---------------------------------------------------------------------


def test_connect_without_admin_auth_is_refused_and_creates_no_state(gateway: Gateway) -> None:
    for headers in ({}, basic("admin", "wrong password"), basic("root", "correct horse")):
        response = gateway.get(f"{PREFIX}/connect/strava", admin=False, headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert list(gateway.runtime.redis.scan_iter("paceline:oauth-state:*")) == []
    assert gateway.token_posts() == 0
    assert_nothing_stored(gateway)


# --- state and cookie: checked before any exchange ------------------------------------------


def test_forged_state_is_refused_without_a_token_post(gateway: Gateway) -> None:
    callback = gateway.approve(gateway.start())
    forged = with_query(callback, state=secrets.token_urlsafe(32))
    response = gateway.callback(forged)
    assert response.status_code == 400
    assert "was already used, has expired or was never issued here" in response.get_data(
        as_text=True
    )
    assert gateway.token_posts() == 0
    assert_nothing_stored(gateway)


def test_callback_without_the_cookie_is_refused_and_the_real_browser_still_can_finish(
    gateway: Gateway,
) -> None:
    callback = gateway.approve(gateway.start())
    elsewhere = gateway.app.test_client()  # another browser: the stolen URL, no cookie
    response = elsewhere.get(urlsplit(callback).path + "?" + urlsplit(callback).query)
    assert response.status_code == 400
    assert "no record of starting a connection" in response.get_data(as_text=True)
    assert gateway.token_posts() == 0
    assert_nothing_stored(gateway)
    assert gateway.callback(callback).status_code == 200  # the state was not burnt


def test_state_used_twice_is_refused_the_second_time(gateway: Gateway) -> None:
    callback = gateway.approve(gateway.start())
    assert gateway.callback(callback).status_code == 200
    version = gateway.stored()[0].version
    replay = gateway.callback(callback)
    assert replay.status_code == 400
    assert "already used" in replay.get_data(as_text=True)
    assert gateway.token_posts() == 1
    assert gateway.stored()[0].version == version


def test_state_older_than_ten_minutes_is_refused(gateway_factory: GatewayFactory) -> None:
    clock = ManualClock(time.time())
    gateway = gateway_factory(clock=clock)
    first = gateway.approve(gateway.start())
    clock.advance(500)
    gateway.start()  # a second tab: the cookie is re-issued, fresh, with the same binding
    clock.advance(200)  # the first state is now 700 s old, the cookie 200 s
    response = gateway.callback(first)
    assert response.status_code == 400
    assert "older than 10 minutes" in response.get_data(as_text=True)
    assert gateway.token_posts() == 0
    assert_nothing_stored(gateway)


def test_stale_cookie_is_refused(gateway_factory: GatewayFactory) -> None:
    clock = ManualClock(time.time())
    gateway = gateway_factory(clock=clock)
    callback = gateway.approve(gateway.start())
    clock.advance(601)
    response = gateway.callback(callback)
    assert response.status_code == 400
    assert "older than 10 minutes" in response.get_data(as_text=True)
    assert gateway.token_posts() == 0
    assert_nothing_stored(gateway)


def test_forged_cookie_is_refused(gateway: Gateway) -> None:
    callback = gateway.approve(gateway.start())
    gateway.client.set_cookie(
        BINDING_COOKIE, "Im5vdC1taW5lIg.forged.signature", domain="fit.example.test", path="/auth/"
    )
    response = gateway.callback(callback)
    assert response.status_code == 400
    assert "cookie is not valid" in response.get_data(as_text=True)
    assert gateway.token_posts() == 0
    assert_nothing_stored(gateway)


def test_callback_in_a_browser_that_started_another_connection_is_refused(
    gateway: Gateway,
) -> None:
    """Login CSRF: the attacker's callback URL, completed in the admin's browser."""
    attacker = gateway.app.test_client()
    attacker_start = attacker.get(
        f"{PREFIX}/connect/strava", headers=ADMIN, base_url="https://fit.example.test"
    )
    attacker_callback = gateway.approve(attacker_start.headers["Location"])
    gateway.start()  # the admin's browser holds its own binding cookie
    response = gateway.callback(attacker_callback)
    assert response.status_code == 400
    assert "started in another browser" in response.get_data(as_text=True)
    assert gateway.token_posts() == 0
    assert_nothing_stored(gateway)


# --- what the provider says -------------------------------------------------------------------


def test_access_denied_explains_and_stores_nothing(gateway: Gateway) -> None:
    gateway.sandbox.configure(auto_approve=False)
    fields = query(gateway.start())
    answer = gateway.sandbox.session.post(
        f"{gateway.sandbox.url}/oauth/authorize",
        data={**fields, "action": "cancel"},
        allow_redirects=False,
        timeout=10,
    )
    assert query(answer.headers["Location"])["error"] == "access_denied"
    response = gateway.callback(answer.headers["Location"])
    assert response.status_code == 400
    assert "Access was not granted" in response.get_data(as_text=True)
    assert gateway.token_posts() == 0
    assert_nothing_stored(gateway)


def test_narrower_scope_explains_what_to_tick_and_stores_nothing(gateway: Gateway) -> None:
    gateway.sandbox.configure(grant_scope="read")
    response = gateway.connect()
    text = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "View data about your activities (activity:read)" in text
    assert "Start again" in text
    assert gateway.token_posts() == 0  # the grant on the callback was enough to refuse
    assert_nothing_stored(gateway)


def test_scope_check_accepts_read_all_for_read(gateway: Gateway) -> None:
    gateway.sandbox.configure(grant_scope="read,activity:read_all")
    assert gateway.connect().status_code == 200
    assert "activity:read_all" in gateway.stored()[0].scopes


def test_unticking_private_activities_still_connects_with_the_capped_freshness(
    gateway: Gateway,
) -> None:
    gateway.sandbox.configure(grant_scope="read,activity:read")
    page = gateway.connect()
    assert page.status_code == 200
    assert "leaves it within 1h 00m (activity:read_all not granted)" in page.get_data(as_text=True)
    assert gateway.stored()[0].scopes == ("activity:read", "read")
    status = gateway.get(f"{PREFIX}/").get_data(as_text=True)
    assert "within 1h 00m (activity:read_all not granted)" in status
    assert "private and followers-only activities are never shown" in status


def test_required_scopes_follow_the_setting(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(
        strava_scopes="read,activity:read_all", strava_required_scopes="activity:read_all"
    )
    gateway.sandbox.configure(grant_scope="read,activity:read")
    response = gateway.connect()
    assert response.status_code == 400
    assert "activity:read_all" in response.get_data(as_text=True)
    assert_nothing_stored(gateway)


def test_a_code_strava_is_not_ready_for_is_exchanged_again_after_two_seconds(
    gateway: Gateway,
) -> None:
    gateway.sandbox.configure(code_ready_seconds=2)

    page = gateway.connect()

    assert page.status_code == 200, page.get_data(as_text=True)
    assert gateway.slept == [2.0]  # one retry, about two seconds later
    assert gateway.token_posts() == 2
    assert len(gateway.stored()) == 1


def test_a_code_still_refused_after_the_retry_fails_cleanly(gateway: Gateway) -> None:
    gateway.sandbox.configure(code_ready_seconds=30)

    page = gateway.connect()

    assert page.status_code == 400
    assert "refused the authorization code" in page.get_data(as_text=True)
    assert gateway.slept == [2.0]  # one retry only
    assert gateway.token_posts() == 2
    assert_nothing_stored(gateway)


def test_reused_code_is_refused_by_the_provider_and_changes_nothing(gateway: Gateway) -> None:
    first = gateway.approve(gateway.start())
    assert gateway.callback(first).status_code == 200
    version = gateway.stored()[0].version
    second = gateway.approve(gateway.start())
    replayed_code = with_query(second, code=query(first)["code"])
    response = gateway.callback(replayed_code)
    assert response.status_code == 400
    assert "refused the authorization code" in response.get_data(as_text=True)
    assert gateway.stored()[0].version == version


# --- who may connect --------------------------------------------------------------------------


def test_account_not_on_the_allow_list_is_refused(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(allowed_accounts="strava:424242,7")
    response = gateway.connect()
    assert response.status_code == 403
    assert "may not connect here" in response.get_data(as_text=True)
    assert_nothing_stored(gateway)


def test_account_on_the_allow_list_connects(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory()
    athlete = gateway.sandbox.default_athlete_id
    gateway = gateway_factory(allowed_accounts=f"424242, strava:{athlete}")
    assert gateway.connect().status_code == 200


def test_empty_allow_list_lets_only_the_first_account_connect(gateway: Gateway) -> None:
    first = gateway.sandbox.default_athlete_id
    assert gateway.connect().status_code == 200
    gateway.sandbox.configure(default_athlete_id=other_athlete(gateway))
    refused = gateway.connect()
    assert refused.status_code == 403
    assert [c.account_id for c in gateway.stored()] == [str(first)]
    gateway.sandbox.configure(default_athlete_id=first)
    assert gateway.connect().status_code == 200  # the owner can always reconnect


def test_open_signup_lets_anyone_connect_without_admin(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(open_signup=True)
    assert gateway.connect().status_code == 200
    gateway.sandbox.configure(default_athlete_id=other_athlete(gateway))
    member = gateway.get(f"{PREFIX}/connect/strava", admin=False)
    assert member.status_code == 302
    assert gateway.callback(gateway.approve(member.headers["Location"])).status_code == 200
    assert len(gateway.stored()) == 2
    assert gateway.get(f"{PREFIX}/", admin=False).status_code == 401  # the rest stays admin


# --- redirects come from settings -------------------------------------------------------------


def test_host_header_attack_changes_nothing(gateway: Gateway) -> None:
    response = gateway.get(
        f"{PREFIX}/connect/strava",
        headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
    )
    assert response.status_code == 302
    assert query(response.headers["Location"])["redirect_uri"] == f"{GATEWAY}/callback/strava"
    assert "evil" not in response.headers["Location"]


def test_open_redirect_attempts_go_nowhere_and_store_nothing(gateway: Gateway) -> None:
    start = gateway.get(
        f"{PREFIX}/connect/strava?redirect_uri=https://evil.example/cb&next=https://evil.example"
    )
    location = start.headers["Location"]
    assert urlsplit(location).netloc == urlsplit(gateway.sandbox.url).netloc
    assert query(location)["redirect_uri"] == f"{GATEWAY}/callback/strava"
    callback = gateway.approve(location)
    hostile = with_query(
        callback,
        state=secrets.token_urlsafe(32),
        next="https://evil.example",
        redirect_uri="//evil.example",
    )
    response = gateway.callback(hostile)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "evil.example" not in response.get_data(as_text=True)
    assert gateway.token_posts() == 0
    assert_nothing_stored(gateway)


@pytest.mark.parametrize("path", ["/connect/nope", "/callback/nope?state=x&code=y"])
def test_unknown_provider_is_a_clear_404(gateway: Gateway, path: str) -> None:
    response = gateway.get(PREFIX + path)
    assert response.status_code == 404
    assert "No provider of that name" in response.get_data(as_text=True)


def test_open_signup_cannot_fill_redis_with_pending_states(
    gateway_factory: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from auth_gateway import oauth_flow

    monkeypatch.setattr(oauth_flow, "PENDING_STATES_MAX", 20)
    clock = ManualClock(time.time())
    gateway = gateway_factory(open_signup=True, clock=clock)
    statuses = [gateway.get(f"{PREFIX}/connect/strava", admin=False).status_code for _ in range(50)]
    assert statuses == [302] * 20 + [503] * 30
    redis = gateway.runtime.redis
    assert len(redis.keys("paceline:oauth-state:*")) == 20
    # Once the pending ones expire, connecting works again.
    clock.advance(oauth_flow.STATE_TTL_SECONDS + 1)
    assert gateway.get(f"{PREFIX}/connect/strava", admin=False).status_code == 302
