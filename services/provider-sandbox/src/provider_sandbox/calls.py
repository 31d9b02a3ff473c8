"""Counters of the provider calls the sandbox answered, for tests asserting call budgets.

Keys use the route template (``GET /api/v3/activities/{id}``) so counts stay meaningful and
bounded however many ids are requested. Control endpoints are not counted.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from typing import Any

RECENT_LIMIT = 200


class CallLog:
    """Totals by endpoint and status, plus the most recent calls."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._by_endpoint: Counter[str] = Counter()
        self._by_status: Counter[str] = Counter()
        self._total = 0
        self._rate_limited = 0
        self._recent: deque[dict[str, Any]] = deque(maxlen=RECENT_LIMIT)

    def record(
        self,
        endpoint: str,
        status: str,
        at: float,
        rate_limited: bool = False,
        fault: int | None = None,
    ) -> None:
        with self._lock:
            self._total += 1
            self._by_endpoint[endpoint] += 1
            self._by_status[status] += 1
            if rate_limited:
                self._rate_limited += 1
            self._recent.append(
                {"endpoint": endpoint, "status": status, "at": round(at, 3), "fault": fault}
            )

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": self._total,
                "by_endpoint": dict(sorted(self._by_endpoint.items())),
                "by_status": dict(sorted(self._by_status.items())),
                "rate_limited": self._rate_limited,
                "recent": list(self._recent),
            }

    def reset(self) -> None:
        with self._lock:
            self._by_endpoint.clear()
            self._by_status.clear()
            self._total = 0
            self._rate_limited = 0
            self._recent.clear()
