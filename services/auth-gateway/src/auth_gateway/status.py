"""``GET /``: the status page, and ``GET /accounts``: the same facts as JSON.

Server-rendered (autoescaped Jinja, no JavaScript): connected accounts with their state,
granted scopes, expiry, next and last refresh, the refresher's last run, and buttons to
reconnect or disconnect. No token is ever shown.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template
from paceline.credential import Credential
from paceline.privacy import privacy_text
from paceline.refresh import SCOPE_MISSING
from paceline.runstatus import read_run_status
from paceline.runtime import Runtime
from paceline.web.app import runtime_of

from auth_gateway.formatting import scope_label
from auth_gateway.oauth_flow import allowed_accounts
from auth_gateway.public_urls import redirect_uri

bp = Blueprint("status", __name__)


def next_refresh_at(runtime: Runtime, credential: Credential) -> float | None:
    if credential.state.value != "active" or credential.provider not in runtime.providers:
        return None
    lead = runtime.providers.get(credential.provider).refresh_lead_seconds
    return credential.expires_at - lead


def reconnect_hint(credential: Credential) -> str | None:
    """What to do when a call was refused for a missing scope (refresh.mark_scope_missing)."""
    error = credential.last_error or ""
    prefix = f"{SCOPE_MISSING}: reconnect and grant "
    if credential.state.value != "needs_reauth" or not error.startswith(prefix):
        return None
    scope = error[len(prefix) :]
    return f"Reconnect and grant: {scope_label(credential.provider, scope)}"


def account_view(runtime: Runtime, credential: Credential) -> dict[str, Any]:
    """What the page and the JSON say about one credential (no tokens)."""
    return {
        "provider": credential.provider,
        "account_id": credential.account_id,
        "display_name": credential.display_name,
        "state": credential.state.value,
        "scopes": list(credential.scopes),
        "privacy": privacy_text(
            credential.provider,
            credential.scopes,
            runtime.settings.summary_privacy_fresh_seconds,
        ),
        "expires_at": credential.expires_at,
        "next_refresh_at": next_refresh_at(runtime, credential),
        "last_refresh_at": credential.last_refresh_at,
        "last_error": credential.last_error,
        "reconnect_hint": reconnect_hint(credential),
        "connected_at": credential.created_at,
    }


def signup_mode(runtime: Runtime, provider: str) -> str:
    if runtime.settings.open_signup:
        return "open signup: any account may connect"
    allowed = sorted(allowed_accounts(runtime, provider))
    if allowed:
        return "allow-list: " + ", ".join(allowed)
    return "only the first account (and reconnecting it)"


@bp.get("/")
def page() -> Any:
    runtime = runtime_of()
    runtime.store.ensure_restored()
    accounts = [account_view(runtime, c) for c in runtime.store.list()]
    providers = [
        {
            "name": name,
            "redirect_uri": redirect_uri(runtime.settings, name),
            "signup": signup_mode(runtime, name),
        }
        for name in runtime.providers.names()
    ]
    return render_template(
        "status.html",
        accounts=accounts,
        providers=providers,
        refresher=read_run_status(runtime.redis),
    )


@bp.get("/accounts")
def accounts() -> Any:
    runtime = runtime_of()
    runtime.store.ensure_restored()
    run = read_run_status(runtime.redis)
    return jsonify(
        accounts=[account_view(runtime, c) for c in runtime.store.list()],
        refresher=None
        if run is None
        else {
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "last_success_at": run.last_success_at,
            "ok": run.ok,
            "counts": run.counts,
            "application_errors": run.application_errors,
        },
    )
