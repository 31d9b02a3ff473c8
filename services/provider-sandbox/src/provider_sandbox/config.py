"""Sandbox configuration: defaults, ``SANDBOX_*`` environment variables, runtime updates.

The sandbox is a separate system from paceline, so it reads its own prefix (``SANDBOX_``),
never ``PACELINE_``. The same field names (lower case, without the prefix) are accepted by
``create_app(config=...)`` and by ``POST /_sandbox/config``; every value goes through the
same validation so a typo or a wrong type fails loudly, naming the field, instead of
silently doing nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ENV_PREFIX = "SANDBOX_"
ROTATION_MODES = ("sometimes", "always-single-use", "never")


class ConfigError(ValueError):
    """A configuration value is unknown or invalid; ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class SandboxConfig:
    """One immutable snapshot of the configuration.

    Immutable so request handlers can read ``sandbox.config`` without a lock: an update
    builds a new snapshot and swaps the reference.
    """

    client_id: str = "12345"
    client_secret: str = "sandbox-client-secret"  # noqa: S105 (published sandbox default)
    auto_approve: bool = False
    default_athlete_id: int | None = None
    rotation: str = "sometimes"
    reuse_grace_seconds: int = 0
    token_lifetime_seconds: int = 21600
    refresh_same_token_threshold_seconds: int = 3600
    code_lifetime_seconds: int = 600
    # A fresh code is refused as "AuthorizationCode invalid" (and kept) for this long: real
    # Strava does so now and then for a code that works seconds later
    # (github.com/basvandorst/StravaPHP/pull/101: "invalid token once a 6-10 tries").
    code_ready_seconds: int = 0
    grant_scope: str | None = None
    rate_limit_overall: tuple[int, int] = (200, 2000)
    rate_limit_read: tuple[int, int] = (100, 1000)
    window_seconds: int = 900
    day_seconds: int = 86400
    seed: int = 42
    seed_athletes: int = 2
    webhook_timeout_seconds: float = 2.0
    # Strava retries an event whose POST is not answered 200 within two seconds "up to a total
    # of three attempts" (developers.strava.com/docs/webhooks): two retries at most.
    webhook_retries: int = 2
    webhook_retry_delay_seconds: float = 1.0


class _Kind:
    """How one field is parsed from an environment string and checked from JSON."""

    def from_text(self, text: str) -> Any:
        return text

    def check(self, value: Any) -> Any:
        raise NotImplementedError


class _Str(_Kind):
    def __init__(self, digits_only: bool = False) -> None:
        self.digits_only = digits_only

    def check(self, value: Any) -> Any:
        if self.digits_only and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value:
            raise ValueError("must be a non-empty string")
        if self.digits_only and not value.isdigit():
            raise ValueError("must be a string of digits")
        return value


class _Bool(_Kind):
    _TEXT = {"1": True, "true": True, "yes": True, "on": True}
    _TEXT_FALSE = {"0": False, "false": False, "no": False, "off": False, "": False}

    def from_text(self, text: str) -> Any:
        lowered = text.strip().lower()
        if lowered in self._TEXT:
            return True
        if lowered in self._TEXT_FALSE:
            return False
        raise ValueError("must be true or false")

    def check(self, value: Any) -> Any:
        if not isinstance(value, bool):
            raise ValueError("must be a boolean")
        return value


