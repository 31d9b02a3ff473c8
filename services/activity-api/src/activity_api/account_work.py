"""The coalesced work of due accounts: where webhook events lead to upstream calls.

One rebuild (or, for exactly one activity event, the two-call patch of that activity) serves
any number of events. A deauthorization is acted on only after :func:`paceline.revocation.
confirm_revoked` says the grant is dead; otherwise nothing changes and its events count as
``rejected_unconfirmed``. Builds use the governor's background priority, so they stop a
reserve short of every limit. Work that cannot be done now raises :class:`RetryLater`, and the
account is due again in that many seconds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from paceline import keys
from paceline.cache import SummaryCache
from paceline.erasure import erase_account
from paceline.mirror import MirrorError
from paceline.revocation import confirm_revoked
from paceline.runtime import Runtime
from paceline.strava_api import PROVIDER
from paceline.upstream import TransientError

from activity_api.dirty_accounts import DirtyAccounts, DirtyWork
from activity_api.events import DEAUTHORIZE, EventKind, decoded
from activity_api.single_flight import BuildOutcome
from activity_api.summary_service import Summaries
from activity_api.webhook_outcomes import Outcome, RetryLater, RetryReason, record_outcome

log = logging.getLogger(__name__)


@dataclass
class WorkDone:
    """What an account's work settled: None where the work was left for its cooldown."""

    deauthorizations: Outcome | None = None
    changes: Outcome | None = None  # every other kind of event


class AccountWork:
    def __init__(
        self,
        runtime: Runtime,
        summaries: Summaries,
        cache: SummaryCache,
        accounts: DirtyAccounts,
    ) -> None:
        self.runtime = runtime
        self.summaries = summaries
        self.cache = cache
        self.accounts = accounts
        self.cooldown_seconds = float(runtime.settings.webhook_cooldown_seconds)
        self.grant_seconds = float(runtime.settings.webhook_grant_check_seconds)

    def work_due(self, limit: int = 20) -> int:
        """Work through up to ``limit`` due accounts; return how many were worked on."""
        taken = self.accounts.claim(self.runtime.clock.now(), limit)
        for account in taken:
            self._work_account(account)
        return len(taken)

    def _work_account(self, account: str) -> None:
        try:
            keys.check_ident(account, "account id")
        except ValueError:
            self.accounts.forget(account)
            return
        mark = self.accounts.read(account)
        work = mark.work
        now = self.runtime.clock.now()
        rebuild_after, grant_after = mark.rebuild_after, mark.grant_after
        check_grant = work.deauthorizations > 0 and grant_after <= now
        rebuild = work.changes > 0 and rebuild_after <= now
        # The cooldowns start now: events arriving while we work wait for the next slot.
        if check_grant:
            grant_after = self.accounts.hold_grant_checks(account, now, self.grant_seconds)
        if rebuild:
            rebuild_after = self.accounts.hold_rebuilds(account, now, self.cooldown_seconds)
        try:
            done = self.process(account, work, check_grant=check_grant, rebuild=rebuild)
        except RetryLater as wait:
            if rebuild and not wait.rebuilt:  # someone else was building: keep the slot
                self.accounts.release_rebuilds(account)
            self.accounts.retry_at(account, now + wait.seconds)
            log.info(
                "webhook work will be retried",
                extra={
                    "account": account,
                    "reason": wait.reason.value,
                    "detail": wait.detail,
                    "in_seconds": wait.seconds,
                },
            )
            return
        log.info(
            "webhook work done",
            extra={
                "account": account,
                "deauthorizations": done.deauthorizations,
                "changes": done.changes,
                "events": dict(work.counts),
            },
        )
        covered = {}
        for (name, value), text in zip(mark.fields.items(), decoded(mark.fields), strict=True):
            outcome = done.deauthorizations if text == DEAUTHORIZE else done.changes
            if outcome is None:
                continue  # left for its cooldown to end
            covered[name] = value
            count = work.counts.get(text)
            if count:
                record_outcome(self.runtime.redis, EventKind(text), outcome, count)
        self.accounts.complete(account, covered, max(rebuild_after, now), max(grant_after, now))

    def process(
        self, account: str, work: DirtyWork, *, check_grant: bool = True, rebuild: bool = True
    ) -> WorkDone:
        """Do one account's coalesced work, or raise :class:`RetryLater`."""
        done = WorkDone()
        if check_grant and work.deauthorizations:
            try:
                revoked = confirm_revoked(self.runtime, PROVIDER, account)
            except TransientError as error:
                wait = getattr(error, "retry_after", None) or 30.0
                raise RetryLater(RetryReason.GRANT_CHECK_FAILED, wait, detail=str(error)) from None
            if revoked:
                try:
                    erase_account(self.runtime.store, PROVIDER, account)
                except MirrorError as error:
                    raise RetryLater(RetryReason.MIRROR_FAILED, 10.0, detail=str(error)) from None
                self.cache.forget(PROVIDER, account)  # this process's memory too
                return WorkDone(deauthorizations=Outcome.DEAUTHORIZED, changes=Outcome.IGNORED)
            done.deauthorizations = Outcome.REJECTED_UNCONFIRMED
        if not (rebuild and work.changes):
            return done
        if self.runtime.store.get(PROVIDER, account) is None:
            done.changes = Outcome.IGNORED  # no longer connected
            return done
        patch = work.patch_activity
        if patch is not None:
            outcome = self.summaries.refresh_activity(account, patch, gone=False, trigger="webhook")
        else:
            outcome = self.summaries.rebuild(account, trigger="webhook")
        if outcome in (BuildOutcome.BUILT, BuildOutcome.ACCOUNT_UNAVAILABLE):
            done.changes = Outcome.REFRESHED if outcome is BuildOutcome.BUILT else Outcome.IGNORED
            return done
        if outcome is BuildOutcome.BUSY:
            raise RetryLater(RetryReason.BUILD_RUNNING, 5.0, rebuilt=False)
        # The provider said something changed and could not be asked: readers see the summary
        # marked stale (its own cooldown paces their refreshes) until the retry succeeds.
        self.cache.invalidate(PROVIDER, account)
        left = self.cache.cooldown_left(PROVIDER, account)
        seconds = left or float(self.runtime.settings.summary_retry_seconds)
        raise RetryLater(RetryReason.SUMMARY_NOT_BUILT, seconds, detail=str(outcome))
