"""The gateway's settings fail at start with one line that says what to do."""

from __future__ import annotations

import fakeredis
import pytest
from auth_gateway.app import create_app
from paceline.mirror import NullMirror
from paceline.runtime import build_runtime
from paceline.settings import ConfigError, load_settings
from werkzeug.security import generate_password_hash

pytestmark = pytest.mark.usefixtures("clean_env")


def error_for(**overrides: object) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(**overrides)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_plain_password_is_refused_with_the_way_to_hash_it() -> None:
    message = error_for(admin_password_hash="hunter2hunter2")
    assert message.startswith("PACELINE_ADMIN_PASSWORD_HASH:")
    assert "paceline hash-password" in message
    assert "hunter2" not in message


def test_werkzeug_hashes_are_accepted_and_empty_means_unset() -> None:
    for method in ("scrypt", "pbkdf2:sha256"):
        hashed = generate_password_hash("a long enough password", method)
        value = load_settings(admin_password_hash=hashed).admin_password_hash
        assert value is not None and value.get_secret_value() == hashed
    assert load_settings(admin_password_hash="").admin_password_hash is None
    assert load_settings().admin_password_hash is None  # no default password anywhere


def test_short_session_secret_is_refused() -> None:
    assert error_for(session_secret="short").startswith("PACELINE_SESSION_SECRET:")


def test_trusted_header_must_be_a_header_name() -> None:
    assert error_for(trusted_auth_header="X-User: admin").startswith(
        "PACELINE_TRUSTED_AUTH_HEADER:"
    )
    assert load_settings(trusted_auth_header="").trusted_auth_header == ""


def test_allowed_accounts_must_be_account_ids() -> None:
    assert error_for(allowed_accounts="123,<script>").startswith("PACELINE_ALLOWED_ACCOUNTS:")
    assert load_settings(allowed_accounts="123, strava:456").allowed_accounts


def test_open_signup_reads_the_chart_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PACELINE_OPEN_SIGNUP", "false")
    assert load_settings().open_signup is False
    monkeypatch.setenv("PACELINE_OPEN_SIGNUP", "true")
    assert load_settings().open_signup is True


def test_gateway_does_not_start_without_a_public_url() -> None:
    runtime = build_runtime(
        load_settings(), redis_client=fakeredis.FakeRedis(), mirror=NullMirror()
    )
    with pytest.raises(ConfigError, match=r"^PACELINE_PUBLIC_URL: must be set"):
        create_app(runtime=runtime)


def test_a_plain_admin_password_and_a_hash_together_are_refused() -> None:
    hashed = generate_password_hash("a long enough password")
    message = error_for(admin_password="plain-password", admin_password_hash=hashed)
    assert message.startswith("PACELINE_ADMIN_PASSWORD:")
    assert "plain-password" not in message
    assert load_settings(admin_password="").admin_password is None