class _Int(_Kind):
    def __init__(self, minimum: int = 0, maximum: int | None = None) -> None:
        self.minimum = minimum
        self.maximum = maximum

    def from_text(self, text: str) -> Any:
        try:
            return int(text.strip())
        except ValueError:
            raise ValueError("must be an integer") from None

    def check(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be an integer")
        if value < self.minimum:
            raise ValueError(f"must be >= {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"must be <= {self.maximum}")
        return value


class _Float(_Kind):
    def from_text(self, text: str) -> Any:
        try:
            return float(text.strip())
        except ValueError:
            raise ValueError("must be a number") from None

    def check(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("must be a number")
        if value < 0:
            raise ValueError("must be >= 0")
        return float(value)


class _Choice(_Kind):
    def __init__(self, options: tuple[str, ...]) -> None:
        self.options = options

    def check(self, value: Any) -> Any:
        if value not in self.options:
            raise ValueError(f"must be one of {', '.join(self.options)}")
        return value


class _Pair(_Kind):
    """A ``"15min,daily"`` limit pair, written like Strava's headers."""

    def check(self, value: Any) -> Any:
        if isinstance(value, str):
            parts: list[Any] = value.split(",")
            try:
                parts = [int(part.strip()) for part in parts]
            except ValueError:
                raise ValueError('must look like "200,2000"') from None
        elif isinstance(value, list | tuple):
            parts = list(value)
        else:
            raise ValueError('must look like "200,2000"')
        if len(parts) != 2 or not all(
            isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in parts
        ):
            raise ValueError('must be two non-negative integers like "200,2000"')
        return (parts[0], parts[1])


class _Optional(_Kind):
    def __init__(self, inner: _Kind) -> None:
        self.inner = inner

    def from_text(self, text: str) -> Any:
        return None if text.strip() == "" else self.inner.from_text(text)

    def check(self, value: Any) -> Any:
        return None if value is None else self.inner.check(value)


_KINDS: dict[str, _Kind] = {
    "client_id": _Str(digits_only=True),
    "client_secret": _Str(),
    "auto_approve": _Bool(),
    "default_athlete_id": _Optional(_Int(minimum=1)),
    "rotation": _Choice(ROTATION_MODES),
    "reuse_grace_seconds": _Int(),
    "token_lifetime_seconds": _Int(minimum=1),
    "refresh_same_token_threshold_seconds": _Int(),
    "code_lifetime_seconds": _Int(minimum=1),
    "code_ready_seconds": _Int(),
    "grant_scope": _Optional(_Str()),
    "rate_limit_overall": _Pair(),
    "rate_limit_read": _Pair(),
    "window_seconds": _Int(minimum=1),
    "day_seconds": _Int(minimum=1),
    "seed": _Int(),
    "seed_athletes": _Int(minimum=1),
    "webhook_timeout_seconds": _Float(),
    "webhook_retries": _Int(maximum=2),
    "webhook_retry_delay_seconds": _Float(),
}
assert set(_KINDS) == {f.name for f in dataclasses.fields(SandboxConfig)}


def env_name(field: str) -> str:
    """The environment variable that sets ``field``."""
    return ENV_PREFIX + field.upper()


def update_config(config: SandboxConfig, changes: Mapping[str, Any]) -> SandboxConfig:
    """Return ``config`` with JSON-typed ``changes`` applied; raise ConfigError on bad input."""
    checked: dict[str, Any] = {}
    for field, value in changes.items():
        kind = _KINDS.get(field)
        if kind is None:
            raise ConfigError(field, "unknown configuration field")
        try:
            checked[field] = kind.check(value)
        except ValueError as exc:
            raise ConfigError(field, str(exc)) from None
    return dataclasses.replace(config, **checked)


def load_config(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> SandboxConfig:
    """Build the start-up configuration: defaults, then ``SANDBOX_*`` variables, then overrides.

    Errors from the environment name the variable (``SANDBOX_WINDOW_SECONDS``) because that is
    what an operator has to fix.
    """
    from_env: dict[str, Any] = {}
    for field, kind in _KINDS.items():
        name = env_name(field)
        if environ is None or name not in environ:
            continue
        try:
            from_env[field] = kind.check(kind.from_text(environ[name]))
        except ValueError as exc:
            raise ConfigError(name, str(exc)) from None
    config = dataclasses.replace(SandboxConfig(), **from_env)
    return update_config(config, overrides or {})


def config_to_json(config: SandboxConfig) -> dict[str, Any]:
    """The configuration as ``GET /_sandbox/config`` shows it (limit pairs as "a,b")."""
    data = dataclasses.asdict(config)
    for field in ("rate_limit_overall", "rate_limit_read"):
        data[field] = "{},{}".format(*data[field])
    return data
