"""The one settings model of paceline.

Every service and command reads its configuration here, from environment variables with the
prefix ``PACELINE_`` (12-factor). A bad value fails at start with :class:`ConfigError`, whose
message is one line naming the variable, so a crash-looping pod says exactly what to fix.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "PACELINE_"

Rotation = Literal["never", "sometimes", "always-single-use"]
ClientAuth = Literal["client_secret_post", "client_secret_basic"]


class ConfigError(Exception):
    """Configuration that cannot work; ``str()`` is one line naming the variable."""


class GenericProviderSettings(BaseModel):
    """An OAuth2 provider described entirely by configuration (Fitbit-style and the rest)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    authorize_url: AnyHttpUrl
    token_url: AnyHttpUrl
    deauthorize_url: AnyHttpUrl | None = None
    api_base_url: AnyHttpUrl | None = None
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    client_auth: ClientAuth = "client_secret_basic"
    pkce: bool = True
    scopes: list[str] = Field(default_factory=list)
    scope_separator: str = " "
    rotation: Rotation = "always-single-use"
    refresh_lead_seconds: int = Field(default=600, ge=0)
    # Where the account id comes from: a field of the token response (Fitbit: "user_id"),
    # or, when absent there, a field of the JSON at ``userinfo_url``.
    account_id_field: str = "user_id"
    userinfo_url: AnyHttpUrl | None = None
    userinfo_id_field: str = "id"


class Settings(BaseSettings):
    """All of paceline's configuration. Field ``foo_bar`` is variable ``PACELINE_FOO_BAR``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="ignore",
        frozen=True,
        validate_default=True,
    )

    # --- storage -----------------------------------------------------------------------------
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_password: SecretStr | None = None
    encryption_key: SecretStr | None = None
    secret_backend: Literal["kubernetes", "file", "none"] = "none"
    secret_name: str = "paceline-tokens"
    secret_namespace: str | None = None
    secret_dir: Path = Path(".paceline/secrets")

    # --- Strava --------------------------------------------------------------------------------
    strava_client_id: str | None = None
    strava_client_secret: SecretStr | None = None
    strava_base_url: AnyHttpUrl = AnyHttpUrl("https://www.strava.com")
    strava_scopes: str = "read,activity:read"
    strava_approval_prompt: Literal["auto", "force"] = "auto"
    strava_refresh_lead_seconds: int = Field(default=70 * 60, ge=0)

    # --- other providers (JSON object: name -> GenericProviderSettings) ---------------------------
    providers: dict[str, GenericProviderSettings] = Field(default_factory=dict)

    # --- HTTP to providers ---------------------------------------------------------------------
    http_timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    # --- web services --------------------------------------------------------------------------
    path_prefix: str = ""
    public_url: AnyHttpUrl | None = None

    # --- logging -------------------------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("encryption_key")
    @classmethod
    def _fernet_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        from cryptography.fernet import Fernet

        try:
            Fernet(value.get_secret_value().encode())
        except (ValueError, TypeError):
            raise ValueError(
                "must be a Fernet key (32 url-safe base64-encoded bytes); "
                "make one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'"
            ) from None
        return value

    @field_validator("path_prefix")
    @classmethod
    def _prefix_shape(cls, value: str) -> str:
        value = value.rstrip("/")
        if value and not value.startswith("/"):
            raise ValueError("must be empty or start with '/' (e.g. /api)")
        return value

    @field_validator("providers", mode="before")
    @classmethod
    def _providers_json(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    @model_validator(mode="after")
    def _strava_pair(self) -> Settings:
        has_id = bool(self.strava_client_id)
        has_secret = bool(self.strava_client_secret and self.strava_client_secret.get_secret_value())
        if has_id != has_secret:
            missing = "STRAVA_CLIENT_SECRET" if has_id else "STRAVA_CLIENT_ID"
            raise ValueError(f"{ENV_PREFIX}{missing} must be set together with its pair")
        if "strava" in self.providers:
            raise ValueError(f"{ENV_PREFIX}PROVIDERS: 'strava' is built in; use another name")
        return self

    @property
    def strava_configured(self) -> bool:
        return bool(self.strava_client_id)


def _describe(error: ValidationError) -> str:
    """One line for the first problem, naming the environment variable."""
    first = error.errors()[0]
    loc = [str(part) for part in first.get("loc", ())]
    message = first.get("msg", "invalid value")
    if not loc:  # model-level validators name their variables themselves
        return message.removeprefix("Value error, ")
    variable = ENV_PREFIX + loc[0].upper()
    detail = ".".join(loc[1:])
    where = f"{variable} ({detail})" if detail else variable
    message = message.removeprefix("Value error, ")
    return f"{where}: {message}"


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment (``overrides`` win); raise ConfigError on bad input."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None
    except (json.JSONDecodeError, ValueError) as error:
        # pydantic-settings decodes complex values (JSON) itself, before validation.
        text = str(error).splitlines()[0]
        match = re.search(r'field "([a-z_]+)"', text)
        if match:
            raise ConfigError(f"{ENV_PREFIX}{match.group(1).upper()}: not valid JSON") from None
        raise ConfigError(text) from None
