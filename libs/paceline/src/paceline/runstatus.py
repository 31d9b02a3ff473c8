"""Refresher run status and refresh counts, kept in Redis.

The refresher is a CronJob: its process is gone before Prometheus could scrape it. So it writes
what happened here, and the long-running services export it at scrape time (no Pushgateway).
Counts are cumulative Redis hash fields, so they behave as Prometheus counters.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import redis

from paceline import keys

RESULTS = (
    "refreshed",
    "skipped",
    "deferred",
    "transient_error",
    "needs_reauth",
    "lost_chain",
    "application_error",
    "revoked",
)
FAILED_RESULTS = ("deferred", "transient_error", "needs_reauth", "lost_chain", "application_error")


@dataclass
class RunStatus:
    started_at: float
    finished_at: float | None = None
    last_success_at: float | None = None
    ok: bool | None = None
    counts: dict[str, int] = field(default_factory=dict)
    duration_seconds: float | None = None
    # Credentials whose mirror write is still pending at the end of the run.
    mirror_pending: int = 0
    # Provider answer to Redis save, over this run's refreshes: {"p50": ms, "p99": ms, ...}.
    answer_to_save_ms: dict[str, float] = field(default_factory=dict)
    # Providers that refused the application itself in this run: {provider: setting to fix}.
    application_errors: dict[str, str] = field(default_factory=dict)

    @property
    def failures(self) -> int:
        return sum(self.counts.get(k, 0) for k in FAILED_RESULTS)


def refresh_total_field(provider: str, result: str) -> str:
    """The field of :data:`keys.REFRESH_TOTALS` counting ``result`` for ``provider``."""
    if result not in RESULTS:
        raise ValueError(f"unknown refresh result {result!r}")
    return f"{keys.check_ident(provider, 'provider')}|{result}"


def record_refresh(client: redis.Redis, provider: str, result: str, amount: int = 1) -> None:
    client.hincrby(keys.REFRESH_TOTALS, refresh_total_field(provider, result), amount)


def refresh_totals(client: redis.Redis) -> dict[tuple[str, str], int]:
    raw: Mapping[bytes, bytes] = client.hgetall(keys.REFRESH_TOTALS)  # type: ignore[assignment]
    totals = {}
    for name, value in raw.items():
        provider, _, result = name.decode().partition("|")
        totals[(provider, result)] = int(value)
    return totals


def write_run_status(client: redis.Redis, status: RunStatus) -> None:
    """Store the run; ``last_success_at`` survives failed runs so alerts can see the gap."""
    previous = read_run_status(client)
    if status.last_success_at is None and previous is not None:
        status.last_success_at = previous.last_success_at
    client.set(keys.REFRESHER_STATUS, json.dumps(asdict(status)))


def read_run_status(client: redis.Redis) -> RunStatus | None:
    raw: Any = client.get(keys.REFRESHER_STATUS)
    if raw is None:
        return None
    data = json.loads(raw)
    return RunStatus(**{k: v for k, v in data.items() if k in RunStatus.__dataclass_fields__})
