"""The provider registry: what paceline needs to know about each OAuth2 provider.

A provider is data plus small hooks. Strava is built in, with every URL derived from
``PACELINE_STRAVA_BASE_URL`` so that pointing it at the sandbox (or any double) moves every call.
Other providers are described entirely by ``PACELINE_PROVIDERS``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from paceline.settings import ClientAuth, ConfigError, Rotation, Settings


@dataclass(frozen=True)
class Provider:
    name: str
    authorize_url: str
    token_url: str
    deauthorize_url: str | None
    api_base_url: str | None
    client_id: str
    client_secret: SecretStr = field(repr=False)
    client_auth: ClientAuth
    pkce: bool
    scopes: tuple[str, ...]
    scope_separator: str
    rotation: Rotation
    refresh_lead_seconds: int
    account_id_field: str = "athlete.id"
    userinfo_url: str | None = None
    userinfo_id_field: str = "id"
    extra_authorize_params: Mapping[str, str] = field(default_factory=dict)

    def join_scopes(self, scopes: tuple[str, ...] | list[str] | None = None) -> str:
        return self.scope_separator.join(self.scopes if scopes is None else scopes)

    def parse_scopes(self, raw: str | None) -> tuple[str, ...]:
        """Split a granted-scope string; Strava uses commas, most others spaces."""
        if not raw:
            return ()
        sep = self.scope_separator
        parts = raw.split() if sep.isspace() else raw.split(sep)
        return tuple(sorted({part.strip() for part in parts if part.strip()}))

    def account_id_from(self, token_response: Mapping[str, Any]) -> str | None:
        """The account id carried in a token response (dotted path), if any."""
        value: Any = token_response
        for part in self.account_id_field.split("."):
            if not isinstance(value, Mapping) or part not in value:
                return None
            value = value[part]
        if value is None or isinstance(value, (dict, list)):
            return None
        return str(value)


def strava(settings: Settings) -> Provider:
    base = str(settings.strava_base_url).rstrip("/")
    if not settings.strava_client_id or settings.strava_client_secret is None:
        raise ConfigError(
            "PACELINE_STRAVA_CLIENT_ID and PACELINE_STRAVA_CLIENT_SECRET must be set to use strava"
        )
    return Provider(
        name="strava",
        authorize_url=f"{base}/oauth/authorize",
        token_url=f"{base}/oauth/token",
        deauthorize_url=f"{base}/oauth/deauthorize",
        api_base_url=f"{base}/api/v3",
        client_id=settings.strava_client_id,
        client_secret=settings.strava_client_secret,
        client_auth="client_secret_post",
        pkce=False,
        scopes=tuple(s.strip() for s in settings.strava_scopes.split(",") if s.strip()),
        scope_separator=",",
        rotation="sometimes",
        refresh_lead_seconds=settings.strava_refresh_lead_seconds,
        account_id_field="athlete.id",
        userinfo_url=f"{base}/api/v3/athlete",
        userinfo_id_field="id",
        extra_authorize_params={"approval_prompt": settings.strava_approval_prompt},
    )


class ProviderRegistry:
    """The configured providers by name."""

    def __init__(self, providers: Mapping[str, Provider]) -> None:
        self._providers = dict(providers)

    @classmethod
    def from_settings(cls, settings: Settings) -> ProviderRegistry:
        providers: dict[str, Provider] = {}
        if settings.strava_configured:
            providers["strava"] = strava(settings)
        for name, spec in settings.providers.items():
            providers[name] = Provider(
                name=name,
                authorize_url=str(spec.authorize_url),
                token_url=str(spec.token_url),
                deauthorize_url=str(spec.deauthorize_url) if spec.deauthorize_url else None,
                api_base_url=str(spec.api_base_url).rstrip("/") if spec.api_base_url else None,
                client_id=spec.client_id,
                client_secret=spec.client_secret,
                client_auth=spec.client_auth,
                pkce=spec.pkce,
                scopes=tuple(spec.scopes),
                scope_separator=spec.scope_separator,
                rotation=spec.rotation,
                refresh_lead_seconds=spec.refresh_lead_seconds,
                account_id_field=spec.account_id_field,
                userinfo_url=str(spec.userinfo_url) if spec.userinfo_url else None,
                userinfo_id_field=spec.userinfo_id_field,
            )
        return cls(providers)

    def get(self, name: str) -> Provider:
        try:
            return self._providers[name]
        except KeyError:
            known = ", ".join(sorted(self._providers)) or "none"
            if name == "strava":
                raise UnknownProvider(
                    "strava is not configured: set PACELINE_STRAVA_CLIENT_ID and "
                    f"PACELINE_STRAVA_CLIENT_SECRET (configured: {known})"
                ) from None
            raise UnknownProvider(f"unknown provider {name!r} (configured: {known})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._providers

    def names(self) -> list[str]:
        return sorted(self._providers)

    def __iter__(self) -> Iterator[Provider]:
        return iter(self._providers.values())


class UnknownProvider(LookupError):
    pass
