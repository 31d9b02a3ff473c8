"""The pure rules of the bootstrap: scopes, allow-list entries, the signed binding cookie."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from auth_gateway.oauth_flow import (
    AuthorizationRejected,
    BrowserBinding,
    allowed_accounts,
    missing_scopes,
    new_binding,
    state_key,
)
from auth_gateway.signing import SessionKey
from paceline.clock import ManualClock
from paceline.providers import ProviderRegistry
from paceline.settings import load_settings

pytestmark = pytest.mark.usefixtures("clean_env")


def strava() -> Any:
    settings = load_settings(strava_client_id="1", strava_client_secret="unit-secret-value")
    return ProviderRegistry.from_settings(settings).get("strava")


@pytest.mark.parametrize(
    ("granted", "missing"),
    [
        (("read", "activity:read"), ()),
        (("read", "activity:read_all"), ()),  # read_all includes read
        (("read",), ("activity:read",)),
        ((), ("activity:read", "read")),
        (("read_all", "activity:read"), ()),
    ],
)
def test_missing_scopes_for_strava(granted: tuple[str, ...], missing: tuple[str, ...]) -> None:
    assert missing_scopes(strava(), ("activity:read", "read"), granted) == missing


def test_read_all_implies_read_only_for_strava() -> None:
    other = SimpleNamespace(name="club")
    assert missing_scopes(other, ("activity:read",), ("activity:read_all",)) == ("activity:read",)  # type: ignore[arg-type]


def test_allow_list_entries_apply_to_all_providers_or_to_the_named_one() -> None:
    runtime = SimpleNamespace(settings=load_settings(allowed_accounts=" 11, strava:22 ,club:33,, "))
    assert allowed_accounts(runtime, "strava") == {"11", "22"}  # type: ignore[arg-type]
    assert allowed_accounts(runtime, "club") == {"11", "33"}  # type: ignore[arg-type]


def test_state_keys_do_not_contain_the_state() -> None:
    key = state_key("strava", "the-state-value-1234567890")
    assert key.startswith("paceline:oauth-state:strava:")
    assert "the-state-value" not in key


def binding(clock: ManualClock, secret: str = "s" * 40) -> BrowserBinding:
    runtime = SimpleNamespace(
        settings=load_settings(session_secret=secret), clock=clock, redis=None
    )
    return BrowserBinding(SessionKey(runtime))  # type: ignore[arg-type]


def test_binding_cookie_round_trips_and_expires_with_the_state() -> None:
    clock = ManualClock()
    cookies = binding(clock)
    nonce = new_binding()
    sealed = cookies.seal(nonce)
    assert sealed.count(".") == 2  # value, timestamp, signature
    clock.advance(599)
    assert cookies.open(sealed) == nonce
    assert cookies.reuse_or_new(sealed) == nonce
    clock.advance(2)
    with pytest.raises(AuthorizationRejected) as stale:
        cookies.open(sealed)
    assert stale.value.reason == "stale_cookie"
    assert cookies.reuse_or_new(sealed) != nonce


def test_binding_cookie_signed_with_another_key_is_forged() -> None:
    clock = ManualClock()
    sealed = binding(clock, "a" * 40).seal(new_binding())
    with pytest.raises(AuthorizationRejected) as forged:
        binding(clock, "b" * 40).open(sealed)
    assert forged.value.reason == "forged_cookie"


def test_only_stravas_authorization_code_invalid_is_worth_a_retry() -> None:
    from auth_gateway.oauth_flow import code_not_ready
    from paceline.upstream import ApplicationRejected, PermanentError, TransientError

    assert code_not_ready(PermanentError("x", reason="AuthorizationCode:code:invalid"))
    assert not code_not_ready(PermanentError("x", reason="invalid_grant"))
    assert not code_not_ready(PermanentError("x", reason="AuthorizationCode:code:missing"))
    assert not code_not_ready(ApplicationRejected("x", reason="Application::invalid", setting="S"))
    assert not code_not_ready(TransientError("x"))
