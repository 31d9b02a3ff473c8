"""Injectable faults: error statuses, latency, hung connections and malformed bodies.

A fault matches a request path (exactly, or as a glob such as ``/api/v3/*``; ``*`` means
every provider endpoint) and optionally a method. It applies to the next ``times`` matching
requests, or until cleared when ``times`` is null. Control endpoints under ``/_sandbox/`` are
never faulted, so a test can always clear what it injected.
"""

from __future__ import annotations

import fnmatch
import itertools
import threading
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Fault:
    id: int
    match: str
    method: str | None = None
    status: int | None = None
    latency_ms: int = 0
    timeout: bool = False
    hang_seconds: float = 30.0
    malformed: bool = False
    times: int | None = None
    applied: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        if self.match == "*":
            return True
        if "*" in self.match or "?" in self.match:
            return fnmatch.fnmatchcase(path, self.match)
        return path == self.match

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["remaining"] = None if self.times is None else self.times - self.applied
        return data


class FaultInjector:
    """The list of active faults; the first match with uses left wins."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._release = threading.Event()

    def add(self, **fields: Any) -> Fault:
        with self._lock:
            fault = Fault(id=next(self._ids), **fields)
            self._faults.append(fault)
            return fault

    def active(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def remove(self, fault_id: int) -> bool:
        with self._lock:
            before = len(self._faults)
            self._faults = [f for f in self._faults if f.id != fault_id]
            return len(self._faults) != before

    def clear(self) -> None:
        """Drop every fault and wake requests that are hanging because of one."""
        with self._lock:
            self._faults = []
            self._release.set()
            self._release = threading.Event()

    def take(self, method: str, path: str) -> Fault | None:
        """The fault to apply to this request, with one use consumed."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.applied += 1
                    if fault.times is not None and fault.applied >= fault.times:
                        self._faults.remove(fault)
                    return fault
            return None

    def hang(self, seconds: float) -> None:
        """Block like a stuck upstream; ``clear()`` releases the wait early."""
        with self._lock:
            release = self._release
        release.wait(seconds)
