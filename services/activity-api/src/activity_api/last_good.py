"""Each worker's last good summary per account, served (stale) while Redis is unreachable.

Every summary a worker serves passes through its memory anyway; keeping the last one per
account (bounded: ``size`` accounts, least recently served dropped first) lets a Redis outage
look like a provider outage to widget callers: the summary they were shown, marked stale with
its age, instead of a 503. Only while Redis cannot be asked, and only for an account this worker
saw connected within ``max_age_seconds``: an account that is disconnected is forgotten as soon
as a read finds it gone, and every copy is dropped when any read sees that an account was
erased anywhere (:data:`paceline.erasure.ERASURES_KEY` moved).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from paceline.cache import CachedSummary


class LastGood:
    def __init__(
        self,
        size: int = 256,
        max_age_seconds: float = 600.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.size = size
        self.max_age_seconds = max_age_seconds
        self._monotonic = monotonic
        self._entries: OrderedDict[str, tuple[CachedSummary, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0

    def remember(self, account_id: str, entry: CachedSummary) -> None:
        """``entry`` was just served for ``account_id``, a connected account."""
        now = self._monotonic()
        with self._lock:
            self._entries[account_id] = (entry, now)
            self._entries.move_to_end(account_id)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def keep_generation(self, erasures: int) -> None:
        """``erasures`` is the store's erasure count now: when it moved, forget everything (an
        erased account's copy must not be served during a later Redis outage)."""
        if erasures != self._generation:
            with self._lock:
                self._generation = erasures
                self._entries.clear()

    def forget(self, account_id: str) -> None:
        with self._lock:
            self._entries.pop(account_id, None)

    def recall(self, account_id: str) -> CachedSummary | None:
        """The last summary served for the account, if it was seen connected recently."""
        with self._lock:
            kept = self._entries.get(account_id)
        if kept is None or self._monotonic() - kept[1] > self.max_age_seconds:
            return None
        return kept[0]

    def __len__(self) -> int:
        return len(self._entries)
