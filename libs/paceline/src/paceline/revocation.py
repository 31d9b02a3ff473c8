"""Is an account's grant really dead? The check that comes before any erasure it would cause.

A deauthorization webhook event is unsigned and anyone can post one; a refused refresh token
can also be a passing fault (or a rotation race). So an account is erased for a revoked grant
only when the provider itself confirms it on *both* tokens:

* the refresh token is refused (``invalid_grant``-like: the refresh ends ``needs_reauth`` or
  ``lost_chain``), through the one locked refresh path, so a live grant is simply refreshed
  and found alive;
* and the access token is refused: ``GET /athlete`` with it answers 401 in Strava's error shape
  naming the athlete's token (``{"message": "Authorization Error", "errors": [{"resource":
  "Athlete", "field": "access_token", "code": "invalid"}]}``, developers.strava.com,
  "Authentication" and "Errors"). A 401 naming the ``Application`` is a wrong client secret:
  the application's problem, never a sign that an athlete left.

:func:`judge` is the pure decision; :func:`confirm_revoked` asks the provider (one token post,
and one API call governed at background priority only when that post is refused). The webhook
consumer and the token-refresher's revocation path call it before
:func:`paceline.erasure.erase_account`.
When the provider cannot be asked now (budget spent, network, 5xx) it raises
:class:`~paceline.upstream.TransientError`: the caller tries again later and erases nothing.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from typing import Any

from paceline.credential import CredentialState
from paceline.governor import Priority
from paceline.refresh import RefreshResult, refresh_credential
from paceline.runtime import Runtime
from paceline.upstream import TransientError

log = logging.getLogger(__name__)


class AccessAnswer(enum.StrEnum):
    """What the provider said to the stored access token."""

    ACCEPTED = "accepted"
    REFUSED = "refused"  # 401 naming the athlete's access token
    UNKNOWN = "unknown"  # anything else: 5xx, 429, an Application 401, a strange body


class RefreshAnswer(enum.StrEnum):
    """What the provider said to the stored refresh token."""

    ACCEPTED = "accepted"
    REFUSED = "refused"
    UNKNOWN = "unknown"


def access_answer(status: int, body: Any) -> AccessAnswer:
    """Classify an answer to ``GET /athlete`` (pure)."""
    if 200 <= status < 300:
        return AccessAnswer.ACCEPTED
    if status != 401 or not isinstance(body, Mapping):
        return AccessAnswer.UNKNOWN
    errors = body.get("errors")
    if not isinstance(errors, list) or not errors:
        return AccessAnswer.UNKNOWN
    resources = {e.get("resource") for e in errors if isinstance(e, Mapping)}
    if "Application" in resources:  # a wrong client secret: not the athlete's doing
        return AccessAnswer.UNKNOWN
    if resources & {"Athlete", "AccessToken"}:
        return AccessAnswer.REFUSED
    return AccessAnswer.UNKNOWN


def refresh_answer(result: RefreshResult, detail: str = "") -> RefreshAnswer:
    """Classify a refresh outcome (pure)."""
    if result is RefreshResult.REFRESHED:
        return RefreshAnswer.ACCEPTED
    if result in (RefreshResult.NEEDS_REAUTH, RefreshResult.LOST_CHAIN):
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


def confirm_revoked(runtime: Runtime, provider: str, account_id: str) -> bool:
    """True when the provider confirms the account's grant is dead (or no credential is left
    to erase); False while it is alive. Raises :class:`TransientError` when undecided.

    The refresh token is asked first: the token endpoint does not count against the API's
    rate limits (developers.strava.com, "Rate Limits"), so a forged deauthorization of a live
    grant costs no API budget at all. Only a refused refresh is followed by the one governed
    ``GET /athlete`` with the access token.
    """
    from paceline.strava_api import StravaAPI  # the probe is Strava's endpoint

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
        return True  # erased meanwhile (a disconnect)
    if current.access_token != credential.access_token and current.state is CredentialState.ACTIVE:
        _log(provider, account_id, None, RefreshAnswer.ACCEPTED, False)
        return False  # someone else refreshed it meanwhile: alive
    access = AccessAnswer.REFUSED  # an expired access token is refused by definition
    if current.expires_at > runtime.clock.now():
        response = StravaAPI(runtime).probe_access(current.access_token, Priority.BACKGROUND)
        try:
            body = response.json()
        except ValueError:
            body = None
        access = access_answer(response.status_code, body)
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
