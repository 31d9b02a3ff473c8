"""OAuth2 against a provider: authorize URL, code exchange, refresh, deauthorize.

Token responses are validated *before* anything is stored (token type, non-empty tokens, a sane
expiry), and failures are classified: transport trouble, 5xx, 429 and garbage are transient;
an OAuth error in a 400/401 (``invalid_grant``, Strava's ``RefreshToken invalid``) is permanent,
and one about the ``Application`` (a wrong client id or secret) is the configuration's fault,
never an account's (:class:`paceline.upstream.ApplicationRejected`).
Nothing here retries a token post: with single-use refresh tokens a blind retry can burn the
only valid token.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests

from paceline.clock import Clock, SystemClock
from paceline.log import register_secret
from paceline.providers import Provider
from paceline.upstream import (
    ApplicationRejected,
    PermanentError,
    TransientError,
    UpstreamClient,
    decode_api_response,
    error_entries,
    retry_after_seconds,
)

MAX_TOKEN_LIFETIME = 366 * 24 * 3600
MIN_TOKEN_LIFETIME = 60


@dataclass(frozen=True)
class TokenResponse:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: float
    scopes: tuple[str, ...] | None
    account_id: str | None
    display_name: str | None
    rotated: bool


def pkce_pair() -> tuple[str, str]:
    """A PKCE (RFC 7636) verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(64)[:96]
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def oauth_error_reason(body: Any) -> str:
    """A short, secret-free reason from an OAuth or Strava error body ("unknown" if none)."""
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, str):
            return error[:64]
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
            first = errors[0]
            parts = [str(first.get(k, "")) for k in ("resource", "field", "code")]
            return ":".join(parts)[:64]
        message = body.get("message")
        if isinstance(message, str):
            return message[:64]
    return "unknown"


def application_error_field(body: Any) -> str | None:
    """The ``field`` of an error about the application itself (resource ``Application``), or
    None when the error is about something else (a token, a code, an athlete)."""
    for error in error_entries(body):
        if error.get("resource") == "Application":
            return str(error.get("field") or "")
    return None


def credential_setting(provider: str, field_name: str) -> str:
    """The setting that holds a provider's client id or secret, as an operator types it."""
    which = "client_id" if field_name == "client_id" else "client_secret"
    if provider == "strava":
        return f"PACELINE_STRAVA_{which.upper()}"
    return f"PACELINE_PROVIDERS ({provider}.{which})"


