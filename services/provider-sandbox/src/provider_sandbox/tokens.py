"""Authorization codes, access tokens and refresh-token chains with Strava's rules.

One *grant* per (athlete, application) holds the current access token and the head of the
refresh-token chain. The rotation mode decides when a refresh hands out a new refresh token
and kills the old one:

* ``sometimes`` (Strava): a new refresh token comes with every new access token; while the
  access token has more than the threshold left a refresh returns the same pair.
* ``always-single-use`` (Fitbit style): every refresh returns a new pair.
* ``never``: the refresh token never changes.

A rotated refresh token stays acceptable for ``reuse_grace_seconds``; using it then returns
a fresh pair that becomes the new head, which lets a client that lost a response recover.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass, field

from .config import SandboxConfig

ACTIVE, ROTATED, REVOKED = "active", "rotated", "revoked"


def new_token() -> str:
    """40 hex characters, the shape of Strava's tokens."""
    return secrets.token_hex(20)


def parse_scope(text: str | None) -> list[str]:
    """Scopes from Strava's comma-separated form (spaces tolerated), order kept, no repeats."""
    scopes: list[str] = []
    for part in (text or "").replace(" ", ",").split(","):
        if part and part not in scopes:
            scopes.append(part)
    return scopes


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of ``verifier`` (RFC 7636)."""
    digest = hashlib.sha256(verifier.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class TokenError(Exception):
    """A code or token was rejected; ``field`` is the form field Strava names in its error."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


@dataclass
class AuthCode:
    code: str
    client_id: str
    athlete_id: int
    scopes: tuple[str, ...]
    redirect_uri: str
    expires_at: float
    code_challenge: str | None
    ready_at: float = 0.0  # refused (and kept) before this: see SandboxConfig.code_ready_seconds


@dataclass
class AccessToken:
    token: str
    athlete_id: int
    client_id: str
    scopes: tuple[str, ...]
    expires_at: int
    revoked: bool = False


@dataclass
class RefreshToken:
    token: str
    athlete_id: int
    client_id: str
    state: str = ACTIVE
    rotated_at: float | None = None


@dataclass
class Grant:
    athlete_id: int
    client_id: str
    scopes: tuple[str, ...]
    access_token: str
    refresh_token: str
    refresh_tokens: list[str] = field(default_factory=list)
    access_tokens: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Issued:
    """What the token endpoint answers with."""

    access_token: str
    refresh_token: str
    expires_at: int
    athlete_id: int
    client_id: str
    scopes: tuple[str, ...]


