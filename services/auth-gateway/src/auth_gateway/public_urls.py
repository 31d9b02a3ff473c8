"""Where the gateway lives on the outside: built from settings, never from the request.

A redirect URI taken from the ``Host`` header would let anyone who can reach the gateway under
another name steer the provider's code elsewhere; so the OAuth redirect URI and the cookie
scope come from ``PACELINE_PUBLIC_URL`` (and ``PACELINE_PATH_PREFIX``) alone.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from paceline import keys
from paceline.settings import ConfigError, Settings


def gateway_base(settings: Settings) -> str:
    """The gateway's external URL without a trailing slash, e.g. https://fit.example.com/auth."""
    if settings.public_url is None:
        raise ConfigError(
            "PACELINE_PUBLIC_URL: must be set for the auth-gateway (the OAuth redirect URI is "
            "built from it), e.g. https://fit.example.com"
        )
    return str(settings.public_url).rstrip("/") + settings.path_prefix


def redirect_uri(settings: Settings, provider: str) -> str:
    return f"{gateway_base(settings)}/callback/{keys.check_ident(provider, 'provider')}"


def public_origin(settings: Settings) -> str:
    parts = urlsplit(gateway_base(settings))
    return f"{parts.scheme}://{parts.netloc}"


def cookie_path(settings: Settings) -> str:
    """Cookies are scoped to the gateway's own path, not the whole site."""
    return (urlsplit(gateway_base(settings)).path or "") + "/"


def secure_cookies(settings: Settings) -> bool:
    return gateway_base(settings).startswith("https://")