class OAuthClient:
    def __init__(
        self,
        provider: Provider,
        upstream: UpstreamClient | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.provider = provider
        self.upstream = upstream or UpstreamClient(provider.name)
        self.clock = clock or SystemClock()
        register_secret(provider.client_secret.get_secret_value())

    # --- the browser leg -----------------------------------------------------------------------
    def authorize_url(
        self,
        *,
        redirect_uri: str,
        state: str,
        code_challenge: str | None = None,
        scopes: tuple[str, ...] | None = None,
    ) -> str:
        params: dict[str, str] = {
            "client_id": self.provider.client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": self.provider.join_scopes(scopes),
            "state": state,
            **self.provider.extra_authorize_params,
        }
        if code_challenge and self.provider.pkce:
            params["code_challenge"] = code_challenge
            params["code_challenge_method"] = "S256"
        return f"{self.provider.authorize_url}?{urlencode(params)}"

    # --- token endpoint ------------------------------------------------------------------------
    def exchange_code(
        self, code: str, *, redirect_uri: str, code_verifier: str | None = None
    ) -> TokenResponse:
        register_secret(code, code_verifier)
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if code_verifier:
            form["code_verifier"] = code_verifier
        body = self._token_post(form, endpoint="POST /oauth/token (code)")
        return self._validated(body, presented_refresh=None)

    def refresh(self, refresh_token: str) -> TokenResponse:
        register_secret(refresh_token)
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        body = self._token_post(form, endpoint="POST /oauth/token (refresh)")
        return self._validated(body, presented_refresh=refresh_token)

    def _token_post(self, form: dict[str, str], *, endpoint: str) -> Any:
        headers = {"Accept": "application/json"}
        secret = self.provider.client_secret.get_secret_value()
        if self.provider.client_auth == "client_secret_basic":
            pair = f"{self.provider.client_id}:{secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        else:
            form = {**form, "client_id": self.provider.client_id, "client_secret": secret}
        response = self.upstream.request(
            "POST", self.provider.token_url, endpoint=endpoint, data=form, headers=headers
        )
        return self._decode_token_response(response, endpoint)

    def _decode_token_response(self, response: requests.Response, endpoint: str) -> Any:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        if status == 429:
            raise TransientError(
                f"{endpoint}: rate limited",
                status=status,
                retry_after=retry_after_seconds(response),
            )
        if status >= 500:
            raise TransientError(f"{endpoint}: provider error {status}", status=status)
        if status in (400, 401, 403):
            field_name = application_error_field(body)
            if field_name is not None:
                setting = credential_setting(self.provider.name, field_name)
                raise ApplicationRejected(
                    f"{endpoint}: the provider refused the application's credentials "
                    f"(HTTP {status}): check {setting}",
                    status=status,
                    reason=oauth_error_reason(body),
                    setting=setting,
                )
            reason = oauth_error_reason(body)
            if reason == "unknown":
                # Not the provider's OAuth answer (a proxy's or CDN's HTML page, say): marking
                # the credential needs_reauth on that would be wrong; try again later.
                raise TransientError(
                    f"{endpoint}: HTTP {status} without an OAuth error body", status=status
                )
            raise PermanentError(f"{endpoint}: refused ({reason})", status=status, reason=reason)
        if status != 200:
            raise TransientError(f"{endpoint}: unexpected HTTP {status}", status=status)
        if not isinstance(body, Mapping):
            raise TransientError(f"{endpoint}: malformed token response", status=status)
        return body

    def _validated(self, body: Mapping[str, Any], presented_refresh: str | None) -> TokenResponse:
        """Check a 200 token response thoroughly; anything odd is transient, nothing stored."""
        token_type = body.get("token_type", "Bearer")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise TransientError("token response: unexpected token_type")
        access = body.get("access_token")
        if not isinstance(access, str) or not access.strip():
            raise TransientError("token response: missing access_token")
        refresh = body.get("refresh_token")
        if refresh is None and presented_refresh is not None:
            if self.provider.rotation == "always-single-use":
                raise TransientError("token response: single-use provider sent no refresh_token")
            refresh = presented_refresh  # RFC 6749 6: the old refresh token stays valid
        if not isinstance(refresh, str) or not refresh.strip():
            raise TransientError("token response: missing refresh_token")
        register_secret(access, refresh)
        expires_at = self._expiry(body)
        scope = body.get("scope")
        athlete = body.get("athlete") if isinstance(body.get("athlete"), Mapping) else None
        name = None
        if athlete:
            name = (
                " ".join(str(athlete[k]) for k in ("firstname", "lastname") if athlete.get(k))
                or None
            )
        return TokenResponse(
            access_token=access,
            refresh_token=refresh,
            expires_at=expires_at,
            scopes=self.provider.parse_scopes(scope) if isinstance(scope, str) else None,
            account_id=self.provider.account_id_from(body),
            display_name=name,
            rotated=presented_refresh is not None and refresh != presented_refresh,
        )

    def _expiry(self, body: Mapping[str, Any]) -> float:
        now = self.clock.now()
        expires_at = body.get("expires_at")
        expires_in = body.get("expires_in")
        value: float | None = None
        if isinstance(expires_at, (int, float)) and not isinstance(expires_at, bool):
            value = float(expires_at)
        elif isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool):
            value = now + float(expires_in)
        if value is None:
            raise TransientError("token response: no expiry")
        if not (now + MIN_TOKEN_LIFETIME <= value <= now + MAX_TOKEN_LIFETIME):
            raise TransientError("token response: expiry out of range")
        return value

    # --- the rest ------------------------------------------------------------------------------
    def deauthorize(self, access_token: str) -> None:
        """Revoke at the provider. A token it no longer knows counts as revoked."""
        if not self.provider.deauthorize_url:
            return
        response = self.upstream.request(
            "POST",
            self.provider.deauthorize_url,
            endpoint="POST /oauth/deauthorize",
            bearer=access_token,
        )
        if response.status_code in (200, 204, 401):
            return
        decode_api_response(response, "POST /oauth/deauthorize")

    def fetch_account(self, access_token: str) -> tuple[str, str | None]:
        """The account id (and a display name) from the provider's user-info endpoint."""
        if not self.provider.userinfo_url:
            raise PermanentError("provider has no user-info URL to identify the account")
        body = self.upstream.get_json(
            self.provider.userinfo_url, endpoint="GET /athlete", bearer=access_token
        )
        if not isinstance(body, Mapping) or body.get(self.provider.userinfo_id_field) is None:
            raise TransientError("user-info response has no account id")
        name = " ".join(str(body[k]) for k in ("firstname", "lastname") if body.get(k)) or None
        return str(body[self.provider.userinfo_id_field]), name
