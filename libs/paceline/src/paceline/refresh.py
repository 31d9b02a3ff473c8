"""The one refresh path: used by the token-refresher and by activity-api on a 401.

For one credential: take its lock, re-read it under the lock, decide, write an in-flight record
(write-ahead), post the refresh, validate, save the new pair in one versioned write, clear the
record. The in-flight record is what turns a lost answer into a *detected* loss:

* a crash (or timeout) between the provider's answer and our save leaves the record behind;
* the next attempt sees it and presents the same refresh token again;
* with a reuse-grace window the provider answers and the chain is recovered;
* without one it refuses (``invalid_grant``): the chain is lost, the credential is marked
  ``needs_reauth`` with the reason, and the run reports ``lost_chain``. Nothing is overwritten.

Errors are classified, never blindly retried: transient errors keep the credential as it is;
a refusal of the refresh token marks ``needs_reauth`` and keeps the credential for inspection.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import time
from dataclasses import dataclass

from paceline import keys
from paceline.credential import Credential, CredentialState, refresh_due
from paceline.lock import Lease
from paceline.runstatus import record_refresh
from paceline.runtime import Runtime
from paceline.store import VersionConflict
from paceline.upstream import PermanentError, TransientError

log = logging.getLogger(__name__)

INFLIGHT_TTL = 30 * 24 * 3600


class RefreshResult(enum.StrEnum):
    REFRESHED = "refreshed"
    SKIPPED = "skipped"
    TRANSIENT_ERROR = "transient_error"
    NEEDS_REAUTH = "needs_reauth"
    LOST_CHAIN = "lost_chain"
    BUSY = "busy"  # someone else holds the lock right now; not counted as a failure


FAILURES = {RefreshResult.TRANSIENT_ERROR, RefreshResult.NEEDS_REAUTH, RefreshResult.LOST_CHAIN}


@dataclass(frozen=True)
class RefreshOutcome:
    provider: str
    account_id: str
    result: RefreshResult
    detail: str = ""
    credential: Credential | None = None
    # Seconds from the provider's answer to the credential being saved in Redis.
    answer_to_save_seconds: float | None = None
    recovered: bool = False

    @property
    def failed(self) -> bool:
        return self.result in FAILURES


def inflight_key(provider: str, account_id: str) -> str:
    return keys.account_key("inflight", provider, account_id)


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def refresh_credential(
    runtime: Runtime,
    provider: str,
    account_id: str,
    *,
    force: bool = False,
    lock_wait_seconds: float = 0.0,
) -> RefreshOutcome:
    """Refresh one credential if it is due (or ``force``); see the module docstring."""
    lease = _acquire(runtime, provider, account_id, lock_wait_seconds)
    if lease is None:
        return RefreshOutcome(provider, account_id, RefreshResult.BUSY, "lock held elsewhere")
    try:
        outcome = _refresh_locked(runtime, provider, account_id, lease, force)
    finally:
        runtime.locks.release(lease)
    if outcome.result is not RefreshResult.BUSY:
        record_refresh(runtime.redis, provider, outcome.result.value)
    return outcome


def _acquire(runtime: Runtime, provider: str, account_id: str, wait: float) -> Lease | None:
    name = keys.lock_key(provider, account_id)
    if wait <= 0:
        return runtime.locks.try_acquire(name)
    try:
        return runtime.locks.acquire(name, wait)
    except Exception:
        return None


def _refresh_locked(
    runtime: Runtime, provider: str, account_id: str, lease: Lease, force: bool
) -> RefreshOutcome:
    store = runtime.store
    credential = store.get(provider, account_id)  # re-read under the lock
    if credential is None:
        return RefreshOutcome(provider, account_id, RefreshResult.SKIPPED, "no such credential")
    if credential.state is not CredentialState.ACTIVE:
        return RefreshOutcome(
            provider, account_id, RefreshResult.SKIPPED, f"state {credential.state.value}",
            credential,
        )
    record_key = inflight_key(provider, account_id)
    raw = runtime.redis.get(record_key)
    inflight = json.loads(raw) if raw else None  # type: ignore[arg-type]
    if inflight and int(inflight.get("version", -1)) != credential.version:
        runtime.redis.delete(record_key)  # a newer version was saved since: nothing was lost
        inflight = None
    recovering = inflight is not None and inflight.get("presented") == _fingerprint(
        credential.refresh_token
    )
    lead = runtime.providers.get(provider).refresh_lead_seconds
    if not (force or recovering or refresh_due(credential, runtime.clock.now(), lead)):
        return RefreshOutcome(provider, account_id, RefreshResult.SKIPPED, "not due", credential)

    runtime.redis.set(
        record_key,
        json.dumps(
            {
                "version": credential.version,
                "presented": _fingerprint(credential.refresh_token),
                "started_at": runtime.clock.now(),
            }
        ),
        ex=INFLIGHT_TTL,
    )
    try:
        tokens = runtime.oauth(provider).refresh(credential.refresh_token)
    except TransientError as error:
        # The request may have reached the provider and rotated the token: keep the record so
        # the next attempt knows to check.
        log.warning(
            "refresh failed, will retry",
            extra={"provider": provider, "account": account_id, "error": str(error)},
        )
        return RefreshOutcome(
            provider, account_id, RefreshResult.TRANSIENT_ERROR, str(error), credential
        )
    except PermanentError as error:
        result = RefreshResult.LOST_CHAIN if recovering else RefreshResult.NEEDS_REAUTH
        reason = (
            f"refresh chain lost: an earlier refresh's answer never reached the store and the "
            f"provider refused the previous token ({error.reason})"
            if recovering
            else f"provider refused the refresh token ({error.reason})"
        )
        marked = _mark_needs_reauth(runtime, credential, reason, lease)
        runtime.redis.delete(record_key)
        log.error(
            "credential needs re-authorization",
            extra={"provider": provider, "account": account_id, "result": result.value},
        )
        return RefreshOutcome(provider, account_id, result, reason, marked)

    answered = time.perf_counter()
    updated = credential.replace(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_at=tokens.expires_at,
        scopes=tokens.scopes if tokens.scopes is not None else credential.scopes,
        last_refresh_at=runtime.clock.now(),
        last_error=None,
    )
    try:
        saved = store.save(updated, expected_version=credential.version, fence=lease.fence)
    except VersionConflict as error:
        # Only possible if our lock expired mid-refresh and someone else saved meanwhile.
        log.error(
            "refresh answer could not be saved: newer version present",
            extra={"provider": provider, "account": account_id, "error": str(error)},
        )
        return RefreshOutcome(
            provider, account_id, RefreshResult.TRANSIENT_ERROR, "lock lost during refresh"
        )
    window = time.perf_counter() - answered
    runtime.redis.delete(record_key)
    log.info(
        "credential refreshed",
        extra={
            "provider": provider,
            "account": account_id,
            "version": saved.credential.version,
            "rotated": tokens.rotated,
            "recovered": recovering,
            "mirrored": saved.mirrored,
            "answer_to_save_ms": round(window * 1000, 3),
        },
    )
    return RefreshOutcome(
        provider,
        account_id,
        RefreshResult.REFRESHED,
        "recovered an interrupted refresh" if recovering else "",
        saved.credential,
        answer_to_save_seconds=window,
        recovered=recovering,
    )


def _mark_needs_reauth(
    runtime: Runtime, credential: Credential, reason: str, lease: Lease
) -> Credential | None:
    """Keep the credential for inspection, flagged; never touch its tokens."""
    marked = credential.replace(state=CredentialState.NEEDS_REAUTH, last_error=reason)
    try:
        return runtime.store.save(
            marked, expected_version=credential.version, fence=lease.fence
        ).credential
    except VersionConflict:
        return runtime.store.get(credential.provider, credential.account_id)
