"""How credentials enter paceline: a finished OAuth exchange, or an imported refresh token.

Both paths end in :func:`store_tokens`, which takes the credential's lock (so it never races the
refresher), re-reads, and saves a new version through the TokenStore (Redis, then the mirror).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass

from paceline import keys
from paceline.credential import Credential, CredentialState
from paceline.log import register_secret
from paceline.oauth import TokenResponse
from paceline.runtime import Runtime
from paceline.upstream import PermanentError, UpstreamError

log = logging.getLogger(__name__)

PENDING_IMPORT_TTL = 7 * 24 * 3600
MAX_TOKEN_LENGTH = 4096


class ImportFailed(Exception):
    """The refresh token could not be imported; the message says why, without the token."""


@dataclass(frozen=True)
class StoredCredential:
    credential: Credential
    replaced: bool
    mirrored: bool


def store_tokens(
    runtime: Runtime,
    provider: str,
    account_id: str,
    tokens: TokenResponse,
    *,
    display_name: str | None = None,
) -> StoredCredential:
    """Save a fresh token pair for an account (new or reconnected) as the newest version."""
    keys.check_ident(account_id, "account id")
    now = runtime.clock.now()
    # After a Redis data loss the account's newer versions are only in the mirror: read them
    # back first, or this write would start the account over at version 1.
    runtime.store.ensure_restored()
    with runtime.locks.hold(keys.lock_key(provider, account_id), wait_seconds=15) as lease:
        existing = runtime.store.get(provider, account_id)
        base = existing or Credential(
            provider=provider,
            account_id=account_id,
            access_token="",
            refresh_token="",
            expires_at=0.0,
            created_at=now,
        )
        scopes = tokens.scopes if tokens.scopes is not None else base.scopes
        credential = base.replace(
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            expires_at=tokens.expires_at,
            scopes=scopes,
            state=CredentialState.ACTIVE,
            last_refresh_at=now,
            last_error=None,
            display_name=display_name or tokens.display_name or base.display_name,
        )
        result = runtime.store.save(
            credential,
            expected_version=existing.version if existing else 0,
            fence=lease.fence,
        )
    log.info(
        "credential stored",
        extra={
            "provider": provider,
            "account": account_id,
            "version": result.credential.version,
            "replaced": existing is not None,
            "mirrored": result.mirrored,
        },
    )
    return StoredCredential(result.credential, existing is not None, result.mirrored)


def _pending_key(provider: str, presented: str) -> str:
    digest = hashlib.sha256(presented.encode()).hexdigest()[:24]
    return f"{keys.NAMESPACE}:pending-import:{keys.check_ident(provider, 'provider')}:{digest}"


def import_refresh_token(runtime: Runtime, provider: str, refresh_token: str) -> StoredCredential:
    """The migration path from the blog-post recipes: refresh once, identify, store.

    The provider may rotate the token on this refresh, invalidating what the user gave us, so the
    new pair is written ahead (sealed, in Redis) before the account is looked up; a second import
    of the same token after a failure resumes from that record instead of burning the chain.
    """
    token = refresh_token.strip()
    if not token or len(token) > MAX_TOKEN_LENGTH or any(c.isspace() for c in token):
        raise ImportFailed("expected one refresh token (no spaces, at most 4096 characters)")
    register_secret(token)
    oauth = runtime.oauth(provider)
    pending_key = _pending_key(provider, token)
    codec = runtime.store.codec

    raw = runtime.redis.get(pending_key)
    if raw is not None:
        record = json.loads(raw)
        tokens = TokenResponse(
            access_token=codec.open(record["access_token"]),
            refresh_token=codec.open(record["refresh_token"]),
            expires_at=float(record["expires_at"]),
            scopes=None,
            account_id=record.get("account_id"),
            display_name=None,
            rotated=True,
        )
        log.info("resuming an interrupted import", extra={"provider": provider})
    else:
        try:
            tokens = oauth.refresh(token)
        except PermanentError as error:
            raise ImportFailed(
                f"{provider} refused this refresh token ({error.reason}); connect the account "
                "in the browser instead"
            ) from None
        except UpstreamError as error:
            raise ImportFailed(f"{provider} could not be reached ({error}); try again") from None
        runtime.redis.set(
            pending_key,
            json.dumps(
                {
                    "access_token": codec.seal(tokens.access_token),
                    "refresh_token": codec.seal(tokens.refresh_token),
                    "expires_at": tokens.expires_at,
                    "account_id": tokens.account_id,
                }
            ),
            ex=PENDING_IMPORT_TTL,
        )
    account_id, name = tokens.account_id, tokens.display_name
    if account_id is None:
        try:
            account_id, name = oauth.fetch_account(tokens.access_token)
        except UpstreamError as error:
            raise ImportFailed(
                f"refreshed, but could not identify the account ({error}); the new tokens are "
                "kept: run the same import again to finish"
            ) from None
    stored = store_tokens(runtime, provider, account_id, tokens, display_name=name)
    runtime.redis.delete(pending_key)
    return stored