class TokenStore:
    """Every code and token the sandbox ever issued, with their state."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self.codes: dict[str, AuthCode] = {}
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshToken] = {}
        self.grants: dict[tuple[int, str], Grant] = {}

    # -- authorization codes ---------------------------------------------------------------

    def create_code(
        self,
        client_id: str,
        athlete_id: int,
        scopes: list[str],
        redirect_uri: str,
        code_challenge: str | None,
        now: float,
        config: SandboxConfig,
    ) -> str:
        code = AuthCode(
            code=new_token(),
            client_id=client_id,
            athlete_id=athlete_id,
            scopes=tuple(scopes),
            redirect_uri=redirect_uri,
            expires_at=now + config.code_lifetime_seconds,
            code_challenge=code_challenge,
            ready_at=now + config.code_ready_seconds,
        )
        with self._lock:
            self.codes[code.code] = code
        return code.code

    def redeem_code(
        self,
        code: str,
        client_id: str,
        code_verifier: str | None,
        now: float,
        config: SandboxConfig,
    ) -> Issued:
        """Exchange a code once; any attempt with a known code consumes it."""
        with self._lock:
            waiting = self.codes.get(code)
            if waiting is not None and now < waiting.ready_at:
                raise TokenError("code")  # not burnt: the same code works a moment later
            record = self.codes.pop(code, None)
            if record is None or record.client_id != client_id or now >= record.expires_at:
                raise TokenError("code")
            if record.code_challenge is not None:
                if not code_verifier:
                    raise TokenError("code_verifier")
                expected = pkce_challenge(code_verifier)
                if not hmac.compare_digest(expected, record.code_challenge):
                    raise TokenError("code_verifier")
            return self.issue(record.athlete_id, record.client_id, list(record.scopes), now, config)

    # -- issuing ----------------------------------------------------------------------------

    def _new_access(self, grant: Grant, now: float, lifetime: int) -> AccessToken:
        token = AccessToken(
            token=new_token(),
            athlete_id=grant.athlete_id,
            client_id=grant.client_id,
            scopes=grant.scopes,
            expires_at=int(now) + lifetime,
        )
        self.access[token.token] = token
        grant.access_token = token.token
        grant.access_tokens.append(token.token)
        return token

    def _rotate_refresh(self, grant: Grant, now: float) -> None:
        """Make a new head; the old head becomes rotated (dead unless inside the grace)."""
        old = self.refresh.get(grant.refresh_token)
        if old is not None and old.state == ACTIVE:
            old.state = ROTATED
            old.rotated_at = now
        head = RefreshToken(new_token(), grant.athlete_id, grant.client_id)
        self.refresh[head.token] = head
        grant.refresh_token = head.token
        grant.refresh_tokens.append(head.token)

    def _issued(self, grant: Grant) -> Issued:
        access = self.access[grant.access_token]
        return Issued(
            access_token=access.token,
            refresh_token=grant.refresh_token,
            expires_at=access.expires_at,
            athlete_id=grant.athlete_id,
            client_id=grant.client_id,
            scopes=grant.scopes,
        )

    def issue(
        self,
        athlete_id: int,
        client_id: str,
        scopes: list[str],
        now: float,
        config: SandboxConfig,
        lifetime: int | None = None,
    ) -> Issued:
        """A fresh authorization: new access token, scopes replaced, chain advanced.

        With rotation ``never`` an existing grant keeps its refresh token.
        """
        lifetime = config.token_lifetime_seconds if lifetime is None else lifetime
        with self._lock:
            grant = self.grants.get((athlete_id, client_id))
            if grant is None:
                grant = Grant(athlete_id, client_id, tuple(scopes), "", "")
                self.grants[(athlete_id, client_id)] = grant
                self._rotate_refresh(grant, now)
            else:
                grant.scopes = tuple(scopes)
                if config.rotation != "never":
                    self._rotate_refresh(grant, now)
            self._new_access(grant, now, lifetime)
            return self._issued(grant)

    def refresh_grant(
        self, refresh_token: str, client_id: str, now: float, config: SandboxConfig
    ) -> Issued:
        """Apply the refresh rules described in the module docstring."""
        with self._lock:
            record = self.refresh.get(refresh_token)
            if record is None or record.client_id != client_id or record.state == REVOKED:
                raise TokenError("refresh_token")
            grant = self.grants.get((record.athlete_id, record.client_id))
            if grant is None:
                raise TokenError("refresh_token")
            lifetime = config.token_lifetime_seconds
            if record.state == ROTATED:
                assert record.rotated_at is not None
                if now - record.rotated_at >= config.reuse_grace_seconds:
                    raise TokenError("refresh_token")
                self._rotate_refresh(grant, now)
                self._new_access(grant, now, lifetime)
                return self._issued(grant)

            current = self.access.get(grant.access_token)
            left = current.expires_at - now if current and not current.revoked else 0
            if config.rotation == "always-single-use":
                self._rotate_refresh(grant, now)
                self._new_access(grant, now, lifetime)
            elif left > config.refresh_same_token_threshold_seconds:
                pass  # Strava: same access token, same expiry, same refresh token
            else:
                if config.rotation == "sometimes":
                    self._rotate_refresh(grant, now)
                self._new_access(grant, now, lifetime)
            return self._issued(grant)

    # -- checking and revoking ---------------------------------------------------------------

    def access_token(self, token: str) -> AccessToken | None:
        """The record of ``token`` whatever its state (rate limits need the app of bad ones)."""
        with self._lock:
            return self.access.get(token)

    def valid_access(self, token: str, now: float) -> AccessToken | None:
        with self._lock:
            record = self.access.get(token)
            if record is None or record.revoked or now >= record.expires_at:
                return None
            return record

    def refresh_status(self, token: str, now: float, config: SandboxConfig) -> dict[str, object]:
        """Whether ``token`` would be accepted right now, and why (for tests checking chains)."""
        with self._lock:
            record = self.refresh.get(token)
            if record is None:
                return {"valid": False, "state": "unknown"}
            valid = record.state == ACTIVE or (
                record.state == ROTATED
                and record.rotated_at is not None
                and now - record.rotated_at < config.reuse_grace_seconds
            )
            return {
                "valid": valid,
                "state": record.state,
                "athlete_id": record.athlete_id,
                "client_id": record.client_id,
            }

    def revoke_grant(self, athlete_id: int, client_id: str) -> bool:
        """Deauthorization: every token of this athlete for this app dies at once."""
        with self._lock:
            grant = self.grants.pop((athlete_id, client_id), None)
            if grant is None:
                return False
            for token in grant.access_tokens:
                self.access[token].revoked = True
            for token in grant.refresh_tokens:
                self.refresh[token].state = REVOKED
            return True
