"""``POST /disconnect/<provider>/<account>``: revoke, then forget the account.

CSRF-protected (form token + SameSite=Strict cookie + same-origin check). In order: revoke the
grant at the provider (refreshing first if the access token has expired, since the provider only
accepts a live one); delete the credential from the mirror and Redis; delete the account's
cached data (Strava's API agreement asks for deletion on revoke). If the provider cannot be
reached nothing is deleted, and the page offers to disconnect anyway (with a pointer to revoke
by hand), so a transient outage never silently leaves a grant alive.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, render_template, request
from paceline import keys
from paceline.credential import Credential, CredentialState
from paceline.erasure import erase_account
from paceline.mirror import MirrorError
from paceline.refresh import RefreshResult, refresh_credential
from paceline.runtime import Runtime
from paceline.upstream import UpstreamError
from paceline.web.app import runtime_of

from auth_gateway.csrf import csrf_of
from auth_gateway.errors import error_response

log = logging.getLogger(__name__)

bp = Blueprint("disconnect", __name__)

# Outcomes of revoking at the provider.
REVOKED = "revoked"
ALREADY_INVALID = "already_invalid"
NOT_SUPPORTED = "not_supported"
FAILED = "failed"
LIVE_TOKEN_MARGIN_SECONDS = 60


def revoke_at_provider(runtime: Runtime, credential: Credential) -> str:
    provider, account = credential.provider, credential.account_id
    if provider not in runtime.providers:
        return NOT_SUPPORTED
    oauth = runtime.oauth(provider)
    if not oauth.provider.deauthorize_url:
        return NOT_SUPPORTED
    access = credential.access_token
    now = runtime.clock.now()
    if (
        credential.state is CredentialState.ACTIVE
        and credential.expires_at - now < LIVE_TOKEN_MARGIN_SECONDS
    ):
        outcome = refresh_credential(runtime, provider, account, force=True, lock_wait_seconds=10)
        if outcome.result is RefreshResult.REFRESHED and outcome.credential is not None:
            access = outcome.credential.access_token
        elif outcome.result in (RefreshResult.NEEDS_REAUTH, RefreshResult.LOST_CHAIN):
            return ALREADY_INVALID
        else:
            return FAILED
    try:
        oauth.deauthorize(access)
    except UpstreamError as error:
        log.warning(
            "deauthorize failed",
            extra={"provider": provider, "account": account, "error": str(error)},
        )
        return FAILED
    return REVOKED


@bp.post("/disconnect/<provider>/<account>")
def disconnect(provider: str, account: str) -> Any:
    csrf_of().verify()
    runtime = runtime_of()
    try:
        keys.check_ident(provider, "provider")
        keys.check_ident(account, "account id")
    except keys.InvalidIdentifier:
        return error_response(404, "not_connected", "No such account is connected.")
    credential = runtime.store.get(provider, account)
    if credential is None:
        return error_response(404, "not_connected", "No such account is connected.")
    force = request.form.get("force") == "1"
    revoked = revoke_at_provider(runtime, credential)
    if revoked == FAILED and not force:
        return error_response(
            502,
            "provider_unavailable",
            f"{provider} could not be reached to revoke access, so nothing was deleted. Try "
            "again in a minute, or disconnect anyway and revoke access by hand in your "
            f"{provider} settings.",
            html_template="disconnect_failed.html",
            provider=provider,
            account=account,
        )
    try:
        erased = erase_account(runtime.store, provider, account)
    except MirrorError:
        log.exception("disconnect: mirror delete failed")
        return error_response(
            503,
            "mirror_unavailable",
            "The durable copy of the credential could not be deleted, so nothing was deleted "
            "(a later restore would bring the account back). Try again in a minute.",
        )
    log.info(
        "account disconnected",
        extra={
            "provider": provider,
            "account": account,
            "revoked": revoked,
            "erased_keys": erased,
        },
    )
    return render_template(
        "disconnected.html",
        provider=provider,
        account=account,
        display_name=credential.display_name,
        revoked=revoked,
        erased=erased,
    )
