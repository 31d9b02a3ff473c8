"""The one refresh path: used by the token-refresher and by activity-api on a 401.

For one credential: take its lock, re-read it under the lock, decide, write an in-flight record
(write-ahead), post the refresh, validate, save the new pair in one versioned write, clear the
record, then mirror. The in-flight record is what turns a lost answer into a *detected* loss:

* a crash (or timeout) between the provider's answer and our save leaves the record behind;
* the next attempt sees it and presents the same refresh token again, due or not;
* with a reuse-grace window the provider answers and the chain is recovered;
* without one it refuses (``invalid_grant``): the chain is lost, the credential is marked
  ``needs_reauth`` with the reason, and the run reports ``lost_chain``. Nothing is overwritten.

Errors are classified, never blindly retried: transient errors keep the credential as it is and
start a per-credential backoff (the next attempt waits, unless forced); a refusal of the refresh
token marks ``needs_reauth`` and keeps the credential for inspection, unless the provider
confirms the grant is dead (:func:`paceline.revocation.grant_is_dead`): then the athlete revoked
access and the account is erased at once (result ``revoked``); a refusal of the
*application* (wrong client id or secret) changes nothing about the credential: it is reported
as ``application_error`` naming the setting to fix.

Every call that handles a credential writes exactly one log line (``credential handled``) and
counts its result in Redis (see :mod:`paceline.runstatus`); no token ever appears in either.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis
import tenacity

from paceline import keys
from paceline.credential import Credential, CredentialState, refresh_due
from paceline.erasure import erase_account
from paceline.lock import Lease, LockBusy
from paceline.revocation import grant_is_dead
from paceline.runstatus import record_refresh
from paceline.runtime import Runtime
from paceline.store import SaveResult, VersionConflict
from paceline.upstream import ApplicationRejected, PermanentError, TransientError

log = logging.getLogger(__name__)

INFLIGHT_TTL = 30 * 24 * 3600
BACKOFF_TTL = 30 * 24 * 3600

# Named steps of one refresh, in order. A checkpoint callback (a test hook of the refresher)
# is called as each is reached; the crash tests SIGKILL the process at each of them.
CHECKPOINTS = ("locked", "recorded", "answered", "saved", "cleared", "mirrored")
Checkpoint = Callable[[str], None]

# Saving the provider's answer is the one write that must not be given up lightly: retry a
# Redis hiccup for about two seconds before reporting (the in-flight record stays behind).
SAVE_RETRY_DELAYS = (0.05, 0.1, 0.2, 0.4, 0.8)


class RefreshResult(enum.StrEnum):
    REFRESHED = "refreshed"
    SKIPPED = "skipped"  # not due, not active, already refreshed by someone else, or gone
    DEFERRED = "deferred"  # due, but backing off after a transient failure
    TRANSIENT_ERROR = "transient_error"
    NEEDS_REAUTH = "needs_reauth"
    LOST_CHAIN = "lost_chain"
    # The refresh token was refused and the provider confirmed the grant is dead (the access
    # token refused too): the athlete revoked access, so the account was erased. Not a failure.
    REVOKED = "revoked"
    BUSY = "busy"  # someone else holds the lock right now; not counted as a failure
    # The provider refused the application (wrong client id or secret): the configuration's
    # fault, so the credential keeps its state and is tried normally once the setting is fixed.
    APPLICATION_ERROR = "application_error"


FAILURES = {
    RefreshResult.TRANSIENT_ERROR,
    RefreshResult.NEEDS_REAUTH,
    RefreshResult.LOST_CHAIN,
    RefreshResult.DEFERRED,
    RefreshResult.APPLICATION_ERROR,
}


@dataclass(frozen=True)
class RefreshOutcome:
    provider: str
    account_id: str
    result: RefreshResult
    detail: str = ""
    credential: Credential | None = None
    # Seconds from the provider's answer to the new pair being saved in Redis.
    answer_to_save_seconds: float | None = None
    recovered: bool = False
    # Seconds the token post took (None when no post was made).
    provider_seconds: float | None = None
    rotated: bool | None = None
    # False when the mirror write failed and is left for the next sync; None when not written.
    mirrored: bool | None = None
    # Transient failures in a row, and when the next attempt is allowed (epoch seconds).
    attempts: int = 0
    next_attempt_at: float | None = None
    # True when the result was counted in the refresh totals with the write that recorded it.
    counted: bool = False
    # With APPLICATION_ERROR: the setting to fix (e.g. PACELINE_STRAVA_CLIENT_SECRET).
    setting: str | None = None

    @property
    def failed(self) -> bool:
        return self.result in FAILURES

    def log_fields(self) -> dict[str, Any]:
        """The structured fields of the per-credential log line (never a token)."""
        fields: dict[str, Any] = {
            "provider": self.provider,
            "account": self.account_id,
            "result": self.result.value,
        }
        if self.detail:
            fields["detail"] = self.detail
        if self.credential is not None:
            fields["version"] = self.credential.version
            fields["state"] = self.credential.state.value
        optional = {
            "rotated": self.rotated,
            "recovered": self.recovered or None,
            "mirrored": self.mirrored,
            "attempts": self.attempts or None,
            "next_attempt_at": self.next_attempt_at,
            "provider_ms": _ms(self.provider_seconds),
            "answer_to_save_ms": _ms(self.answer_to_save_seconds),
        }
        fields.update({k: v for k, v in optional.items() if v is not None})
        return fields


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


# --- records kept beside the credential --------------------------------------------------------
def inflight_key(provider: str, account_id: str) -> str:
    return keys.account_key("inflight", provider, account_id)


def backoff_key(provider: str, account_id: str) -> str:
    return keys.account_key("backoff", provider, account_id)


def fingerprint(token: str) -> str:
    """Identifies a refresh token in records without storing it."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Backoff:
    attempts: int
    next_attempt_at: float
    last_error: str = ""

    @classmethod
    def parse(cls, raw: Any) -> Backoff | None:
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return cls(int(data["attempts"]), float(data["next_attempt_at"]), data.get("error", ""))
        except (ValueError, KeyError, TypeError):
            return None


