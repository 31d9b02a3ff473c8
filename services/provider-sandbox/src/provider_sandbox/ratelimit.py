"""Strava's per-application rate limits: overall and read buckets, 15-minute and daily windows.

Windows are aligned to the sandbox clock the way Strava aligns them to wall time: the short
window is ``floor(now / window_seconds)`` (resets at :00/:15/:30/:45 by default) and the
daily one ``floor(now / day_seconds)`` (midnight UTC). Every request counts in the overall
bucket and every *non-upload* request (all but creating an activity, uploading a file and
uploading media) also in the read bucket. A request over a limit is refused with 429 and still
counts towards the daily windows ("requests violating the short term limit will still count
toward the long term limit"). Source for both: developers.strava.com/docs/rate-limits.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from .config import SandboxConfig

OVERALL, READ = "overall", "read"
REFUSED = "refused"  # requests answered 429, in the window they arrived in


@dataclass
class _Counter:
    """Usage of one bucket in the windows it was last touched in."""

    short_index: int = -1
    short: int = 0
    day_index: int = -1
    day: int = 0

    def roll(self, short_index: int, day_index: int) -> None:
        if short_index != self.short_index:
            self.short_index, self.short = short_index, 0
        if day_index != self.day_index:
            self.day_index, self.day = day_index, 0


@dataclass(frozen=True)
class Usage:
    """Current usage of one application, as reported in the headers."""

    overall: tuple[int, int]
    read: tuple[int, int]


def _over(used: tuple[int, int], limit: tuple[int, int]) -> bool:
    return used[0] >= limit[0] or used[1] >= limit[1]


HISTORY_WINDOWS = 10_000

# The endpoints outside Strava's "non-upload" (read) bucket: creating an activity, uploading a
# file, uploading media (developers.strava.com/docs/rate-limits).
_UPLOAD_PATHS = ("/api/v3/activities", "/api/v3/uploads")


def is_upload(method: str, path: str) -> bool:
    """True for the few requests Strava counts only in the overall bucket."""
    if method != "POST":
        return False
    trimmed = path.rstrip("/")
    return trimmed in _UPLOAD_PATHS or trimmed.endswith("/media")


class RateLimiter:
    """Counts /api/v3 requests per application (client id).

    Besides the live counters it keeps, per application, what each short window counted in
    each bucket and how many requests it refused (the last ``HISTORY_WINDOWS`` windows), so a
    benchmark can check a client's precision window by window after the fact.
    """

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._counters: dict[tuple[str, str], _Counter] = {}
        self._history: dict[tuple[str, str], dict[int, int]] = {}

    def _counter(self, client_id: str, bucket: str, now: float, config: SandboxConfig) -> _Counter:
        counter = self._counters.setdefault((client_id, bucket), _Counter())
        counter.roll(int(now // config.window_seconds), int(now // config.day_seconds))
        return counter

    def _usage(self, client_id: str, now: float, config: SandboxConfig) -> Usage:
        overall = self._counter(client_id, OVERALL, now, config)
        read = self._counter(client_id, READ, now, config)
        return Usage((overall.short, overall.day), (read.short, read.day))

    def usage(self, client_id: str, now: float, config: SandboxConfig) -> Usage:
        with self._lock:
            return self._usage(client_id, now, config)

    def hit(
        self, client_id: str, method: str, now: float, config: SandboxConfig, path: str = ""
    ) -> tuple[bool, Usage]:
        """Count one request if it fits; return (allowed, usage after the decision)."""
        is_read = not is_upload(method, path)
        buckets = (OVERALL, READ) if is_read else (OVERALL,)
        with self._lock:
            usage = self._usage(client_id, now, config)
            if _over(usage.overall, config.rate_limit_overall) or (
                is_read and _over(usage.read, config.rate_limit_read)
            ):
                self._remember(client_id, REFUSED, now, config, 1)
                for bucket in buckets:  # refused, yet counted towards the day
                    self._counter(client_id, bucket, now, config).day += 1
                return False, self._usage(client_id, now, config)
            for bucket in buckets:
                counter = self._counter(client_id, bucket, now, config)
                counter.short += 1
                counter.day += 1
                self._remember(client_id, bucket, now, config, 1)
            return True, self._usage(client_id, now, config)

    def _remember(
        self, client_id: str, kind: str, now: float, config: SandboxConfig, count: int
    ) -> None:
        windows = self._history.setdefault((client_id, kind), {})
        index = int(now // config.window_seconds)
        windows[index] = windows.get(index, 0) + count
        if len(windows) > HISTORY_WINDOWS:
            del windows[min(windows)]

    def history(self) -> dict[str, dict[str, list[list[int]]]]:
        """``{client: {"overall"|"read"|"refused": [[window index, count], ...]}}``."""
        with self._lock:
            view: dict[str, dict[str, list[list[int]]]] = {}
            for (client, kind), windows in sorted(self._history.items()):
                view.setdefault(client, {})[kind] = [[i, n] for i, n in sorted(windows.items())]
            return view

    def set_usage(
        self,
        client_id: str,
        now: float,
        config: SandboxConfig,
        overall: tuple[int, int] | None = None,
        read: tuple[int, int] | None = None,
    ) -> Usage:
        """Pretend ``client_id`` already used this much in the current windows."""
        with self._lock:
            for bucket, value in ((OVERALL, overall), (READ, read)):
                if value is not None:
                    counter = self._counter(client_id, bucket, now, config)
                    counter.short, counter.day = value
            return self._usage(client_id, now, config)

    def all_usage(self, now: float, config: SandboxConfig) -> dict[str, Usage]:
        with self._lock:
            clients = sorted({client for client, _ in self._counters})
            return {client: self._usage(client, now, config) for client in clients}

    def reset(self) -> None:
        with self._lock:
            self._counters.clear()
            self._history.clear()


def header_pair(pair: tuple[int, int]) -> str:
    """``"200,2000"``: the 15-minute and daily values as Strava writes them."""
    return f"{pair[0]},{pair[1]}"
