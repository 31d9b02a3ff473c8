"""Is an account's grant really dead? The check that comes before any erasure it would cause.

An athlete who revokes the application on strava.com kills every token of the grant at once
(developers.strava.com/docs/authentication, "Deauthorization"). Strava then sends a
deauthorization event, but only to a subscription, and anyone can post a forged one (events are
unsigned); events can also be lost. A refused refresh token alone proves nothing either (a
refresh chain can be lost, a token endpoint can misbehave). Erasing destroys data, so an account
is erased for a revoked grant only when the provider itself confirms it on *both* tokens:

* the refresh token is refused (``invalid_grant``-like: the refresh ends ``needs_reauth``,
  ``lost_chain`` or ``revoked``), through the one locked refresh path, so a live grant is simply
  refreshed and found alive;
* and the *unexpired* access token is refused on the user-info endpoint (``GET /athlete``) with
  Strava's error body for a token it no longer knows: 401 ``{"message": "Authorization Error",
  "errors": [{"resource": "Athlete", "field": "access_token", "code": "invalid"}]}``
  (developers.strava.com, "Authentication" and "Errors"). A 401 naming the ``Application`` is a
  wrong client secret (the application's problem); a missing-scope 401 (``AccessToken /
  activity:read_permission / missing``) is a narrower grant; an expired access token is refused
  for being expired. None of them is proof.

:func:`access_answer`, :func:`refresh_answer` and :func:`judge` are the pure decision.
:func:`grant_is_dead` is the refresher's question (its refresh was just refused);
:func:`confirm_revoked` is the webhook consumer's (asks the refresh token first: the token
endpoint does not count against the API's rate limits, so a forged deauthorization of a live
grant costs no API budget). Both callers then erase through
:func:`paceline.erasure.erase_account`.
"""

from __future__ import annotations

import enum
import logging
from typing import TYPE_CHECKING, Any

from paceline.credential import Credential, CredentialState
from paceline.governor import Priority
from paceline.upstream import TransientError, UpstreamError, error_entries

if TYPE_CHECKING:
    from paceline.refresh import RefreshResult
    from paceline.runtime import Runtime

log = logging.getLogger(__name__)

# An access token this close to its expiry may be refused for being expired: no proof.
EXPIRY_MARGIN_SECONDS = 120.0


class AccessAnswer(enum.StrEnum):
    """What the provider said to the stored access token."""

    ACCEPTED = "accepted"
    REFUSED = "refused"  # Strava's 401 for an access token it no longer knows
    UNKNOWN = "unknown"  # anything else: 5xx, 429, an Application or missing-scope 401, ...


class RefreshAnswer(enum.StrEnum):
    """What the provider said to the stored refresh token."""

    ACCEPTED = "accepted"
    REFUSED = "refused"
    UNKNOWN = "unknown"


def access_answer(status: int, body: Any) -> AccessAnswer:
    """Classify an answer to ``GET /athlete`` (pure). Only Strava's exact shape for an unknown
    access token counts as a refusal; a proxy's 401 page or any other body does not."""
    if 200 <= status < 300:
        return AccessAnswer.ACCEPTED
    if status != 401:
        return AccessAnswer.UNKNOWN
    entries = error_entries(body)
    if any(e.get("resource") == "Application" for e in entries):
        return AccessAnswer.UNKNOWN  # a wrong client secret: not the athlete's doing
    if any(e.get("field") == "access_token" and e.get("code") == "invalid" for e in entries):
        return AccessAnswer.REFUSED
    return AccessAnswer.UNKNOWN


def refresh_answer(result: RefreshResult, detail: str = "") -> RefreshAnswer:
    """Classify a refresh outcome (pure)."""
    from paceline.refresh import RefreshResult

    if result is RefreshResult.REFRESHED:
        return RefreshAnswer.ACCEPTED
    if result in (RefreshResult.NEEDS_REAUTH, RefreshResult.LOST_CHAIN, RefreshResult.REVOKED):
        if "Application" in detail:  # client credentials refused, not the athlete's grant
            return RefreshAnswer.UNKNOWN
        return RefreshAnswer.REFUSED
    return RefreshAnswer.UNKNOWN


def judge(access: AccessAnswer, refresh: RefreshAnswer) -> bool | None:
    """Dead (True) only when both tokens are refused; alive (False) when either works;
    None when the answers do not decide (ask again later)."""
    if access is AccessAnswer.ACCEPTED or refresh is RefreshAnswer.ACCEPTED:
        return False
    if access is AccessAnswer.REFUSED and refresh is RefreshAnswer.REFUSED:
        return True
    return None