def parse_inflight(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def backoff_delay(
    attempts: int, base: float, cap: float, retry_after: float | None = None
) -> float:
    """Seconds to wait after the ``attempts``-th transient failure in a row."""
    delay = min(cap, base * 2.0 ** max(0, attempts - 1))
    if retry_after is not None and retry_after > delay:
        delay = min(retry_after, max(cap, base))
    return delay


# --- the decision, pure ------------------------------------------------------------------------
class Decision(enum.StrEnum):
    REFRESH = "refresh"
    RECOVER = "recover"  # an earlier refresh never finished: present the same token again
    DEFER = "defer"
    NOT_DUE = "not_due"
    INACTIVE = "inactive"


def decide(
    credential: Credential,
    now: float,
    lead_seconds: float,
    *,
    inflight: Mapping[str, Any] | None = None,
    backoff: Backoff | None = None,
    force: bool = False,
    rejected_access_token: str | None = None,
) -> Decision:
    """What to do with ``credential`` now. Used under the lock and, for planning, by the pass.

    An in-flight record of the credential's current version and refresh token makes it due
    whatever its expiry: the previous attempt's answer may be waiting in a grace window.
    """
    if credential.state is not CredentialState.ACTIVE:
        return Decision.INACTIVE
    recovering = (
        inflight is not None
        and int(inflight.get("version", -1)) == credential.version
        and inflight.get("presented") == fingerprint(credential.refresh_token)
    )
    rejected = rejected_access_token is not None and (
        rejected_access_token == credential.access_token
    )
    if not (force or recovering or rejected or refresh_due(credential, now, lead_seconds)):
        return Decision.NOT_DUE
    if not force and backoff is not None and backoff.next_attempt_at > now:
        return Decision.DEFER
    return Decision.RECOVER if recovering else Decision.REFRESH


# --- the path ----------------------------------------------------------------------------------
def refresh_credential(
    runtime: Runtime,
    provider: str,
    account_id: str,
    *,
    force: bool = False,
    lock_wait_seconds: float = 0.0,
    rejected_access_token: str | None = None,
    checkpoint: Checkpoint | None = None,
) -> RefreshOutcome:
    """Refresh one credential if it is due (or ``force``); see the module docstring.

    ``rejected_access_token``: the provider just answered 401 to this access token, so refresh
    if the store still holds it (and do nothing if someone already replaced it).
    ``checkpoint`` is called with each name in :data:`CHECKPOINTS` as the refresh reaches it.
    """
    lease = _acquire(runtime, provider, account_id, lock_wait_seconds)
    if lease is None:
        outcome = RefreshOutcome(provider, account_id, RefreshResult.BUSY, "lock held elsewhere")
    else:
        try:
            if checkpoint:
                checkpoint("locked")
            outcome = _refresh_locked(
                runtime, provider, account_id, lease, force, rejected_access_token, checkpoint
            )
        finally:
            runtime.locks.release(lease)
    log_outcome(outcome)
    if outcome.result is not RefreshResult.BUSY and not outcome.counted:
        record_refresh(runtime.redis, provider, outcome.result.value)
    return outcome


def log_outcome(outcome: RefreshOutcome) -> None:
    """The one log line per handled credential."""
    if outcome.result in (RefreshResult.NEEDS_REAUTH, RefreshResult.LOST_CHAIN):
        level = logging.ERROR
    elif outcome.failed or outcome.mirrored is False:
        level = logging.WARNING
    else:
        level = logging.INFO
    log.log(level, "credential handled", extra=outcome.log_fields())


def _acquire(runtime: Runtime, provider: str, account_id: str, wait: float) -> Lease | None:
    name = keys.lock_key(provider, account_id)
    if wait <= 0:
        return runtime.locks.try_acquire(name)
    try:
        return runtime.locks.acquire(name, wait)
    except LockBusy:
        return None


def _refresh_locked(
    runtime: Runtime,
    provider: str,
    account_id: str,
    lease: Lease,
    force: bool,
    rejected_access_token: str | None,
    checkpoint: Checkpoint | None,
) -> RefreshOutcome:
    store = runtime.store
    credential = store.get(provider, account_id)  # re-read under the lock
    if credential is None:
        return RefreshOutcome(provider, account_id, RefreshResult.SKIPPED, "no such credential")
    record_key = inflight_key(provider, account_id)
    pipe = runtime.redis.pipeline(transaction=False)
    pipe.get(record_key)
    pipe.get(backoff_key(provider, account_id))
    raw_inflight, raw_backoff = pipe.execute()
    inflight = parse_inflight(raw_inflight)
    backoff = Backoff.parse(raw_backoff)
    if inflight is not None and int(inflight.get("version", -1)) != credential.version:
        runtime.redis.delete(record_key)  # a newer version was saved since: nothing was lost
        inflight = None
    now = runtime.clock.now()
    decision = decide(
        credential,
        now,
        runtime.providers.get(provider).refresh_lead_seconds,
        inflight=inflight,
        backoff=backoff,
        force=force,
        rejected_access_token=rejected_access_token,
    )
    if decision is Decision.INACTIVE:
        detail = f"state {credential.state.value}"
        return RefreshOutcome(provider, account_id, RefreshResult.SKIPPED, detail, credential)
    if decision is Decision.NOT_DUE:
        detail = "already refreshed" if rejected_access_token is not None else "not due"
        return RefreshOutcome(provider, account_id, RefreshResult.SKIPPED, detail, credential)
    if decision is Decision.DEFER:
        assert backoff is not None
        return RefreshOutcome(
            provider,
            account_id,
            RefreshResult.DEFERRED,
            f"backing off after: {backoff.last_error}",
            credential,
            attempts=backoff.attempts,
            next_attempt_at=backoff.next_attempt_at,
        )
    recovering = decision is Decision.RECOVER

    runtime.redis.set(
        record_key,
        json.dumps(
            {
                "version": credential.version,
                "presented": fingerprint(credential.refresh_token),
                "started_at": now,
            }
        ),
        ex=INFLIGHT_TTL,
    )
    if checkpoint:
        checkpoint("recorded")
    _outlive_the_post(runtime, lease)
    posted = time.perf_counter()
    try:
        tokens = runtime.oauth(provider).refresh(credential.refresh_token)
    except TransientError as error:
        # The request may have reached the provider and rotated the token: keep the record so
        # the next attempt knows to check.
        took = time.perf_counter() - posted
        attempts, next_at = _back_off(runtime, credential, str(error), error.retry_after)
        return RefreshOutcome(
            provider,
            account_id,
            RefreshResult.TRANSIENT_ERROR,
            str(error),
            credential,
            recovered=False,
            provider_seconds=took,
            attempts=attempts,
            next_attempt_at=next_at,
        )
    except ApplicationRejected as error:
        # Refused before the refresh token was even looked at: the token is as good as it was.
        # No back-off either, so the first pass after the fix refreshes everyone at once. An
        # interrupted refresh keeps its record (its question is still open).
        if not recovering:
            runtime.redis.delete(record_key)
        return RefreshOutcome(
            provider,
            account_id,
            RefreshResult.APPLICATION_ERROR,
            f"provider refused the application: check {error.setting}",
            credential,
            provider_seconds=time.perf_counter() - posted,
            setting=error.setting,
        )
    except PermanentError as error:
        took = time.perf_counter() - posted
        if not recovering and grant_is_dead(runtime, credential):
            # Strava's API agreement: delete an athlete's data when they revoke access.
            erase_account(store, provider, account_id)
            return RefreshOutcome(
                provider,
                account_id,
                RefreshResult.REVOKED,
                "grant revoked at the provider: account erased",
                provider_seconds=took,
            )
        result = RefreshResult.LOST_CHAIN if recovering else RefreshResult.NEEDS_REAUTH
        # "RefreshToken/refresh_token/invalid" rather than colons, which log redaction would
        # take for a "refresh_token: <value>" pair and mask.
        refusal = error.reason.replace(":", "/") or f"HTTP {error.status}"
        reason = (
            "refresh chain lost: an earlier refresh's answer never reached the store and the "
            f"provider refused the previous token ({refusal})"
            if recovering
            else f"provider refused the refresh token ({refusal})"
        )
        marked, counted = _mark_needs_reauth(runtime, credential, reason, lease, result)
        pipe = runtime.redis.pipeline(transaction=False)
        pipe.delete(record_key)
        pipe.delete(backoff_key(provider, account_id))
        pipe.execute()
        return RefreshOutcome(
            provider, account_id, result, reason, marked, provider_seconds=took, counted=counted
        )
    answered = time.perf_counter()
    if checkpoint:
        checkpoint("answered")
    # Nothing else happens with the answer before it is in Redis: this is the loss window.
    updated = credential.replace(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_at=tokens.expires_at,
        scopes=tokens.scopes if tokens.scopes is not None else credential.scopes,
        last_refresh_at=now,
        last_error=None,
    )
    try:
        saved = _save_answer(runtime, credential, updated, lease)
    except VersionConflict as error:
        # Only possible if our lock expired mid-refresh and someone else saved meanwhile.
        return RefreshOutcome(
            provider,
            account_id,
            RefreshResult.TRANSIENT_ERROR,
            f"answer not saved: lock lost during refresh ({error})",
            provider_seconds=answered - posted,
        )
    except redis.RedisError as error:
        # The in-flight record (if Redis kept it) makes the next attempt check the chain.
        return RefreshOutcome(
            provider,
            account_id,
            RefreshResult.TRANSIENT_ERROR,
            f"answer not saved: Redis {type(error).__name__}",
            provider_seconds=answered - posted,
        )
    window = time.perf_counter() - answered
    if checkpoint:
        checkpoint("saved")
    pipe = runtime.redis.pipeline(transaction=False)
    pipe.delete(record_key)
    pipe.delete(backoff_key(provider, account_id))
    pipe.execute()
    if checkpoint:
        checkpoint("cleared")
    mirrored = None if store.mirror.name == "none" else store.mirror_credential(saved)
    if checkpoint:
        checkpoint("mirrored")
    return RefreshOutcome(
        provider,
        account_id,
        RefreshResult.REFRESHED,
        "recovered an interrupted refresh" if recovering else "",
        saved,
        answer_to_save_seconds=window,
        recovered=recovering,
        provider_seconds=answered - posted,
        rotated=tokens.rotated,
        mirrored=mirrored,
    )


def _outlive_the_post(runtime: Runtime, lease: Lease) -> None:
    """Keep the lock for as long as the token post can take (connect plus read timeout).

    Otherwise a slow provider could outlast a short lock, and a second refresher would present
    the same single-use token again: one of the two answers would then be refused.
    """
    settings = runtime.settings
    needed = 2 * settings.http_timeout_seconds + 1
    if settings.refresh_lock_ttl_seconds < needed:
        runtime.locks.extend(lease, needed)


def _save_answer(
    runtime: Runtime, credential: Credential, updated: Credential, lease: Lease
) -> Credential:
    """Save the new pair to Redis (the mirror follows separately), riding out Redis hiccups.

    If a retried write had in fact landed before its reply was lost, the store now holds our
    pair one version up: that is success, not a conflict.
    """
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type((redis.ConnectionError, redis.TimeoutError)),
        stop=tenacity.stop_after_attempt(len(SAVE_RETRY_DELAYS) + 1),
        wait=tenacity.wait_chain(*(tenacity.wait_fixed(d) for d in SAVE_RETRY_DELAYS)),
        sleep=runtime.sleep,
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            try:
                result: SaveResult = runtime.store.save(
                    updated, expected_version=credential.version, fence=lease.fence, mirror=False
                )
            except VersionConflict:
                if attempt.retry_state.attempt_number > 1:
                    held = runtime.store.get(credential.provider, credential.account_id)
                    if (
                        held is not None
                        and held.refresh_token == updated.refresh_token
                        and held.version == credential.version + 1
                    ):
                        return held
                raise
            return result.credential
    raise AssertionError("unreachable: tenacity re-raises the last error")


def _back_off(
    runtime: Runtime, credential: Credential, error: str, retry_after: float | None
) -> tuple[int, float]:
    key = backoff_key(credential.provider, credential.account_id)
    previous = Backoff.parse(runtime.redis.get(key))
    attempts = (previous.attempts if previous else 0) + 1
    settings = runtime.settings
    delay = backoff_delay(
        attempts,
        settings.refresh_backoff_base_seconds,
        settings.refresh_backoff_max_seconds,
        retry_after,
    )
    next_at = runtime.clock.now() + delay
    runtime.redis.set(
        key,
        json.dumps({"attempts": attempts, "next_attempt_at": next_at, "error": error[:200]}),
        ex=BACKOFF_TTL,
    )
    return attempts, next_at


SCOPE_MISSING = "scope_missing"


def mark_scope_missing(runtime: Runtime, credential: Credential, scope: str) -> bool:
    """The provider refused a call because the grant lacks ``scope``: no refresh can add it, so
    mark the credential ``needs_reauth`` (reason ``scope_missing``, naming the scope to grant)
    and let nothing retry. False when the lock is busy or the credential changed meanwhile (the
    next refused call marks it)."""
    lease = runtime.locks.try_acquire(keys.lock_key(credential.provider, credential.account_id))
    if lease is None:
        return False
    try:
        current = runtime.store.get(credential.provider, credential.account_id)
        if current is None or current.state is not CredentialState.ACTIVE:
            return False
        reason = f"{SCOPE_MISSING}: reconnect and grant {scope}"
        marked = current.replace(state=CredentialState.NEEDS_REAUTH, last_error=reason)
        try:
            runtime.store.save(marked, expected_version=current.version, fence=lease.fence)
        except VersionConflict:
            return False
    finally:
        runtime.locks.release(lease)
    log.warning(
        "credential needs re-authorization",
        extra={
            "provider": credential.provider,
            "account": credential.account_id,
            "reason": SCOPE_MISSING,
            "scope": scope,
        },
    )
    return True


def _mark_needs_reauth(
    runtime: Runtime, credential: Credential, reason: str, lease: Lease, result: RefreshResult
) -> tuple[Credential | None, bool]:
    """Keep the credential for inspection, flagged; never touch its tokens. ``result`` is
    counted in the same write (a lost chain must not go uncounted because the process died
    between the two); the flag is whether it was."""
    marked = credential.replace(state=CredentialState.NEEDS_REAUTH, last_error=reason)
    try:
        saved = runtime.store.save(
            marked, expected_version=credential.version, fence=lease.fence, count=result.value
        )
    except VersionConflict:
        return runtime.store.get(credential.provider, credential.account_id), False
    return saved.credential, True
