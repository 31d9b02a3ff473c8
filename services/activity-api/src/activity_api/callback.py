"""Where Strava posts events: ``<prefix>/webhooks/strava/<token>``.

The callback is public and Strava's events are unsigned, so the path itself carries the one
thing an outsider cannot guess: ``<token>`` is an HMAC of a fixed label under
``PACELINE_WEBHOOK_PATH_SECRET`` (the chart generates and keeps that secret). Without the
setting the path is the bare ``/webhooks/strava`` (local demo); with it, the bare path and
any other token answer 404, so events can only come from whoever was given the callback URL:
Strava, through ``paceline webhook subscribe``.
"""

from __future__ import annotations

import hashlib
import hmac

from paceline.log import register_secret
from paceline.settings import Settings

BASE_PATH = "/webhooks/strava"
_LABEL = b"paceline webhook callback path v1: strava"


def callback_token(settings: Settings) -> str | None:
    """The path segment, or None when no path secret is configured."""
    secret = settings.webhook_path_secret
    if secret is None:
        return None
    register_secret(secret.get_secret_value())
    token = hmac.new(secret.get_secret_value().encode(), _LABEL, hashlib.sha256).hexdigest()[:40]
    register_secret(token)  # the path carries it: access logs must not
    return token


def callback_path(settings: Settings) -> str:
    """The path Strava must call, below the path prefix."""
    token = callback_token(settings)
    return BASE_PATH if token is None else f"{BASE_PATH}/{token}"


def matches(settings: Settings, token: str | None) -> bool:
    """Whether a request's path segment is the configured one (constant-time)."""
    expected = callback_token(settings)
    if expected is None:
        return token is None
    return token is not None and hmac.compare_digest(token.encode(), expected.encode())
