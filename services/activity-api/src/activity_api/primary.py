"""The primary account as each worker remembers it, for ``GET /v1/strava/summary``.

Finding the first connected account (:func:`~activity_api.accounts.primary_account`) reads
every credential record: too much for every page view. So a worker remembers the answer and
the route checks on each read that it is still connected, in the same round trip that reads
the cache (:meth:`~paceline.cache.SummaryCache.lookup`); when it is not, the route resolves
again at once. The one other change, an account connected *earlier* appearing (only
credentials restored from the mirror do that), is picked up within ``recheck_seconds``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from paceline.runtime import Runtime

from activity_api.accounts import primary_account


class PrimaryAccount:
    def __init__(
        self,
        runtime: Runtime,
        *,
        recheck_seconds: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runtime = runtime
        self.recheck_seconds = recheck_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._remembered: tuple[str, float] | None = None  # account, remembered until

    def remembered(self) -> str | None:
        """The primary account's id as last resolved (not checked as connected), if any."""
        configured = self.runtime.settings.primary_account
        if configured:
            return configured
        with self._lock:
            if self._remembered is not None and self._monotonic() < self._remembered[1]:
                return self._remembered[0]
        return None

    def resolve(self) -> str | None:
        """Resolve now (the full check of :func:`primary_account`) and remember the answer."""
        account = primary_account(self.runtime)
        until = self._monotonic() + self.recheck_seconds
        with self._lock:
            self._remembered = None if account is None else (account, until)
        return account
