"""Starting and finishing an OAuth authorization: the one place the bootstrap's checks live.

Both the web gateway (``/connect`` and ``/callback``) and ``paceline connect`` (a loopback
listener) use :class:`AuthorizationFlow`, so they make exactly the same checks:

* ``begin`` creates a random, one-time ``state`` and keeps it server-side in Redis for ten
  minutes, together with the redirect URI, the PKCE verifier (S256, when the provider supports
  it) and a hash of a *binding* nonce. The web gateway hands the nonce to the admin's browser in
  a signed, HttpOnly, SameSite cookie (:class:`BrowserBinding`); ``paceline connect`` keeps it
  in its own memory. A callback is accepted only from whoever holds the nonce.
* ``complete`` checks the binding and *consumes* the state (GETDEL: a second use finds nothing)
  before anything else happens, then handles the provider's ``error``, checks the granted scope
  (from the callback when the provider reports it there, so a narrow grant costs no token post),
  exchanges the code, checks the account against the allow-list and stores the credential
  through the core (Redis and the Secret mirror). Every rejection stores nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import tenacity
from itsdangerous import BadSignature, SignatureExpired
from paceline import keys
from paceline.credential_intake import store_tokens
from paceline.oauth import TokenResponse, pkce_pair
from paceline.privacy import PRIVACY_SCOPE, privacy_text
from paceline.providers import Provider
from paceline.runtime import Runtime
from paceline.upstream import PermanentError, TransientError, UpstreamError

from auth_gateway.signing import SessionKey

log = logging.getLogger(__name__)

STATE_TTL_SECONDS = 600
# Pending states per provider (each one is a key for STATE_TTL_SECONDS). With open signup
# anyone may start a connection: this caps what they can make Redis hold (about 1,000 x 0.5 KB).
PENDING_STATES_MAX = 1000
# KEYS: state key, pending set. ARGV: record, now, ttl, cap, digest.
_BEGIN = """
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[2]) - tonumber(ARGV[3]))
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1
"""
BINDING_COOKIE = "paceline_oauth"
# How long a "first account" claim holds while its callback finishes storing.
FIRST_ACCOUNT_CLAIM_SECONDS = 120
_STATE_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,128}")  # fullmatch
_BINDING_SALT = "paceline.oauth-binding"


class AuthorizationRejected(Exception):
    """The callback was refused; nothing was stored. ``message`` is safe to show anyone."""

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        status: int = 400,
        missing_scopes: tuple[str, ...] = (),
    ) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        self.status = status
        self.missing_scopes = missing_scopes


@dataclass(frozen=True)
class AuthorizationStart:
    url: str
    state: str = ""

    def __repr__(self) -> str:  # the state is a one-time secret of sorts: keep it out of logs
        return "AuthorizationStart(...)"


@dataclass(frozen=True)
class Connected:
    provider: str
    account_id: str
    display_name: str | None
    scopes: tuple[str, ...]
    connected_at: float
    expires_at: float
    next_refresh_at: float
    replaced: bool
    mirrored: bool
    # How soon an activity made private leaves the widget (paceline.privacy).
    privacy: str = "-"


def state_key(provider: str, state: str) -> str:
    """``paceline:oauth-state:<provider>:<digest>``; the state itself is not a key part."""
    digest = hashlib.sha256(state.encode()).hexdigest()[:40]
    return f"{keys.NAMESPACE}:oauth-state:{keys.check_ident(provider, 'provider')}:{digest}"


def pending_states_key(provider: str) -> str:
    return f"{keys.NAMESPACE}:oauth-pending:{keys.check_ident(provider, 'provider')}"


def first_account_key(provider: str) -> str:
    return f"{keys.NAMESPACE}:first-account:{keys.check_ident(provider, 'provider')}"


def _binding_hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def new_binding() -> str:
    """A fresh binding nonce (kept by the browser's cookie or by the ``connect`` process)."""
    return secrets.token_urlsafe(32)


class BrowserBinding:
    """The binding nonce as a signed, timestamped cookie value (expires with the state)."""

    def __init__(self, key: SessionKey) -> None:
        self.key = key

    def seal(self, nonce: str) -> str:
        return str(self.key.serializer(_BINDING_SALT).dumps(nonce))

    def _load(self, value: str) -> str:
        nonce = self.key.serializer(_BINDING_SALT).loads(value, max_age=STATE_TTL_SECONDS)
        if not isinstance(nonce, str):
            raise BadSignature("not a binding")
        return nonce

    def open(self, value: str) -> str:
        """The nonce in a cookie; raises :class:`AuthorizationRejected` when unusable."""
        try:
            return self._load(value)
        except SignatureExpired:
            log.warning("authorization rejected", extra={"reason": "stale_cookie"})
            raise AuthorizationRejected(
                "stale_cookie", "This connection attempt is older than 10 minutes. Start again."
            ) from None
        except BadSignature:
            log.warning("authorization rejected", extra={"reason": "forged_cookie"})
            raise AuthorizationRejected(
                "forged_cookie", "The connection cookie is not valid. Start again."
            ) from None

    def reuse_or_new(self, value: str | None) -> str:
        """Keep the nonce of a still-valid cookie (two tabs connecting at once both work)."""
        if value:
            try:
                return self._load(value)
            except BadSignature:  # includes SignatureExpired
                pass
        return new_binding()


def required_scopes(runtime: Runtime, provider: Provider) -> tuple[str, ...]:
    settings = runtime.settings
    if provider.name == "strava" and settings.strava_required_scopes.strip():
        return provider.parse_scopes(settings.strava_required_scopes)
    spec = settings.providers.get(provider.name)
    if spec is not None and spec.required_scopes is not None:
        return tuple(sorted(set(spec.required_scopes)))
    if provider.name == "strava":
        # activity:read_all is asked for its privacy events, not required: an athlete who
        # unticks it connects with activity:read and gets the capped freshness instead.
        return tuple(
            sorted({"activity:read" if s == PRIVACY_SCOPE else s for s in provider.scopes})
        )
    return tuple(sorted(set(provider.scopes)))


def missing_scopes(
    provider: Provider, required: tuple[str, ...], granted: tuple[str, ...]
) -> tuple[str, ...]:
    have = set(granted)
    if provider.name == "strava":
        # Strava: "x:read_all" includes "x:read", and "read_all" includes "read".
        have |= {scope[: -len("_all")] for scope in granted if scope.endswith("read_all")}
    return tuple(scope for scope in required if scope not in have)


def allowed_accounts(runtime: Runtime, provider: str) -> set[str]:
    """Account ids on ``PACELINE_ALLOWED_ACCOUNTS`` for ``provider`` ("123" or "strava:123")."""
    allowed: set[str] = set()
    for entry in (part.strip() for part in runtime.settings.allowed_accounts.split(",")):
        if not entry:
            continue
        scope, sep, account = entry.rpartition(":")
        if not sep or scope == provider:
            allowed.add(account)
    return allowed


# Strava now and then refuses a fresh code ("AuthorizationCode invalid") that works a couple of
# seconds later (github.com/basvandorst/StravaPHP/pull/101): one retry after this long.
CODE_RETRY_SECONDS = 2.0


def code_not_ready(error: BaseException) -> bool:
    """Strava's "AuthorizationCode invalid" answer to a code exchange (worth one retry)."""
    if not isinstance(error, PermanentError):
        return False
    resource, _, rest = error.reason.partition(":")
    return resource == "AuthorizationCode" and rest.endswith(":invalid")


class AuthorizationFlow:
    def __init__(self, runtime: Runtime, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.runtime = runtime
        self.sleep = sleep  # injected: tests do not wait the retry's two seconds

    # --- the way out -------------------------------------------------------------------------
    def begin(self, provider_name: str, *, redirect_uri: str, binding: str) -> AuthorizationStart:
        """Record a one-time state for this binding and return the provider's authorize URL."""
        provider = self.runtime.providers.get(provider_name)
        state = secrets.token_urlsafe(32)
        verifier, challenge = pkce_pair() if provider.pkce else (None, None)
        codec = self.runtime.store.codec
        record = {
            "provider": provider.name,
            "redirect_uri": redirect_uri,
            "binding": _binding_hash(binding),
            "code_verifier": codec.seal(verifier) if verifier else None,
            "created_at": self.runtime.clock.now(),
        }
        key = state_key(provider.name, state)
        stored = self.runtime.redis.eval(
            _BEGIN,
            2,
            key,
            pending_states_key(provider.name),
            json.dumps(record),
            repr(self.runtime.clock.now()),
            STATE_TTL_SECONDS,
            PENDING_STATES_MAX,
            key.rsplit(":", 1)[1],
        )
        if not stored:
            raise AuthorizationRejected(
                "too_many_pending",
                "Too many connections are being started right now; try again in a few minutes.",
                status=503,
            )
        url = self.runtime.oauth(provider.name).authorize_url(
            redirect_uri=redirect_uri, state=state, code_challenge=challenge
        )
        log.info("authorization started", extra={"provider": provider.name, "pkce": bool(verifier)})
        return AuthorizationStart(url=url, state=state)

    # --- the way back ------------------------------------------------------------------------
    def complete(
        self, provider_name: str, params: Mapping[str, str], *, binding: str | None
    ) -> Connected:
        """Check everything, in an order where nothing is exchanged or stored on a bad state."""
        try:
            connected = self._complete(provider_name, params, binding)
        except AuthorizationRejected as rejected:
            log.warning(
                "authorization rejected",
                extra={"provider": provider_name, "reason": rejected.reason},
            )
            raise
        return connected

    def _complete(
        self, provider_name: str, params: Mapping[str, str], binding: str | None
    ) -> Connected:
        provider = self.runtime.providers.get(provider_name)
        record = self._consume_state(provider, params.get("state", ""), binding)
        error = params.get("error")
        if error:
            if error == "access_denied":
                raise AuthorizationRejected(
                    "access_denied",
                    f"Access was not granted on {provider.name}'s page, so nothing was "
                    "connected. Start again and choose Authorize to connect the account.",
                )
            raise AuthorizationRejected(
                "provider_error",
                f"{provider.name} did not authorize the connection (it answered with an error). "
                "Start again.",
            )
        code = params.get("code", "")
        if not code or len(code) > 512:
            raise AuthorizationRejected(
                "missing_code", f"{provider.name} sent no authorization code. Start again."
            )
        required = required_scopes(self.runtime, provider)
        # Strava reports the grant on the callback: a narrow one is refused before exchanging.
        reported = provider.parse_scopes(params["scope"]) if "scope" in params else None
        if reported is not None:
            self._check_scopes(provider, required, reported)
        tokens = self._exchange(provider, code, record)
        # Otherwise the token response says; saying nothing means "as requested" (RFC 6749 5.1).
        granted = tokens.scopes if tokens.scopes is not None else reported
        if granted is None:
            granted = provider.scopes
        self._check_scopes(provider, required, granted)
        tokens = dataclasses.replace(tokens, scopes=granted)
        account_id, name = self._identify(provider, tokens)
        self._check_allowed(provider.name, account_id)
        stored = store_tokens(self.runtime, provider.name, account_id, tokens, display_name=name)
        credential = stored.credential
        return Connected(
            provider=provider.name,
            account_id=account_id,
            display_name=credential.display_name,
            scopes=credential.scopes,
            connected_at=self.runtime.clock.now(),
            expires_at=credential.expires_at,
            next_refresh_at=credential.expires_at - provider.refresh_lead_seconds,
            replaced=stored.replaced,
            mirrored=stored.mirrored,
            privacy=privacy_text(
                provider.name,
                credential.scopes,
                self.runtime.settings.summary_privacy_fresh_seconds,
            ),
        )

    def _consume_state(self, provider: Provider, state: str, binding: str | None) -> dict[str, str]:
        if not state or not _STATE_SHAPE.fullmatch(state):
            raise AuthorizationRejected(
                "invalid_state",
                "This callback does not carry a connection this gateway started. Start again "
                "from the status page.",
            )
        if binding is None:
            raise AuthorizationRejected(
                "missing_cookie",
                "This browser has no record of starting a connection. Start again from the "
                "same browser (cookies must be allowed for this site).",
            )
        raw = self.runtime.redis.getdel(state_key(provider.name, state))
        if raw is None:
            raise AuthorizationRejected(
                "unknown_state",
                "This connection link was already used, has expired or was never issued here. "
                "Start again from the status page.",
            )
        record = json.loads(raw)
        if not hmac.compare_digest(str(record.get("binding", "")), _binding_hash(binding)):
            raise AuthorizationRejected(
                "binding_mismatch",
                "This connection was started in another browser or by an earlier attempt. "
                "Start again from this browser.",
            )
        if self.runtime.clock.now() - float(record["created_at"]) > STATE_TTL_SECONDS:
            raise AuthorizationRejected(
                "expired_state", "This connection attempt is older than 10 minutes. Start again."
            )
        return record  # type: ignore[no-any-return]

    def _check_scopes(
        self, provider: Provider, required: tuple[str, ...], granted: tuple[str, ...]
    ) -> None:
        missing = missing_scopes(provider, required, granted)
        if missing:
            raise AuthorizationRejected(
                "insufficient_scope",
                f"{provider.name} granted less access than paceline needs, so nothing was "
                "stored. Start again and leave the permissions listed below ticked.",
                missing_scopes=missing,
            )

    def _exchange(
        self, provider: Provider, code: str, record: Mapping[str, str | None]
    ) -> TokenResponse:
        sealed = record.get("code_verifier")
        verifier = self.runtime.store.codec.open(sealed) if sealed else None
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(code_not_ready),
            stop=tenacity.stop_after_attempt(2),
            wait=tenacity.wait_fixed(CODE_RETRY_SECONDS),
            sleep=self.sleep,
            reraise=True,
        )
        try:
            return retrying(
                self.runtime.oauth(provider.name).exchange_code,
                code,
                redirect_uri=str(record["redirect_uri"]),
                code_verifier=verifier,
            )
        except PermanentError:
            raise AuthorizationRejected(
                "code_refused",
                f"{provider.name} refused the authorization code (it was used already or has "
                "expired). Start again.",
            ) from None
        except TransientError:
            raise AuthorizationRejected(
                "provider_unavailable",
                f"{provider.name} could not be reached to finish the connection. Try again in a "
                "minute.",
                status=502,
            ) from None

    def _identify(self, provider: Provider, tokens: TokenResponse) -> tuple[str, str | None]:
        account_id, name = tokens.account_id, tokens.display_name
        if account_id is None:
            try:
                account_id, name = self.runtime.oauth(provider.name).fetch_account(
                    tokens.access_token
                )
            except UpstreamError:
                raise AuthorizationRejected(
                    "provider_unavailable",
                    f"Connected, but {provider.name} did not say which account it is; nothing "
                    "was stored. Try again in a minute.",
                    status=502,
                ) from None
        try:
            keys.check_ident(account_id, "account id")
        except keys.InvalidIdentifier:
            raise AuthorizationRejected(
                "invalid_account", f"{provider.name} sent an unusable account id.", status=502
            ) from None
        return account_id, name

    def _check_allowed(self, provider: str, account_id: str) -> None:
        """Open signup: anyone. An allow-list: its accounts. Neither: the first account only
        (and that account again, to reconnect it)."""
        settings = self.runtime.settings
        if settings.open_signup:
            return
        allowed = allowed_accounts(self.runtime, provider)
        if allowed:
            if account_id in allowed:
                return
            raise self._not_allowed(provider)
        store = self.runtime.store
        store.ensure_restored()
        connected = {c.account_id for c in store.list(provider)}
        if account_id in connected:
            return
        if not connected:
            key = first_account_key(provider)
            claimed = self.runtime.redis.set(
                key, account_id, nx=True, ex=FIRST_ACCOUNT_CLAIM_SECONDS
            )
            holder = self.runtime.redis.get(key)
            if claimed or holder == account_id.encode():
                return
        raise self._not_allowed(provider)

    @staticmethod
    def _not_allowed(provider: str) -> AuthorizationRejected:
        return AuthorizationRejected(
            "account_not_allowed",
            f"This {provider} account may not connect here, so nothing was stored. The owner "
            "can add it to PACELINE_ALLOWED_ACCOUNTS (or turn on PACELINE_OPEN_SIGNUP).",
            status=403,
        )
