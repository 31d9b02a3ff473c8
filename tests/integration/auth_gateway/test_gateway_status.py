"""The status page: server-rendered, escaped, no JavaScript, and it says what matters."""

from __future__ import annotations

import re
import time

from paceline.refresh import mark_scope_missing
from paceline.runstatus import RunStatus, write_run_status

from tests.integration.auth_gateway.gateway import PREFIX, Gateway


def test_hostile_athlete_name_renders_as_text(gateway: Gateway) -> None:
    evil = gateway.sandbox.add_athlete(firstname="<script>alert(1)</script>", lastname="<b>x")
    gateway.sandbox.configure(default_athlete_id=evil["id"])
    connected = gateway.connect()
    assert connected.status_code == 200
    for page in (connected, gateway.get(f"{PREFIX}/")):
        html = page.get_data(as_text=True)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<script" not in html  # not theirs, and none of ours: no JavaScript at all
        assert "<b>x" not in html


def test_status_page_shows_state_scopes_expiry_refreshes_and_actions(gateway: Gateway) -> None:
    gateway.connect()
    [credential] = gateway.stored()
    now = time.time()
    write_run_status(
        gateway.runtime.redis,
        RunStatus(
            started_at=now - 70,
            finished_at=now - 60,
            last_success_at=now - 60,
            ok=True,
            counts={"refreshed": 3, "skipped": 9},
        ),
    )
    response = gateway.get(f"{PREFIX}/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'class="state state-active">active<' in html
    assert "activity:read_all, read" in html
    assert "an activity made private leaves the widget at once (privacy event)" in html
    assert "in 5h 59m" in html  # expiry of a fresh 6-hour token
    assert "in 4h 49m" in html  # next refresh: expiry minus Strava's 70-minute lead
    assert "refreshed 3" in html and "skipped 9" in html  # the refresher's last run
    assert f'href="{PREFIX}/connect/strava">Reconnect' in html
    assert re.search(
        rf'<form method="post" action="{PREFIX}/disconnect/strava/{credential.account_id}">\s*'
        r'<input type="hidden" name="csrf_token" value="[^"]+">',
        html,
    )
    assert f"{PREFIX}/callback/strava" in html  # the redirect URI to register with Strava


def test_status_page_without_accounts_or_refresher_runs(gateway: Gateway) -> None:
    html = gateway.get(f"{PREFIX}/").get_data(as_text=True)
    assert "No account is connected yet" in html
    assert "has not run yet" in html
    assert "only the first account" in html


def test_accounts_json_lists_the_same_without_tokens(gateway: Gateway) -> None:
    gateway.connect()
    [credential] = gateway.stored()
    body = gateway.get(f"{PREFIX}/accounts").get_json()
    [account] = body["accounts"]
    assert account["account_id"] == credential.account_id
    assert account["next_refresh_at"] == credential.expires_at - 70 * 60
    text = str(body)
    assert credential.access_token not in text and credential.refresh_token not in text


def test_status_page_restores_from_the_mirror_when_redis_lost_its_data(gateway: Gateway) -> None:
    gateway.connect()
    gateway.runtime.redis.flushall()
    html = gateway.get(f"{PREFIX}/").get_data(as_text=True)
    assert "state-active" in html


def test_status_page_says_which_setting_to_fix_when_strava_refuses_the_application(
    gateway: Gateway,
) -> None:
    gateway.connect()
    now = time.time()
    write_run_status(
        gateway.runtime.redis,
        RunStatus(
            started_at=now - 70,
            finished_at=now - 60,
            ok=False,
            counts={"application_error": 1},
            application_errors={"strava": "PACELINE_STRAVA_CLIENT_SECRET"},
        ),
    )

    html = gateway.get(f"{PREFIX}/").get_data(as_text=True)
    listed = gateway.get(f"{PREFIX}/accounts").get_json()

    assert "strava refused this application's credentials" in html
    assert "fix <code>PACELINE_STRAVA_CLIENT_SECRET</code>" in html
    assert 'class="state state-active">active<' in html  # the athlete is not blamed
    assert listed["refresher"]["application_errors"] == {"strava": "PACELINE_STRAVA_CLIENT_SECRET"}


def test_a_missing_scope_tells_the_owner_what_to_grant_when_reconnecting(
    gateway: Gateway,
) -> None:
    gateway.connect()
    [credential] = gateway.stored()
    assert mark_scope_missing(gateway.runtime, credential, "activity:read")

    html = gateway.get(f"{PREFIX}/").get_data(as_text=True)

    assert 'class="state state-needs_reauth">needs_reauth<' in html
    assert "Reconnect and grant: View data about your activities (activity:read)" in html