def probe_access(runtime: Runtime, credential: Credential) -> AccessAnswer:
    """Ask the provider's user-info endpoint with the stored access token, as it is (no refresh,
    no retry; one API call at background priority, governed). An access token about to expire,
    or a provider without a user-info endpoint, answers UNKNOWN without a call. Raises
    :class:`TransientError` when the provider cannot be asked now (budget spent, network, 5xx)."""
    provider = runtime.providers.get(credential.provider)
    if not provider.userinfo_url:
        return AccessAnswer.UNKNOWN
    if credential.expires_at - runtime.clock.now() <= EXPIRY_MARGIN_SECONDS:
        return AccessAnswer.UNKNOWN
    decision = runtime.governor(credential.provider).acquire(Priority.BACKGROUND)
    if not decision.allowed:
        raise TransientError("rate budget spent", retry_after=decision.retry_after)
    try:
        response = runtime.upstream(credential.provider).request(
            "GET",
            provider.userinfo_url,
            endpoint="GET /athlete",
            bearer=credential.access_token,
        )
    except TransientError:
        raise
    except UpstreamError as error:
        raise TransientError(str(error)) from None
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientError(f"HTTP {response.status_code}", status=response.status_code)
    try:
        body = response.json()
    except ValueError:
        body = None
    return access_answer(response.status_code, body)


def grant_is_dead(runtime: Runtime, credential: Credential) -> bool:
    """The refresher's question, asked right after the provider refused ``credential``'s
    refresh token: is its access token refused too? Any doubt answers False (the account is
    kept as ``needs_reauth``; the retention limit bounds how long it is served)."""
    try:
        access = probe_access(runtime, credential)
    except TransientError:
        access = AccessAnswer.UNKNOWN
    dead = judge(access, RefreshAnswer.REFUSED) is True
    _log(credential.provider, credential.account_id, access, RefreshAnswer.REFUSED, dead)
    return dead


def confirm_revoked(runtime: Runtime, provider: str, account_id: str) -> bool:
    """The webhook consumer's question: True when the provider confirms the account's grant is
    dead (or no credential is left to erase); False while it is alive or when the provider's
    answers can never prove it (an expired access token). Raises :class:`TransientError` when
    the provider cannot be asked now: the caller tries again later and erases nothing.

    The refresh token is asked first (no API budget). A refusal there goes through the refresh
    path, which itself asks :func:`grant_is_dead` and erases a dead grant (result ``revoked``).
    """
    from paceline.refresh import refresh_credential

    credential = runtime.store.get(provider, account_id)
    if credential is None:
        return True
    if credential.state is not CredentialState.ACTIVE:
        # Already refused at an earlier refresh (needs re-authorization): no new post.
        refresh = RefreshAnswer.REFUSED
    else:
        outcome = refresh_credential(runtime, provider, account_id, force=True, lock_wait_seconds=5)
        refresh = refresh_answer(outcome.result, outcome.detail)
        if refresh is RefreshAnswer.ACCEPTED:
            _log(provider, account_id, None, refresh, False)
            return False
    current = runtime.store.get(provider, account_id)
    if current is None:
        return True  # erased meanwhile (the refresh path found the grant dead, or a disconnect)
    if current.access_token != credential.access_token and current.state is CredentialState.ACTIVE:
        _log(provider, account_id, None, RefreshAnswer.ACCEPTED, False)
        return False  # someone else refreshed it meanwhile: alive
    if current.expires_at - runtime.clock.now() <= EXPIRY_MARGIN_SECONDS:
        _log(provider, account_id, AccessAnswer.UNKNOWN, refresh, False)
        return False  # an expired token's refusal proves nothing, now or later
    access = probe_access(runtime, current)
    verdict = judge(access, refresh)
    _log(provider, account_id, access, refresh, verdict)
    if verdict is None:
        raise TransientError(f"grant state undecided (access {access}, refresh {refresh})")
    return verdict


def _log(
    provider: str,
    account_id: str,
    access: AccessAnswer | None,
    refresh: RefreshAnswer | None,
    verdict: bool | None,
) -> None:
    log.info(
        "grant checked",
        extra={
            "provider": provider,
            "account": account_id,
            "access": access.value if access else None,
            "refresh": refresh.value if refresh else None,
            "revoked": verdict,
        },
    )
