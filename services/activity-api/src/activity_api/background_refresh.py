"""Refreshing stale summaries behind the reads that found them stale.

A small thread pool per worker process. Only whoever wins the build lock schedules a refresh
(:mod:`activity_api.single_flight`), so a thousand stale reads across replicas start one; the
pool's queue is bounded too, and beyond it reads simply serve stale.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)


class BackgroundRefresher:
    def __init__(self, threads: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="summary-refresh")
        # Queued + running refreshes; beyond this, reads simply serve stale.
        self._slots = threading.BoundedSemaphore(threads * 4)
        self.closed = False

    def reserve(self) -> bool:
        """A place in the queue, if there is one; :meth:`start` or :meth:`cancel` follows."""
        return not self.closed and self._slots.acquire(blocking=False)

    def cancel(self) -> None:
        """The reserved place is not used after all."""
        self._slots.release()

    def start(self, job: Callable[[], object]) -> bool:
        """Run ``job`` in the reserved place; False (and the place freed) when shutting down."""
        try:
            self._pool.submit(self._run, job)
        except RuntimeError:  # shutting down
            self._slots.release()
            return False
        return True

    def _run(self, job: Callable[[], object]) -> None:
        try:
            job()
        except Exception:
            log.exception("background summary refresh crashed")
        finally:
            self._slots.release()

    def close(self) -> None:
        self.closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
