"""Strava's read API and push-subscription endpoints, as paceline calls them.

Every call goes through the rate governor first (an immediate allow or deny, never a wait) and
through the shared :class:`~paceline.upstream.UpstreamClient`, whose listener feeds the
provider's usage headers back to the governor. A 401 means the access token is no longer
good: the credential is refreshed through the same locked path as the token-refresher
(:func:`paceline.refresh.refresh_credential`) and the call is retried once; a 401 that names a
missing scope is not cured by a refresh, so the credential is marked ``needs_reauth``
(``scope_missing``) instead and nothing is retried.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from paceline.credential import Credential, CredentialState
from paceline.governor import Priority, counts_as_read
from paceline.log import register_secret
from paceline.oauth import oauth_error_reason
from paceline.refresh import RefreshResult, mark_scope_missing, refresh_credential
from paceline.runtime import Runtime
from paceline.upstream import (
    PermanentError,
    RateLimitReport,
    ScopeMissing,
    TransientError,
    Unauthorized,
    decode_api_response,
    parse_ratelimit_headers,
)

log = logging.getLogger(__name__)

PROVIDER = "strava"
# Refresh ahead of a call when the token has less than this left: a call with an expiring token
# would cost budget only to come back 401.
EXPIRY_MARGIN_SECONDS = 60.0
REFRESH_LOCK_WAIT_SECONDS = 5.0
REFRESH_RETRY_SECONDS = 2.0


class BudgetExhausted(TransientError):
    """The rate governor said no; ``retry_after`` is when the window reopens."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, status=None, retry_after=retry_after)


