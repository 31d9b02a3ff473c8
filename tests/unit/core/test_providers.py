"""The provider registry: Strava built in and derived from its base URL, the rest from settings."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from paceline.providers import ProviderRegistry, UnknownProvider
from paceline.settings import ConfigError, load_settings

pytestmark = pytest.mark.usefixtures("clean_env")

STRAVA = {"strava_client_id": "1234", "strava_client_secret": "s3cret"}
FITBIT = {
    "authorize_url": "https://www.fitbit.com/oauth2/authorize",
    "token_url": "https://api.fitbit.com/oauth2/token",
    "deauthorize_url": "https://api.fitbit.com/oauth2/revoke",
    "api_base_url": "https://api.fitbit.com/1/",
    "client_id": "23ABC",
    "client_secret": "fitbit-secret",
    "scopes": ["activity", "profile"],
}


def registry(**overrides: object) -> ProviderRegistry:
    return ProviderRegistry.from_settings(load_settings(**overrides))


@pytest.mark.parametrize(
    "base", ["http://127.0.0.1:8899", "http://sandbox.paceline.svc:8080/strava/"]
)
def test_every_strava_url_is_derived_from_the_base_url(base: str) -> None:
    strava = registry(**STRAVA, strava_base_url=base).get("strava")
    root = base.rstrip("/")
    assert strava.authorize_url == f"{root}/oauth/authorize"
    assert strava.token_url == f"{root}/oauth/token"
    assert strava.deauthorize_url == f"{root}/oauth/deauthorize"
    assert strava.api_base_url == f"{root}/api/v3"
    assert strava.userinfo_url == f"{root}/api/v3/athlete"
    for url in (
        strava.authorize_url,
        strava.token_url,
        strava.deauthorize_url,
        strava.api_base_url,
        strava.userinfo_url,
    ):
        assert url is not None and "strava.com" not in url


def test_strava_defaults_to_the_real_strava() -> None:
    strava = registry(**STRAVA).get("strava")
    assert strava.token_url == "https://www.strava.com/oauth/token"
    assert strava.authorize_url == "https://www.strava.com/oauth/authorize"
    assert strava.api_base_url == "https://www.strava.com/api/v3"


def test_strava_speaks_strava_oauth() -> None:
    strava = registry(**STRAVA, strava_scopes="read, activity:read_all").get("strava")
    assert strava.client_auth == "client_secret_post"
    assert strava.pkce is False
    assert strava.scope_separator == ","
    assert strava.scopes == ("read", "activity:read_all")
    assert strava.join_scopes() == "read,activity:read_all"
    assert strava.rotation == "sometimes"
    assert strava.refresh_lead_seconds == 70 * 60
    assert strava.account_id_field == "athlete.id"
    assert strava.extra_authorize_params == {"approval_prompt": "auto"}


def test_strava_is_absent_until_its_client_is_configured() -> None:
    providers = registry()
    assert "strava" not in providers
    with pytest.raises(UnknownProvider) as caught:
        providers.get("strava")
    assert "PACELINE_STRAVA_CLIENT_ID" in str(caught.value)


def test_strava_client_secret_is_not_in_repr() -> None:
    strava = registry(**STRAVA).get("strava")
    assert "s3cret" not in repr(strava)


def test_generic_provider_comes_entirely_from_settings() -> None:
    spec = {**FITBIT, "rotation": "always-single-use", "refresh_lead_seconds": 900}
    fitbit = registry(providers=json.dumps({"fitbit": spec})).get("fitbit")
    assert fitbit.authorize_url == FITBIT["authorize_url"]
    assert fitbit.token_url == FITBIT["token_url"]
    assert fitbit.deauthorize_url == FITBIT["deauthorize_url"]
    assert fitbit.api_base_url == "https://api.fitbit.com/1"
    assert fitbit.client_id == "23ABC"
    assert fitbit.client_secret.get_secret_value() == "fitbit-secret"
    assert fitbit.client_auth == "client_secret_basic"
    assert fitbit.pkce is True
    assert fitbit.scope_separator == " "
    assert fitbit.join_scopes() == "activity profile"
    assert fitbit.rotation == "always-single-use"
    assert fitbit.refresh_lead_seconds == 900


@pytest.mark.parametrize("rotation", ["never", "sometimes", "always-single-use"])
def test_generic_provider_accepts_every_rotation(rotation: str) -> None:
    spec = {**FITBIT, "rotation": rotation, "client_auth": "client_secret_post", "pkce": False}
    provider = registry(providers=json.dumps({"other": spec})).get("other")
    assert provider.rotation == rotation
    assert provider.client_auth == "client_secret_post"
    assert provider.pkce is False


def test_strava_and_generic_providers_live_side_by_side() -> None:
    providers = registry(**STRAVA, providers=json.dumps({"fitbit": FITBIT}))
    assert providers.names() == ["fitbit", "strava"]
    assert {p.name for p in providers} == {"fitbit", "strava"}


def test_unknown_provider_error_names_the_configured_ones() -> None:
    providers = registry(**STRAVA, providers=json.dumps({"fitbit": FITBIT}))
    with pytest.raises(UnknownProvider) as caught:
        providers.get("garmin")
    message = str(caught.value)
    assert "garmin" in message and "fitbit" in message and "strava" in message


def test_using_strava_without_its_secret_is_a_config_error() -> None:
    from paceline.providers import strava

    with pytest.raises(ConfigError):
        strava(load_settings())


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("read,activity:read_all", ("activity:read_all", "read")),
        ("read, read ,activity:read", ("activity:read", "read")),
        ("", ()),
        (None, ()),
        (",,", ()),
    ],
)
def test_strava_granted_scopes_are_split_on_commas(
    raw: str | None, expected: tuple[str, ...]
) -> None:
    assert registry(**STRAVA).get("strava").parse_scopes(raw) == expected


def test_space_separated_scopes_split_on_any_whitespace() -> None:
    fitbit = registry(providers=json.dumps({"fitbit": FITBIT})).get("fitbit")
    assert fitbit.parse_scopes("profile  activity\theartrate") == (
        "activity",
        "heartrate",
        "profile",
    )


def test_account_id_is_read_from_the_dotted_path_in_a_token_response() -> None:
    strava = registry(**STRAVA).get("strava")
    assert strava.account_id_from({"athlete": {"id": 42}}) == "42"
    assert strava.account_id_from({"athlete": None}) is None
    assert strava.account_id_from({}) is None
    assert strava.account_id_from({"athlete": {"id": {"nested": 1}}}) is None
    fitbit = registry(providers=json.dumps({"fitbit": FITBIT})).get("fitbit")
    assert fitbit.account_id_from({"user_id": "ABC12"}) == "ABC12"


def test_strava_authorize_url_host_follows_the_base_url() -> None:
    strava = registry(**STRAVA, strava_base_url="http://localhost:9000").get("strava")
    assert urlsplit(strava.authorize_url).netloc == "localhost:9000"
