"""Bad configuration fails at start with ONE line naming the variable; good defaults otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from paceline.settings import ConfigError, Settings, load_settings

pytestmark = pytest.mark.usefixtures("clean_env")

FITBIT = {
    "authorize_url": "https://www.fitbit.com/oauth2/authorize",
    "token_url": "https://api.fitbit.com/oauth2/token",
    "client_id": "23ABC",
    "client_secret": "fitbit-secret",
}


def config_error(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message, f"error must be one line: {message!r}"
    return message


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PACELINE_REDIS_URL", "http://localhost:6379"),
        ("PACELINE_REDIS_URL", "localhost:6379"),
        ("PACELINE_STRAVA_BASE_URL", "not a url"),
        ("PACELINE_STRAVA_BASE_URL", "ftp://strava.example"),
        ("PACELINE_ENCRYPTION_KEY", "too-short-to-be-a-fernet-key"),
        ("PACELINE_LOG_LEVEL", "LOUD"),
        ("PACELINE_LOG_FORMAT", "xml"),
        ("PACELINE_SECRET_BACKEND", "vault"),
        ("PACELINE_HTTP_TIMEOUT_SECONDS", "-1"),
        ("PACELINE_HTTP_TIMEOUT_SECONDS", "soon"),
        ("PACELINE_PATH_PREFIX", "api"),
        ("PACELINE_STRAVA_REFRESH_LEAD_SECONDS", "-5"),
        ("PACELINE_PROVIDERS", "{not json"),
        ("PACELINE_WEBHOOK_PATH_SECRET", "short"),
        ("PACELINE_WEBHOOK_RATE_LIMIT", "lots"),
        ("PACELINE_WEBHOOK_RATE_LIMIT", "120 per minute"),
        ("PACELINE_WEBHOOK_COOLDOWN_SECONDS", "0"),
        ("PACELINE_WEBHOOK_GRANT_CHECK_SECONDS", "-1"),
    ],
)
def test_bad_variable_fails_with_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    message = config_error(monkeypatch, **{variable: value})
    assert message.startswith(variable), message


def test_a_short_webhook_path_secret_is_not_echoed_back(monkeypatch: pytest.MonkeyPatch) -> None:
    message = config_error(monkeypatch, PACELINE_WEBHOOK_PATH_SECRET="tiny-secret")
    assert "tiny-secret" not in message and "16 characters" in message


def test_bad_value_is_not_echoed_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """A mistyped key is still a secret: the error names the variable, not the value."""
    message = config_error(monkeypatch, PACELINE_ENCRYPTION_KEY="my-precious-not-fernet")
    assert "my-precious" not in message
    assert "Fernet" in message


def test_client_id_without_secret_names_the_missing_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = config_error(monkeypatch, PACELINE_STRAVA_CLIENT_ID="1234")
    assert "PACELINE_STRAVA_CLIENT_SECRET" in message


def test_secret_without_client_id_names_the_missing_id(monkeypatch: pytest.MonkeyPatch) -> None:
    message = config_error(monkeypatch, PACELINE_STRAVA_CLIENT_SECRET="abc")
    assert "PACELINE_STRAVA_CLIENT_ID" in message
    assert "abc" not in message


def test_provider_with_wrong_field_type_names_provider_and_field(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = config_error(
        monkeypatch, PACELINE_PROVIDERS=json.dumps({"fitbit": {**FITBIT, "pkce": "sometimes"}})
    )
    assert message.startswith("PACELINE_PROVIDERS")
    assert "fitbit" in message and "pkce" in message


def test_provider_with_unknown_key_names_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    message = config_error(
        monkeypatch, PACELINE_PROVIDERS=json.dumps({"fitbit": {**FITBIT, "scope": "activity"}})
    )
    assert message.startswith("PACELINE_PROVIDERS")
    assert "scope" in message


def test_provider_with_bad_rotation_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    message = config_error(
        monkeypatch, PACELINE_PROVIDERS=json.dumps({"fitbit": {**FITBIT, "rotation": "daily"}})
    )
    assert "rotation" in message


def test_provider_named_strava_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    message = config_error(monkeypatch, PACELINE_PROVIDERS=json.dumps({"strava": FITBIT}))
    assert message.startswith("PACELINE_PROVIDERS") and "built in" in message


def test_provider_name_that_cannot_be_a_key_part_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = config_error(monkeypatch, PACELINE_PROVIDERS=json.dumps({"fit bit": FITBIT}))
    assert message.startswith("PACELINE_PROVIDERS") and "fit bit" in message


def test_provider_with_empty_scope_separator_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    message = config_error(
        monkeypatch, PACELINE_PROVIDERS=json.dumps({"fitbit": {**FITBIT, "scope_separator": ""}})
    )
    assert "scope_separator" in message


def test_defaults_need_no_environment() -> None:
    settings = load_settings()
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert str(settings.strava_base_url).rstrip("/") == "https://www.strava.com"
    assert settings.secret_backend == "none"
    assert settings.secret_name == "paceline-tokens"
    assert settings.secret_dir == Path(".paceline/secrets")
    assert settings.strava_refresh_lead_seconds == 70 * 60
    assert settings.strava_scopes == "read,activity:read_all"
    assert settings.encryption_key is None
    assert settings.providers == {}
    assert settings.log_level == "INFO" and settings.log_format == "json"
    assert settings.path_prefix == ""
    assert not settings.strava_configured


def test_environment_is_read_with_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("PACELINE_REDIS_URL", "rediss://cache.internal:6380/2")
    monkeypatch.setenv("PACELINE_STRAVA_CLIENT_ID", "1234")
    monkeypatch.setenv("PACELINE_STRAVA_CLIENT_SECRET", "s3cret")
    monkeypatch.setenv("PACELINE_STRAVA_BASE_URL", "http://sandbox:8080")
    monkeypatch.setenv("PACELINE_ENCRYPTION_KEY", key)
    monkeypatch.setenv("PACELINE_SECRET_BACKEND", "kubernetes")
    monkeypatch.setenv("PACELINE_LOG_LEVEL", "debug")
    monkeypatch.setenv("PACELINE_PATH_PREFIX", "/api/")
    monkeypatch.setenv("PACELINE_PROVIDERS", json.dumps({"fitbit": FITBIT}))
    # Unprefixed names are not ours.
    monkeypatch.setenv("REDIS_URL", "redis://elsewhere:1/0")
    monkeypatch.setenv("LOG_LEVEL", "ERROR")

    settings = load_settings()

    assert settings.redis_url == "rediss://cache.internal:6380/2"
    assert settings.strava_configured and settings.strava_client_id == "1234"
    assert settings.strava_client_secret is not None
    assert settings.strava_client_secret.get_secret_value() == "s3cret"
    assert str(settings.strava_base_url).startswith("http://sandbox:8080")
    assert settings.encryption_key is not None
    assert settings.encryption_key.get_secret_value() == key
    assert settings.secret_backend == "kubernetes"
    assert settings.log_level == "DEBUG"
    assert settings.path_prefix == "/api"
    assert settings.providers["fitbit"].client_id == "23ABC"


def test_overrides_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PACELINE_REDIS_URL", "redis://from-env:6379/0")
    assert load_settings(redis_url="redis://override:6379/1").redis_url == (
        "redis://override:6379/1"
    )


def test_empty_encryption_key_means_no_encryption(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PACELINE_ENCRYPTION_KEY", "")
    assert load_settings().encryption_key is None


def test_secrets_do_not_show_in_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PACELINE_STRAVA_CLIENT_ID", "1234")
    monkeypatch.setenv("PACELINE_STRAVA_CLIENT_SECRET", "very-secret-value")
    monkeypatch.setenv("PACELINE_REDIS_PASSWORD", "redis-password-value")
    text = repr(load_settings())
    assert "very-secret-value" not in text and "redis-password-value" not in text


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValueError):
        settings.redis_url = "redis://other:6379/0"  # type: ignore[misc]


def test_summaries_are_kept_seven_days_by_default() -> None:
    assert load_settings().summary_keep_seconds == 7 * 86400
