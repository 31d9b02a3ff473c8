"""One refresher pass over every credential that is due."""

from __future__ import annotations

import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from paceline.credential import CredentialState, refresh_due
from paceline.refresh import RefreshOutcome, RefreshResult, refresh_credential
from paceline.runstatus import RunStatus, write_run_status
from paceline.runtime import Runtime

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 8


@dataclass(frozen=True)
class PassOptions:
    provider: str | None = None
    account: str | None = None
    dry_run: bool = False
    force: bool = False
    workers: int | None = None


@dataclass
class PassReport:
    counts: Counter[str] = field(default_factory=Counter)
    would_refresh: list[tuple[str, str, float]] = field(default_factory=list)
    duration_seconds: float = 0.0
    restored: int = 0
    mirror_synced: int = 0

    @property
    def failed(self) -> bool:
        return any(
            self.counts[r.value]
            for r in (
                RefreshResult.TRANSIENT_ERROR,
                RefreshResult.NEEDS_REAUTH,
                RefreshResult.LOST_CHAIN,
            )
        )

    def summary(self) -> dict[str, Any]:
        return {
            "event": "refresher pass finished",
            "counts": dict(sorted(self.counts.items())),
            "duration_seconds": round(self.duration_seconds, 3),
            "restored_from_mirror": self.restored,
            "mirror_synced": self.mirror_synced,
            "ok": not self.failed,
        }


def run_pass(runtime: Runtime, options: PassOptions) -> PassReport:
    started = time.monotonic()
    report = PassReport()
    status = RunStatus(started_at=runtime.clock.now())
    if not options.dry_run:
        write_run_status(runtime.redis, status)
        report.restored = runtime.store.ensure_restored()
        report.mirror_synced = runtime.store.sync_mirror()
    candidates = [
        c
        for c in runtime.store.list(options.provider)
        if options.account is None or c.account_id == options.account
    ]
    now = runtime.clock.now()
    due = []
    for credential in candidates:
        if credential.provider not in runtime.providers:
            log.warning("credential of an unconfigured provider", extra={"provider": credential.provider})
            continue
        lead = runtime.providers.get(credential.provider).refresh_lead_seconds
        if credential.state is CredentialState.ACTIVE and (
            options.force or refresh_due(credential, now, lead)
        ):
            due.append(credential)
        else:
            report.counts[RefreshResult.SKIPPED.value] += 1
    if options.dry_run:
        report.would_refresh = [(c.provider, c.account_id, c.expires_at - now) for c in due]
        report.duration_seconds = time.monotonic() - started
        return report

    workers = max(1, options.workers or DEFAULT_WORKERS)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="refresh") as pool:
        for outcome in pool.map(
            lambda c: refresh_credential(runtime, c.provider, c.account_id, force=options.force),
            due,
        ):
            _log_outcome(outcome)
            report.counts[outcome.result.value] += 1
    report.duration_seconds = time.monotonic() - started
    status.finished_at = runtime.clock.now()
    status.counts = dict(report.counts)
    status.ok = not report.failed
    status.duration_seconds = report.duration_seconds
    if status.ok:
        status.last_success_at = status.finished_at
    write_run_status(runtime.redis, status)
    log.info("refresher pass finished", extra=report.summary())
    return report


def _log_outcome(outcome: RefreshOutcome) -> None:
    level = logging.ERROR if outcome.failed else logging.INFO
    log.log(
        level,
        "credential handled",
        extra={
            "provider": outcome.provider,
            "account": outcome.account_id,
            "result": outcome.result.value,
            "detail": outcome.detail,
        },
    )
