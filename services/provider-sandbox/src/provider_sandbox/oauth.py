"""Strava's OAuth endpoints: authorize (page or auto-approve), token, deauthorize.

Semantics follow developers.strava.com/docs/authentication: the redirect carries ``state``,
``code`` and the *granted* ``scope`` (always including ``read``); codes are single-use and
short-lived; the token endpoint takes client credentials in the body (Strava) or as HTTP
Basic (Fitbit style) and answers the 6-hour token pair, with the athlete on code exchange.
PKCE (S256) is verified when the authorize request carried a challenge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Blueprint, redirect, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from .errors import bad_request, invalid_access_token, wrong_client_secret
from .pipeline import bearer_token, request_values
from .representations import athlete_summary
from .state import Sandbox, get_sandbox
from .tokens import Issued, TokenError, parse_scope

bp = Blueprint("oauth", __name__, url_prefix="/oauth", template_folder="templates")

KNOWN_SCOPES = (
    "read",
    "read_all",
    "profile:read_all",
    "profile:write",
    "activity:read",
    "activity:read_all",
    "activity:write",
)


class _PageError(Exception):
    """The authorize request is unusable; shown as a 400 page (no redirect is safe)."""


@dataclass(frozen=True)
class _AuthorizeRequest:
    client_id: str
    redirect_uri: str
    scopes: list[str]
    state: str
    code_challenge: str | None

    @classmethod
    def parse(cls, values: Mapping[str, str], sandbox: Sandbox) -> _AuthorizeRequest:
        client_id = values.get("client_id", "")
        if client_id not in sandbox.world.apps:
            raise _PageError("Invalid client_id: this application is not registered.")
        redirect_uri = values.get("redirect_uri", "")
        parts = urlsplit(redirect_uri)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise _PageError("Invalid redirect_uri: an absolute http(s) URL is required.")
        if values.get("response_type", "code") != "code":
            raise _PageError("Invalid response_type: only 'code' is supported.")
        scopes = parse_scope(values.get("scope")) or ["read"]
        unknown = [s for s in scopes if s not in KNOWN_SCOPES]
        if unknown:
            raise _PageError(f"Invalid scope: {', '.join(unknown)}")
        challenge = values.get("code_challenge") or None
        if challenge is not None and values.get("code_challenge_method") != "S256":
            raise _PageError("Invalid code_challenge_method: only S256 is supported.")
        return cls(client_id, redirect_uri, scopes, values.get("state", ""), challenge)

    def hidden_fields(self) -> dict[str, str]:
        fields = {
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "response_type": "code",
            "scope": ",".join(self.scopes),
            "state": self.state,
        }
        if self.code_challenge:
            fields["code_challenge"] = self.code_challenge
            fields["code_challenge_method"] = "S256"
        return fields


def _redirect_to(redirect_uri: str, params: dict[str, str]) -> Response:
    parts = urlsplit(redirect_uri)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    target = urlunsplit(parts._replace(query=urlencode(query, safe=",:")))
    return redirect(target, code=302)


def _granted(requested: list[str], chosen: list[str] | None, sandbox: Sandbox) -> list[str]:
    """Strava always grants ``read``; the athlete may untick the rest; tests may narrow it."""
    if sandbox.config.grant_scope is not None:
        return parse_scope(sandbox.config.grant_scope)
    wanted = requested if chosen is None else [s for s in requested if s in chosen]
    return ["read", *[s for s in wanted if s != "read"]]


def _approve(auth: _AuthorizeRequest, athlete_id: int, granted: list[str]) -> Response:
    sandbox = get_sandbox()
    code = sandbox.tokens.create_code(
        auth.client_id,
        athlete_id,
        granted,
        auth.redirect_uri,
        auth.code_challenge,
        sandbox.now(),
        sandbox.config,
    )
    return _redirect_to(
        auth.redirect_uri, {"state": auth.state, "code": code, "scope": ",".join(granted)}
    )


@bp.errorhandler(_PageError)
def _error_page(error: _PageError) -> tuple[str, int]:
    return render_template("error.html", message=str(error)), 400


@bp.get("/authorize")
def authorize() -> ResponseReturnValue:
    """Show the consent page, or approve at once as the default athlete when configured."""
    sandbox = get_sandbox()
    auth = _AuthorizeRequest.parse(request.args, sandbox)
    default_athlete = sandbox.default_athlete_id()
    if sandbox.config.auto_approve:
        if default_athlete is None:
            raise _PageError("No athlete to approve as.")
        return _approve(auth, default_athlete, _granted(auth.scopes, None, sandbox))
    with sandbox.lock:
        athletes = sorted(sandbox.world.athletes.values(), key=lambda a: a.id)
    return render_template(
        "authorize.html",
        app_name=sandbox.world.apps[auth.client_id].name,
        athletes=athletes,
        default_athlete_id=default_athlete,
        scopes=auth.scopes,
        hidden=auth.hidden_fields(),
    )


@bp.post("/authorize")
def decide() -> ResponseReturnValue:
    """The consent form's answer: Authorize redirects with a code, Cancel with access_denied."""
    sandbox = get_sandbox()
    auth = _AuthorizeRequest.parse(request.form, sandbox)
    if request.form.get("action") == "cancel":
        return _redirect_to(auth.redirect_uri, {"state": auth.state, "error": "access_denied"})
    raw_athlete = request.form.get("athlete_id") or str(sandbox.default_athlete_id() or "")
    athlete_id = int(raw_athlete) if raw_athlete.isdigit() else -1
    if athlete_id not in sandbox.world.athletes:
        raise _PageError("Unknown athlete.")
    chosen = request.form.getlist("scope_item") if request.form.get("scope_choice") else None
    return _approve(auth, athlete_id, _granted(auth.scopes, chosen, sandbox))


