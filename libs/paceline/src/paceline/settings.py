"""The one settings model of paceline.

Every service and command reads its configuration here, from environment variables with the
prefix ``PACELINE_`` (12-factor). A bad value fails at start with :class:`ConfigError`, whose
message is one line naming the variable, so a crash-looping pod says exactly what to fix.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

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
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "PACELINE_"
_PROVIDER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # as paceline.keys

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
    # Scopes a connection must be granted; None = every requested scope.
    required_scopes: list[str] | None = None
    scope_separator: str = Field(default=" ", min_length=1)
    rotation: Rotation = "always-single-use"
    refresh_lead_seconds: int = Field(default=600, ge=0)
    # Where the account id comes from: a field of the token response (Fitbit: "user_id"),
    # or, when absent there, a field of the JSON at ``userinfo_url``.
    account_id_field: str = "user_id"
    userinfo_url: AnyHttpUrl | None = None
    userinfo_id_field: str = "id"


SPORT_FAMILIES = ("run", "ride", "swim")


class GoalSettings(BaseModel):
    """A yearly goal for one sport family; any of the targets may be set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    distance_m: float | None = Field(default=None, gt=0)
    moving_time_s: float | None = Field(default=None, gt=0)
    elevation_gain_m: float | None = Field(default=None, gt=0)
    count: int | None = Field(default=None, gt=0)


