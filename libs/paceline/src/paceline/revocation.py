"""Is a grant dead? Asked when the provider refuses a refresh token, with or without a webhook.

An athlete who revokes the application on strava.com kills every token of the grant at once
(developers.strava.com/docs/authentication, "Deauthorization": the application's refresh and
access tokens for the athlete are invalidated).
Strava then sends a deauthorization event, but only to a subscription, and events can be lost.
A refused refresh token alone does not prove a revocation (a refresh chain can be lost too), and
erasing destroys data, so the provider must confirm: the credential's *unexpired* access token is
refused as well, with Strava's error body. Anything else (the token still works, it has expired
so a refusal proves nothing, the budget is spent, the provider is down, a missing-scope answer)
is "not confirmed", and the account is kept (``needs_reauth``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from paceline.credential import Credential
from paceline.governor import Priority
from paceline.upstream import UpstreamError

if TYPE_CHECKING:
    from paceline.runtime import Runtime

log = logging.getLogger(__name__)

# An access token this close to its expiry may be refused for being expired: no proof.
EXPIRY_MARGIN_SECONDS = 120.0


def refused_for_good(status: int, body: Any) -> bool:
    """Strava's answer to an access token it no longer knows: 401 ``{"message": "Authorization
    Error", "errors": [{"resource": "Athlete", "field": "access_token", "code": "invalid"}]}``.
    Only that shape counts; a missing scope, an application error, a proxy's 401 page or any
    other body is no proof of a revocation."""
    if status != 401 or not isinstance(body, Mapping):
        return False
    errors = body.get("errors")
    if not isinstance(errors, list) or not errors:
        return False
    return any(
        isinstance(error, Mapping)
        and error.get("field") == "access_token"
        and error.get("code") == "invalid"
        for error in errors
    )


def grant_is_dead(runtime: Runtime, credential: Credential) -> bool:
    """True only when the provider confirms that ``credential``'s grant was revoked: its access
    token, not yet expired, is refused on the user-info endpoint with the provider's error body.
    One API call (a background read, governed); any doubt answers False."""
    provider = runtime.providers.get(credential.provider)
    if not provider.userinfo_url:
        return False
    if credential.expires_at - runtime.clock.now() <= EXPIRY_MARGIN_SECONDS:
        return False
    if not runtime.governor(credential.provider).acquire(Priority.BACKGROUND).allowed:
        return False
    try:
        response = runtime.upstream(credential.provider).request(
            "GET",
            provider.userinfo_url,
            endpoint="GET /athlete",
            bearer=credential.access_token,
        )
    except UpstreamError:
        return False
    try:
        body = response.json()
    except ValueError:
        body = None
    dead = refused_for_good(response.status_code, body)
    log.info(
        "grant checked",
        extra={
            "provider": credential.provider,
            "account": credential.account_id,
            "status": response.status_code,
            "dead": dead,
        },
    )
    return dead
