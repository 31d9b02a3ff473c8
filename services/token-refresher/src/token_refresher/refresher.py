"""One refresher pass over every credential that is due.

The pass restores Redis from the mirror if Redis has lost its data, re-syncs mirror writes that
failed earlier, then walks the credential index in batches (never loading every credential at
once) and hands each due credential to the shared refresh path on a bounded worker pool. It
writes its run status to Redis and ends with one summary log line.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import redis
from paceline import keys
from paceline.credential import Credential
from paceline.mirror import MirrorError
from paceline.refresh import (
    Backoff,
    Checkpoint,
    Decision,
    RefreshOutcome,
    RefreshResult,
    backoff_key,
    decide,
    inflight_key,
    log_outcome,
    parse_inflight,
    refresh_credential,
)
from paceline.runstatus import RunStatus, record_refresh, write_run_status
from paceline.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PassOptions:
    provider: str | None = None
    account: str | None = None
    dry_run: bool = False
    force: bool = False
    workers: int | None = None  # default: settings.refresher_workers
    batch_size: int | None = None  # default: settings.refresher_batch_size
    checkpoint: Checkpoint | None = None  # test hook, see token_refresher.crashpoints


@dataclass(frozen=True)
class Planned:
    """A dry run's line: what a real pass would do with one credential."""

    provider: str
    account_id: str
    decision: Decision
    expires_in: float
    next_attempt_in: float | None = None

    def describe(self) -> str:
        who = f"{self.provider}:{self.account_id}"
        expiry = (
            f"expires in {int(self.expires_in)}s"
            if self.expires_in >= 0
            else f"expired {int(-self.expires_in)}s ago"
        )
        if self.decision is Decision.DEFER:
            return f"would wait {who} ({expiry}; backing off for {int(self.next_attempt_in or 0)}s)"
        if self.decision is Decision.RECOVER:
            return f"would recover {who} ({expiry}; an earlier refresh did not finish)"
        return f"would refresh {who} ({expiry})"


def percentiles(values: Iterable[float]) -> dict[str, float]:
    """p50, p99 and max (nearest rank) in milliseconds of values in seconds; {} when empty."""
    ordered = sorted(values)
    if not ordered:
        return {}

    def rank(q: float) -> float:
        index = max(0, min(len(ordered) - 1, int(q * len(ordered) + 0.999999) - 1))
        return round(ordered[index] * 1000, 3)

    return {"n": len(ordered), "p50": rank(0.50), "p99": rank(0.99), "max": rank(1.0)}


@dataclass
class PassReport:
    counts: Counter[str] = field(default_factory=Counter)
    planned: list[Planned] = field(default_factory=list)
    duration_seconds: float = 0.0
    restored: int = 0
    restore_failed: bool = False
    mirror_synced: int = 0
    mirror_pending: int = 0  # mirror writes this pass could not make (left for the next)
    unconfigured: int = 0
    unreadable: int = 0
    answer_to_save: list[float] = field(default_factory=list)
    provider_latency: list[float] = field(default_factory=list)
    # Providers that refused the application itself: {provider: the setting to fix}.
    application_errors: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return bool(
            sum(self.counts[r.value] for r in RefreshResult if r.value in _FAILED)
            or self.mirror_pending
            or self.restore_failed
            or self.unreadable
        )

    @property
    def handled(self) -> int:
        return sum(self.counts.values())

    def add(self, outcome: RefreshOutcome) -> None:
        self.counts[outcome.result.value] += 1
        if outcome.mirrored is False:
            self.mirror_pending += 1
        if outcome.answer_to_save_seconds is not None:
            self.answer_to_save.append(outcome.answer_to_save_seconds)
        if outcome.provider_seconds is not None:
            self.provider_latency.append(outcome.provider_seconds)
        if outcome.result is RefreshResult.APPLICATION_ERROR and outcome.setting:
            self.application_errors[outcome.provider] = outcome.setting

    def summary(self) -> dict[str, Any]:
        return {
            "counts": dict(sorted(self.counts.items())),
            "duration_seconds": round(self.duration_seconds, 3),
            "restored_from_mirror": self.restored,
            "mirror_synced": self.mirror_synced,
            "mirror_pending": self.mirror_pending,
            "unconfigured_provider": self.unconfigured,
            "unreadable": self.unreadable,
            "answer_to_save_ms": percentiles(self.answer_to_save),
            "provider_ms": percentiles(self.provider_latency),
            "application_errors": dict(sorted(self.application_errors.items())),
            "ok": not self.failed,
        }


_FAILED = {
    RefreshResult.TRANSIENT_ERROR.value,
    RefreshResult.NEEDS_REAUTH.value,
    RefreshResult.LOST_CHAIN.value,
    RefreshResult.DEFERRED.value,
    RefreshResult.APPLICATION_ERROR.value,
}


@dataclass(frozen=True)
class Candidate:
    credential: Credential
    inflight: dict[str, Any] | None
    backoff: Backoff | None


def candidates(
    runtime: Runtime, options: PassOptions, batch_size: int, report: PassReport
) -> Iterator[list[Candidate]]:
    """Credentials matching the filters, a batch at a time (SSCAN + one pipeline per batch)."""
    if options.provider and options.account:
        members: Iterable[tuple[str, str]] = [(options.provider, options.account)]
    else:
        members = (
            keys.split_member(m)
            for m in runtime.redis.sscan_iter(keys.CREDENTIAL_INDEX, count=batch_size)
        )
    batch: list[tuple[str, str]] = []
    for provider, account in members:
        if options.provider not in (None, provider) or options.account not in (None, account):
            continue
        batch.append((provider, account))
        if len(batch) >= batch_size:
            yield _read_batch(runtime, batch, report)
            batch = []
    if batch:
        yield _read_batch(runtime, batch, report)