def _client_credentials(values: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``client_secret_basic`` when an HTTP Basic header is sent, else ``client_secret_post``."""
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        return auth.username, auth.password
    client_id = values.get("client_id")
    secret = values.get("client_secret")
    return (None if client_id is None else str(client_id)), (
        None if secret is None else str(secret)
    )


def _token_body(issued: Issued, now: float, with_athlete: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "expires_at": issued.expires_at,
        "expires_in": max(0, int(issued.expires_at - now)),
        "refresh_token": issued.refresh_token,
        "access_token": issued.access_token,
    }
    if with_athlete:
        sandbox = get_sandbox()
        body["athlete"] = athlete_summary(sandbox.world.athlete(issued.athlete_id))
    return body


@bp.post("/token")
def token() -> dict[str, Any]:
    """Exchange a code or a refresh token for a token pair."""
    sandbox = get_sandbox()
    values = request_values()
    grant_type = values.get("grant_type")
    if not grant_type:
        raise bad_request("Token", "grant_type", "missing")
    client_id, client_secret = _client_credentials(values)
    if not client_id:
        raise bad_request("Application", "client_id", "missing")
    if client_id not in sandbox.world.apps:
        raise bad_request("Application", "client_id", "invalid")
    if not client_secret:
        raise bad_request("Application", "client_secret", "missing")
    if sandbox.authenticate_client(client_id, client_secret) is None:
        raise wrong_client_secret()
    now = sandbox.now()
    if grant_type == "authorization_code":
        code = values.get("code")
        if not code:
            raise bad_request("AuthorizationCode", "code", "missing")
        verifier = values.get("code_verifier")
        try:
            issued = sandbox.tokens.redeem_code(
                str(code),
                client_id,
                None if verifier is None else str(verifier),
                now,
                sandbox.config,
            )
        except TokenError as exc:
            raise bad_request("AuthorizationCode", exc.field, "invalid") from None
        return _token_body(issued, now, with_athlete=True)
    if grant_type == "refresh_token":
        refresh_token = values.get("refresh_token")
        if not refresh_token:
            raise bad_request("RefreshToken", "refresh_token", "missing")
        try:
            issued = sandbox.tokens.refresh_grant(
                str(refresh_token), client_id, now, sandbox.config
            )
        except TokenError:
            raise bad_request("RefreshToken", "refresh_token", "invalid") from None
        return _token_body(issued, now, with_athlete=False)
    raise bad_request("Token", "grant_type", "invalid")


@bp.post("/deauthorize")
def deauthorize() -> dict[str, Any]:
    """Revoke every token of the athlete for the token's app and tell its webhook."""
    sandbox = get_sandbox()
    access_token = bearer_token()
    record = sandbox.tokens.valid_access(access_token, sandbox.now()) if access_token else None
    if record is None:
        raise invalid_access_token()
    sandbox.tokens.revoke_grant(record.athlete_id, record.client_id)
    subscription = sandbox.world.subscription_of(record.client_id)
    if subscription is not None:
        sandbox.emit_in_background(
            "athlete",
            "update",
            record.athlete_id,
            record.athlete_id,
            {"authorized": "false"},
            subscriptions=[subscription],
        )
    return {"access_token": access_token}