class RefreshInProgress(TransientError):
    """Another process holds the credential's refresh lock; its result is moments away."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, status=None, retry_after=retry_after)


class AccountUnavailable(PermanentError):
    """No usable credential: never connected, deauthorized, or waiting for re-authorization."""


@dataclass
class Deadline:
    """A time budget shared by the calls of one build (a visitor is waiting)."""

    seconds: float | None

    def __post_init__(self) -> None:
        self._until = None if self.seconds is None else time.monotonic() + self.seconds

    def timeout(self, default: float) -> float:
        """``default`` capped by what is left; raise when nothing is."""
        if self._until is None:
            return default
        left = self._until - time.monotonic()
        if left <= 0.05:
            raise TransientError("build deadline reached")
        return min(default, left)


class StravaAPI:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.provider = runtime.providers.get(PROVIDER)
        self.base = (self.provider.api_base_url or "").rstrip("/")
        self.upstream = runtime.upstream(PROVIDER)
        self.governor = runtime.governor(PROVIDER)

    # --- athlete data (Bearer) -----------------------------------------------------------------
    def athlete(self, account_id: str, priority: Priority, deadline: Deadline | None = None) -> Any:
        return self._get(account_id, "/athlete", "GET /athlete", None, priority, deadline)

    def activities(
        self,
        account_id: str,
        priority: Priority,
        *,
        per_page: int = 30,
        page: int = 1,
        after: int | None = None,
        deadline: Deadline | None = None,
    ) -> Any:
        """One page of the athlete's activity list (newest first; ``after``: epoch seconds)."""
        params: dict[str, int] = {"page": page, "per_page": per_page}
        if after is not None:
            params["after"] = after
        return self._get(
            account_id, "/athlete/activities", "GET /athlete/activities", params, priority, deadline
        )

    def stats(self, account_id: str, priority: Priority, deadline: Deadline | None = None) -> Any:
        return self._get(
            account_id,
            f"/athletes/{int(account_id)}/stats",
            "GET /athletes/{id}/stats",
            None,
            priority,
            deadline,
        )

    def activity(
        self,
        account_id: str,
        activity_id: int,
        priority: Priority,
        deadline: Deadline | None = None,
    ) -> Any:
        return self._get(
            account_id,
            f"/activities/{int(activity_id)}",
            "GET /activities/{id}",
            None,
            priority,
            deadline,
        )

    def _credential(self, account_id: str, deadline: Deadline | None) -> Credential:
        credential = self.runtime.store.get(PROVIDER, account_id)
        if credential is None:
            raise AccountUnavailable("account not connected", reason="not_connected")
        if credential.state is not CredentialState.ACTIVE:
            raise AccountUnavailable(
                f"account is {credential.state.value}", reason=credential.state.value
            )
        if credential.expires_at - EXPIRY_MARGIN_SECONDS <= self.runtime.clock.now():
            credential = self._refresh(credential, force=False, deadline=deadline)
        return credential

    def _refresh(
        self, credential: Credential, *, force: bool, deadline: Deadline | None
    ) -> Credential:
        """Refresh through the shared locked path; return the credential to use now.

        Background work waits a little for the lock when another process is refreshing this
        credential; a request never does (``deadline`` set): it gets :class:`RefreshInProgress`
        and the caller answers from the cache or asks the visitor to come back in a moment.
        """
        wait = 0.0 if deadline is not None else REFRESH_LOCK_WAIT_SECONDS
        outcome = refresh_credential(
            self.runtime, PROVIDER, credential.account_id, force=force, lock_wait_seconds=wait
        )
        current = self.runtime.store.get(PROVIDER, credential.account_id)
        if current is None:
            raise AccountUnavailable("account not connected", reason="not_connected")
        if current.state is not CredentialState.ACTIVE:
            raise AccountUnavailable(
                f"account is {current.state.value}", reason=current.state.value
            )
        if outcome.result in (RefreshResult.TRANSIENT_ERROR, RefreshResult.APPLICATION_ERROR):
            # An application error (wrong client secret) is the operator's to fix: serve what is
            # cached meanwhile, and blame no account.
            raise TransientError(f"token refresh failed: {outcome.detail}")
        if outcome.result is RefreshResult.BUSY and current.access_token == credential.access_token:
            raise RefreshInProgress(
                "token refresh in progress elsewhere", retry_after=REFRESH_RETRY_SECONDS
            )
        return current

    def _get(
        self,
        account_id: str,
        path: str,
        endpoint: str,
        params: Mapping[str, Any] | None,
        priority: Priority,
        deadline: Deadline | None,
    ) -> Any:
        credential = self._credential(account_id, deadline)
        try:
            return self._get_json(
                path, endpoint, priority, deadline, credential.access_token, params
            )
        except ScopeMissing as error:
            mark_scope_missing(self.runtime, credential, error.scope)
            raise AccountUnavailable(
                f"account lacks the {error.scope} scope", reason="scope_missing"
            ) from None
        except Unauthorized:
            log.info(
                "access token refused; refreshing and retrying once",
                extra={"provider": PROVIDER, "account": account_id, "endpoint": endpoint},
            )
        stored = self.runtime.store.get(PROVIDER, account_id)
        if stored is not None and stored.access_token != credential.access_token:
            retry_with = stored  # someone refreshed meanwhile: use theirs
            if retry_with.state is not CredentialState.ACTIVE:
                raise AccountUnavailable(
                    f"account is {retry_with.state.value}", reason=retry_with.state.value
                )
        else:
            retry_with = self._refresh(credential, force=True, deadline=deadline)
        return self._get_json(path, endpoint, priority, deadline, retry_with.access_token, params)

    def _get_json(
        self,
        path: str,
        endpoint: str,
        priority: Priority,
        deadline: Deadline | None,
        bearer: str,
        params: Mapping[str, Any] | None,
    ) -> Any:
        """One governed GET as the athlete, its JSON decoded (failures mapped to errors)."""
        response = self._send(
            "GET", path, endpoint, priority, deadline, bearer=bearer, params=params
        )
        return decode_api_response(response, endpoint)

    def _send(
        self,
        method: str,
        path: str,
        endpoint: str,
        priority: Priority,
        deadline: Deadline | None,
        *,
        bearer: str | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Ask the governor, then send; the response's headers feed the governor back."""
        permit = self.governor.acquire(priority, read=counts_as_read(method, path))
        if not permit.allowed:
            raise BudgetExhausted(
                f"{endpoint}: rate budget spent ({permit.bucket} {permit.window})",
                retry_after=permit.retry_after,
            )
        timeout = (deadline or Deadline(None)).timeout(self.runtime.settings.http_timeout_seconds)
        response = self.upstream.request(
            method,
            f"{self.base}{path}",
            endpoint=endpoint,
            bearer=bearer,
            timeout=timeout,
            **kwargs,
        )
        if response.status_code == 429 and not parse_ratelimit_headers(response.headers)[0]:
            # A 429 without rate headers never reached the governor's listener: close anyway.
            self.governor.observe(RateLimitReport(PROVIDER, {}, {}, 429, time.time()))
        return response

    # --- push subscriptions (client credentials) -----------------------------------------------
    def _client_params(self) -> dict[str, str]:
        secret = self.provider.client_secret.get_secret_value()
        register_secret(secret)
        return {"client_id": self.provider.client_id, "client_secret": secret}

    def _subscription_call(self, method: str, path: str, endpoint: str, **kwargs: Any) -> Any:
        response = self._send(method, path, endpoint, Priority.INTERACTIVE, None, **kwargs)
        if response.status_code in (400, 401, 403, 404):
            try:
                reason = oauth_error_reason(response.json())
            except ValueError:
                reason = f"http_{response.status_code}"
            raise PermanentError(
                f"{endpoint}: refused ({reason})", status=response.status_code, reason=reason
            )
        if response.status_code == 204:
            return None
        return decode_api_response(response, endpoint)

    def list_subscriptions(self) -> list[dict[str, Any]]:
        body = self._subscription_call(
            "GET", "/push_subscriptions", "GET /push_subscriptions", params=self._client_params()
        )
        return (
            [dict(item) for item in body if isinstance(item, Mapping)]
            if isinstance(body, list)
            else []
        )

    def create_subscription(self, callback_url: str, verify_token: str) -> int:
        """Strava calls ``callback_url`` (GET, hub.challenge) before it answers this."""
        register_secret(verify_token)
        form = {**self._client_params(), "callback_url": callback_url, "verify_token": verify_token}
        body = self._subscription_call(
            "POST", "/push_subscriptions", "POST /push_subscriptions", data=form
        )
        if not isinstance(body, Mapping) or not isinstance(body.get("id"), int):
            raise TransientError("push subscription: unexpected answer")
        return int(body["id"])

    def delete_subscription(self, subscription_id: int) -> None:
        self._subscription_call(
            "DELETE",
            f"/push_subscriptions/{int(subscription_id)}",
            "DELETE /push_subscriptions/{id}",
            params=self._client_params(),
        )