def _read_batch(
    runtime: Runtime, members: list[tuple[str, str]], report: PassReport
) -> list[Candidate]:
    """The batch's credentials with their in-flight and back-off records: one round trip."""
    found = []
    for stored in runtime.store.get_many(members, beside=(inflight_key, backoff_key)):
        if stored.error is not None:  # corrupt, or sealed with another encryption key
            report.unreadable += 1
            log.error(
                "credential unreadable",
                extra={
                    "provider": stored.provider,
                    "account": stored.account_id,
                    "error": type(stored.error).__name__,
                },
            )
            continue
        if stored.credential is None:
            continue
        raw_inflight, raw_backoff = stored.beside
        found.append(
            Candidate(stored.credential, parse_inflight(raw_inflight), Backoff.parse(raw_backoff))
        )
    return found


def run_pass(runtime: Runtime, options: PassOptions) -> PassReport:
    started = time.monotonic()
    report = PassReport()
    status = RunStatus(started_at=runtime.clock.now())
    if not options.dry_run:
        write_run_status(runtime.redis, status)
        _reconcile_mirror(runtime, report)
    settings = runtime.settings
    workers = max(1, options.workers or settings.refresher_workers)
    batch_size = max(1, options.batch_size or settings.refresher_batch_size)
    pending: set[Future[RefreshOutcome]] = set()

    def collect(done: Iterable[Future[RefreshOutcome]]) -> None:
        for future in done:
            report.add(future.result())

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="refresh") as pool:
        for batch in candidates(runtime, options, batch_size, report):
            now = runtime.clock.now()
            for candidate in batch:
                credential = candidate.credential
                if credential.provider not in runtime.providers:
                    report.unconfigured += 1
                    continue
                lead = runtime.providers.get(credential.provider).refresh_lead_seconds
                decision = decide(
                    credential,
                    now,
                    lead,
                    inflight=candidate.inflight,
                    backoff=candidate.backoff,
                    force=options.force,
                )
                if decision in (Decision.NOT_DUE, Decision.INACTIVE):
                    report.counts[RefreshResult.SKIPPED.value] += 1
                    continue
                if options.dry_run:
                    report.planned.append(_plan(candidate, decision, now))
                    continue
                if len(pending) >= 2 * workers:  # bounded: never queue the whole index
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    collect(done)
                pending.add(
                    pool.submit(
                        _refresh_one, runtime, credential.provider, credential.account_id, options
                    )
                )
        collect(wait(pending).done)

    report.duration_seconds = time.monotonic() - started
    if options.dry_run:
        log.info("refresher dry run finished", extra=_dry_summary(report))
        return report
    status.finished_at = runtime.clock.now()
    status.counts = dict(report.counts)
    status.ok = not report.failed
    status.duration_seconds = report.duration_seconds
    status.mirror_pending = report.mirror_pending
    status.answer_to_save_ms = percentiles(report.answer_to_save)
    status.application_errors = dict(report.application_errors)
    if status.ok:
        status.last_success_at = status.finished_at
    write_run_status(runtime.redis, status)
    level = logging.INFO if status.ok else logging.ERROR
    log.log(level, "refresher pass finished", extra=report.summary())
    return report


def _reconcile_mirror(runtime: Runtime, report: PassReport) -> None:
    """Restore Redis from the mirror if it lost its data; push mirror writes that failed."""
    try:
        report.restored = runtime.store.ensure_restored()
    except MirrorError as error:
        report.restore_failed = True
        log.error("could not read the mirror to check for a restore", extra={"error": str(error)})
    # Only this pass's own failures count: a concurrent writer's member is in the pending set
    # for the moment between its Redis save and its mirror write.
    waiting = len(runtime.store.pending_mirror())
    report.mirror_synced = runtime.store.sync_mirror()
    report.mirror_pending += max(0, waiting - report.mirror_synced)


def _refresh_one(
    runtime: Runtime, provider: str, account_id: str, options: PassOptions
) -> RefreshOutcome:
    try:
        return refresh_credential(
            runtime, provider, account_id, force=options.force, checkpoint=options.checkpoint
        )
    except Exception as error:
        # Trouble with this credential only (Redis hiccup, an unreadable record): count it as a
        # failure of this run and carry on with the rest.
        outcome = RefreshOutcome(
            provider, account_id, RefreshResult.TRANSIENT_ERROR, f"{type(error).__name__}: {error}"
        )
        log_outcome(outcome)
        with contextlib.suppress(redis.RedisError):
            record_refresh(runtime.redis, provider, outcome.result.value)
        return outcome


def _plan(candidate: Candidate, decision: Decision, now: float) -> Planned:
    credential = candidate.credential
    wait_for = None
    if decision is Decision.DEFER and candidate.backoff is not None:
        wait_for = candidate.backoff.next_attempt_at - now
    return Planned(
        credential.provider,
        credential.account_id,
        decision,
        credential.expires_at - now,
        wait_for,
    )


def _dry_summary(report: PassReport) -> dict[str, Any]:
    by_decision = Counter(p.decision.value for p in report.planned)
    return {
        "dry_run": True,
        "would": dict(sorted(by_decision.items())),
        "not_due": report.counts[RefreshResult.SKIPPED.value],
        "unconfigured_provider": report.unconfigured,
        "duration_seconds": round(report.duration_seconds, 3),
    }
