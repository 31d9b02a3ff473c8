"""The sandbox clock: real time plus an adjustable offset, optionally frozen.

Token expiry, rate-limit windows, authorization codes, seeded activity dates and stats all
read this clock, so a test can jump six hours ahead or across a rate-limit window boundary
in a millisecond instead of waiting for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Clock:
    """Epoch seconds as the sandbox sees them."""

    def __init__(self, source: Callable[[], float] = time.time) -> None:
        self._source = source
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen_at: float | None = None

    def now(self) -> float:
        """Current sandbox time in epoch seconds."""
        with self._lock:
            if self._frozen_at is not None:
                return self._frozen_at
            return self._source() + self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock forward (or back, with a negative value); return the new now."""
        with self._lock:
            self._offset += seconds
            if self._frozen_at is not None:
                self._frozen_at += seconds
        return self.now()

    def set(self, epoch: float) -> float:
        """Jump to ``epoch``; real time keeps running from there unless frozen."""
        with self._lock:
            self._offset = epoch - self._source()
            if self._frozen_at is not None:
                self._frozen_at = epoch
        return self.now()

    def freeze(self, frozen: bool) -> float:
        """Stop (or restart) the clock so tests can reason about exact instants."""
        with self._lock:
            if frozen and self._frozen_at is None:
                self._frozen_at = self._source() + self._offset
            elif not frozen and self._frozen_at is not None:
                self._offset = self._frozen_at - self._source()
                self._frozen_at = None
        return self.now()

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    @property
    def offset(self) -> float:
        with self._lock:
            if self._frozen_at is not None:
                return self._frozen_at - self._source()
            return self._offset

    def reset(self) -> None:
        """Back to real time, running."""
        with self._lock:
            self._offset = 0.0
            self._frozen_at = None