_ONE_LIMIT = r"\d+\s*/\s*(second|minute|hour|day)"
_RATE_LIMIT = re.compile(rf"{_ONE_LIMIT}(\s*;\s*{_ONE_LIMIT})*")


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
    secret_backend: Literal["kubernetes", "file", "none"] = "none"  # noqa: S105 (not a secret)
    secret_name: str = "paceline-tokens"  # noqa: S105 (a Secret's name)
    secret_namespace: str | None = None
    secret_dir: Path = Path(".paceline/secrets")

    # --- Strava --------------------------------------------------------------------------------
    strava_client_id: str | None = None
    strava_client_secret: SecretStr | None = None
    strava_base_url: AnyHttpUrl = AnyHttpUrl("https://www.strava.com")
    # activity:read_all is the only way to be told about privacy changes (Strava sends them only
    # to apps granted it); private and followers-only activities are never shown either way.
    strava_scopes: str = "read,activity:read_all"
    strava_approval_prompt: Literal["auto", "force"] = "auto"
    strava_refresh_lead_seconds: int = Field(default=70 * 60, ge=0)

    # --- other providers (JSON object: name -> GenericProviderSettings) ---------------------------
    providers: dict[str, GenericProviderSettings] = Field(default_factory=dict)

    # --- HTTP to providers ---------------------------------------------------------------------
    http_timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    # --- token-refresher -----------------------------------------------------------------------
    refresher_workers: int = Field(default=8, ge=1, le=256)
    refresher_batch_size: int = Field(default=500, ge=1, le=10_000)
    # The per-credential refresh lock (shared with activity-api's on-demand refresh) expires
    # after this long, so a killed holder blocks a credential only briefly.
    refresh_lock_ttl_seconds: float = Field(default=60.0, gt=0, le=3600)
    # After a transient failure a credential waits base * 2**(attempts-1), capped, before the
    # next attempt (a provider's Retry-After wins when longer); --force ignores the wait.
    refresh_backoff_base_seconds: float = Field(default=60.0, ge=0)
    refresh_backoff_max_seconds: float = Field(default=3600.0, ge=0)

    # --- web services --------------------------------------------------------------------------
    path_prefix: str = ""
    public_url: AnyHttpUrl | None = None
    # /metrics is served on this port only (a second gunicorn bind the ingress never routes);
    # on the service port /metrics answers 404.
    metrics_port: int = Field(default=9090, ge=1, le=65535)

    # --- auth-gateway --------------------------------------------------------------------------
    # Admin login: HTTP Basic against a werkzeug password hash (no default password exists;
    # make a hash with `paceline hash-password`), and/or a trusted auth-proxy header
    # (oauth2-proxy's X-Auth-Request-Email, say), honoured only when named here.
    admin_user: str = Field(default="admin", min_length=1)
    admin_password_hash: SecretStr | None = None
    # Or the password itself (the chart's generated one, from a Secret): hashed in memory at
    # start, never stored or logged. At most one of the two.
    admin_password: SecretStr | None = None
    trusted_auth_header: str = ""
    # The proof that a request came through the auth proxy: the proxy adds this secret in
    # trusted_proxy_secret_header; without it (compared in constant time) the trusted header is
    # refused. Required with trusted_auth_header.
    trusted_proxy_secret: SecretStr | None = None
    trusted_proxy_secret_header: str = "X-Paceline-Proxy-Secret"  # noqa: S105 (a header name)
    # Identities (e-mail addresses, as the proxy's header carries them) that are admins;
    # required with trusted_auth_header. Compared case-insensitively.
    admin_emails: Annotated[tuple[str, ...], NoDecode] = ()
    # Failed Basic logins: after this many per client address or per user name, a lockout of
    # login_lockout_seconds, doubling with every further failure up to the max (429 with
    # Retry-After, no password hash computed).
    login_max_failures: int = Field(default=5, ge=1, le=1000)
    login_lockout_seconds: float = Field(default=30.0, gt=0)
    login_lockout_max_seconds: float = Field(default=3600.0, gt=0)
    # Proxies in front of the gateway whose X-Forwarded-For is believed for the client address
    # (werkzeug ProxyFix x_for); 0 = the peer address, X-Forwarded-For ignored.
    trusted_proxy_hops: int = Field(default=0, ge=0, le=5)
    # Key that signs the gateway's cookies and CSRF tokens (>= 32 characters); unset = a random
    # key kept in Redis, shared by every replica.
    session_secret: SecretStr | None = None
    # Accounts that may connect: "123,456" or "strava:123"; empty = only the first account of
    # each provider (and reconnections of it). open_signup lets anyone connect (clubs).
    allowed_accounts: str = ""
    open_signup: bool = False
    # Strava scopes a connection must be granted; empty = every scope in strava_scopes, with
    # activity:read enough for activity:read_all (asked for privacy events, not required).
    strava_required_scopes: str = ""

    # --- activity-api --------------------------------------------------------------------------
    # Browser origins allowed to read the JSON API ("https://me.example,https://blog.example";
    # "*" allows any). Empty: no CORS headers (same-origin pages and servers only).
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    # The account GET /v1/strava/summary shows; unset = the first connected Strava account.
    primary_account: str | None = None
    # Accounts whose summaries include maps and start/end coordinates. Off by default: Strava's
    # privacy zones hide a home address only on Strava's own pages, not in raw API data.
    show_maps_accounts: Annotated[tuple[str, ...], NoDecode] = ()
    # Accounts whose year-to-date totals and goal pacing count every activity, private and
    # followers-only included (paceline.year_ledger): the year's activity list is paged once
    # (needs activity:read_all), then kept current by events; only sums are ever published.
    # Empty: Strava's own totals, which count public activities only.
    private_totals_accounts: Annotated[tuple[str, ...], NoDecode] = ()
    # A cached summary is fresh this long; after that it is served stale while one background
    # refresh runs. Webhooks refresh changed summaries long before this.
    summary_fresh_seconds: int = Field(default=900, ge=1)
    # With a webhook subscription, events report every change to activities and totals; a
    # summary is then refreshed on a read only once this old (never sooner than the above), a
    # safety net for what events do not report (a new profile picture, a missed event).
    summary_webhook_fresh_seconds: int = Field(default=86400, ge=1)
    # An account that did not grant activity:read_all gets no privacy events: its summary counts
    # as fresh no longer than this even with a subscription (an activity made private leaves
    # the widget within this bound).
    summary_privacy_fresh_seconds: int = Field(default=3600, ge=1)
    # Each worker answers a summary read from memory for this long after reading it from Redis
    # (0 = always ask Redis): the hot path without a round trip. What other workers or
    # replicas change shows up this much later (answers carry Cache-Control: max-age anyway).
    summary_memo_seconds: float = Field(default=1.0, ge=0, le=60)
    # How long a summary is kept and served at all after it was fetched (what can be served when
    # the provider is down or the account needs re-authorization). Seven days: Strava's API
    # agreement wants data kept no longer than needed and deleted when access ends; a week rides
    # out outages and spent budgets (README, "Retention").
    summary_keep_seconds: int = Field(default=7 * 86400, ge=60)
    summary_recent_count: int = Field(default=5, ge=1, le=50)
    # Activities fetched per build (one page); also the largest ?limit of the activities route.
    summary_activities_max: int = Field(default=30, ge=1, le=200)
    # Yearly goals by sport family (JSON): {"run": {"distance_m": 1000000}}.
    summary_goals: dict[str, GoalSettings] = Field(default_factory=dict)
    # A request that finds nothing cached builds (or waits for a build) at most this long.
    summary_build_timeout_seconds: float = Field(default=8.0, gt=0, le=25)
    # After a failed build, no new attempt for this long (the provider is not hammered).
    summary_retry_seconds: int = Field(default=60, ge=1)
    # Background refresh threads per worker process.
    summary_refresh_threads: int = Field(default=2, ge=1, le=16)
    # Cache-Control for CDNs and browsers.
    http_max_age_seconds: int = Field(default=60, ge=0)
    http_stale_while_revalidate_seconds: int = Field(default=600, ge=0)

    # --- webhooks ------------------------------------------------------------------------------
    # Echoed back by Strava's subscription validation; compared in constant time.
    webhook_verify_token: SecretStr | None = None
    # The push subscription whose events are accepted; unset = the one `paceline webhook
    # subscribe` recorded in Redis.
    webhook_subscription_id: int | None = Field(default=None, ge=1)
    # Run the event consumer thread in each activity-api worker.
    webhook_consumer: bool = True
    # An event not acknowledged this long (its consumer died or failed) is processed again.
    webhook_retry_idle_seconds: float = Field(default=60.0, gt=0)
    webhook_max_deliveries: int = Field(default=5, ge=1)
    # Events only mark an account dirty; its work (one rebuild, one grant check) runs at most
    # once per this many seconds, however many events arrive.
    webhook_cooldown_seconds: float = Field(default=60.0, ge=1, le=3600)
    # Deauthorization events: the grant is checked (a token post; an API call only when the
    # refresh is refused) at most once per this many seconds per account.
    webhook_grant_check_seconds: float = Field(default=10.0, ge=1, le=3600)
    # Secret from which the callback's unguessable path segment is derived
    # (/webhooks/strava/<token>); once set, the bare /webhooks/strava accepts nothing.
    webhook_path_secret: SecretStr | None = None
    # Per client address, on the webhook route (Flask-Limiter syntax, e.g. "120/minute").
    webhook_rate_limit: str = "120/minute"

    # --- rate governor -------------------------------------------------------------------------
    # Share of every window kept for interactive requests: background work stops at
    # 1 - reserve of a limit, prefetch at 1 - 2 * reserve.
    governor_reserve_fraction: float = Field(default=0.2, ge=0, le=0.45)
    # Window lengths, aligned to the epoch like Strava's (quarter hours, UTC days).
    governor_window_seconds: int = Field(default=900, ge=1)
    governor_day_seconds: int = Field(default=86400, ge=1)
    # Limits assumed until the provider's headers say otherwise ("15min,daily").
    governor_assumed_overall: Annotated[tuple[int, int], NoDecode] = (200, 2000)
    governor_assumed_read: Annotated[tuple[int, int], NoDecode] = (100, 1000)

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
        if value is None or not value.get_secret_value().strip():
            return None
        from cryptography.fernet import Fernet

        keys = [part.strip() for part in value.get_secret_value().split(",") if part.strip()]
        try:
            for key in keys:
                Fernet(key.encode())
        except (ValueError, TypeError):
            raise ValueError(
                "must be a Fernet key (32 url-safe base64-encoded bytes), or several separated "
                "by commas (the first encrypts, all decrypt: key rotation); "
                "make one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'"
            ) from None
        return value

    @field_validator("admin_password_hash", "admin_password", "session_secret", mode="before")
    @classmethod
    def _empty_secret_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("admin_password_hash")
    @classmethod
    def _password_hash_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        text = value.get_secret_value().strip()
        method, _, rest = text.partition("$")
        if not method.startswith(("scrypt:", "pbkdf2:")) or rest.count("$") != 1:
            raise ValueError(
                "must be a password hash such as scrypt:32768:8:1$...$... (never the password "
                "itself); make one with: paceline hash-password"
            )
        return SecretStr(text)

    @field_validator("session_secret")
    @classmethod
    def _session_secret_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError(
                "must be at least 32 characters; make one with: "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return value

    @field_validator("trusted_proxy_secret", mode="before")
    @classmethod
    def _empty_proxy_secret_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("trusted_proxy_secret")
    @classmethod
    def _proxy_secret_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError(
                "must be at least 32 characters; make one with: "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return value

    @field_validator("admin_emails", mode="before")
    @classmethod
    def _emails(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        for email in value:
            if not re.fullmatch(r"[^@\s,]{1,128}@[^@\s,]{1,255}", str(email)):
                raise ValueError(f"{email!r} is not an e-mail address")
        return tuple(str(e).lower() for e in value)

    @field_validator("trusted_auth_header", "trusted_proxy_secret_header")
    @classmethod
    def _header_name(cls, value: str) -> str:
        value = value.strip()
        if value and not re.fullmatch(r"[A-Za-z0-9-]{1,64}", value):
            raise ValueError("must be an HTTP header name such as X-Auth-Request-Email, or empty")
        return value

    @field_validator("allowed_accounts")
    @classmethod
    def _account_list(cls, value: str) -> str:
        for entry in (part.strip() for part in value.split(",")):
            if entry and not re.fullmatch(
                r"(?:[A-Za-z0-9][A-Za-z0-9_.-]{0,63}:)?[A-Za-z0-9_.-]+", entry
            ):
                raise ValueError(f"{entry!r} is not an account id (use 123 or strava:123)")
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip().rstrip("/") for part in value.split(",") if part.strip()]
        for origin in value:
            if origin != "*" and not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?", origin):
                raise ValueError(f"{origin!r} is not an origin such as https://me.example")
        return value

    @field_validator("show_maps_accounts", "private_totals_accounts", mode="before")
    @classmethod
    def _account_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        for account in value:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", str(account)):
                raise ValueError(f"{account!r} is not an account id")
        return tuple(str(a) for a in value)

    @field_validator("primary_account", mode="before")
    @classmethod
    def _primary(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        if value is not None and not re.fullmatch(
            r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", str(value).strip()
        ):
            raise ValueError(f"{value!r} is not an account id")
        return None if value is None else str(value).strip()

    @field_validator("governor_assumed_overall", "governor_assumed_read", mode="before")
    @classmethod
    def _limit_pair(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",")]
            if len(parts) != 2 or not all(part.isdigit() for part in parts):
                raise ValueError('must look like "200,2000" (15-minute,daily)')
            return (int(parts[0]), int(parts[1]))
        return value

    @field_validator("summary_goals", mode="before")
    @classmethod
    def _goals_json(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = json.loads(value) if value.strip() else {}
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(SPORT_FAMILIES))
            if unknown:
                raise ValueError(f"unknown sport {unknown[0]!r}; use {', '.join(SPORT_FAMILIES)}")
        return value

    @field_validator("webhook_path_secret", mode="before")
    @classmethod
    def _path_secret_shape(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not value.strip():
                return None
            if len(value.strip()) < 16:
                raise ValueError("must be at least 16 characters (e.g. openssl rand -hex 32)")
        return value

    @field_validator("webhook_rate_limit")
    @classmethod
    def _rate_limit_shape(cls, value: str) -> str:
        if not _RATE_LIMIT.fullmatch(value.strip()):
            raise ValueError('must look like "120/minute" or "10/second;300/hour"')
        return value.strip()

    @field_validator("webhook_verify_token", mode="before")
    @classmethod
    def _empty_token_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

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

    @field_validator("providers")
    @classmethod
    def _provider_names(
        cls, value: dict[str, GenericProviderSettings]
    ) -> dict[str, GenericProviderSettings]:
        # Provider names become parts of Redis keys and Secret keys (see paceline.keys).
        for name in value:
            if not _PROVIDER_NAME.fullmatch(name):
                raise ValueError(
                    f"provider name {name!r} must be 1-64 letters, digits, '.', '_' or '-'"
                )
        return value

    @model_validator(mode="after")
    def _strava_pair(self) -> Settings:
        has_id = bool(self.strava_client_id)
        has_secret = bool(
            self.strava_client_secret and self.strava_client_secret.get_secret_value()
        )
        if has_id != has_secret:
            missing = "STRAVA_CLIENT_SECRET" if has_id else "STRAVA_CLIENT_ID"
            raise ValueError(f"{ENV_PREFIX}{missing} must be set together with its pair")
        if self.trusted_auth_header and self.trusted_proxy_secret is None:
            raise ValueError(
                f"{ENV_PREFIX}TRUSTED_PROXY_SECRET: required with {ENV_PREFIX}TRUSTED_AUTH_HEADER "
                "(the proxy must prove each request came through it)"
            )
        if self.trusted_auth_header and not self.admin_emails:
            raise ValueError(
                f"{ENV_PREFIX}ADMIN_EMAILS: required with {ENV_PREFIX}TRUSTED_AUTH_HEADER "
                "(who among the proxy's users is an admin)"
            )
        if self.trusted_auth_header.lower() == self.trusted_proxy_secret_header.lower() and (
            self.trusted_auth_header
        ):
            raise ValueError(
                f"{ENV_PREFIX}TRUSTED_PROXY_SECRET_HEADER: must differ from the auth header"
            )
        if self.login_lockout_max_seconds < self.login_lockout_seconds:
            raise ValueError(
                f"{ENV_PREFIX}LOGIN_LOCKOUT_MAX_SECONDS: must be at least "
                f"{ENV_PREFIX}LOGIN_LOCKOUT_SECONDS"
            )
        if "strava" in self.providers:
            raise ValueError(f"{ENV_PREFIX}PROVIDERS: 'strava' is built in; use another name")
        if self.admin_password is not None and self.admin_password_hash is not None:
            raise ValueError(
                f"{ENV_PREFIX}ADMIN_PASSWORD: set it or {ENV_PREFIX}ADMIN_PASSWORD_HASH, not both"
            )
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
