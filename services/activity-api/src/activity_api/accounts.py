"""Which accounts the public API may show: connected ones only, and which one is primary.

Both checks restore credentials from the durable mirror when they find none and Redis has lost
its data (:class:`MirrorRestore`), so an empty Redis does not make accounts look disconnected:
if Redis restarted empty (the restore marker is gone), the first read that misses restores
every credential from the mirror (the Kubernetes Secret, or a directory) instead of answering
"not connected" until the next refresher run; reads that hit never pay for the check.

Finding the first connected account (:meth:`Accounts.primary`) reads every credential record:
too much for every page view. So each worker remembers the answer for a while and
the route checks on each read that it is still connected, in the same round trip that reads
the cache (:meth:`~paceline.cache.SummaryCache.lookup`); when it is not, the route resolves
again at once. The one other change, an account connected *earlier* appearing (only
credentials restored from the mirror do that), is picked up within ``recheck_seconds``.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable

from paceline import keys
from paceline.mirror import MirrorError
from paceline.runtime import Runtime
from paceline.strava_api import PROVIDER

log = logging.getLogger(__name__)

# Strava athlete ids are positive integers; anything else is not an account we could have.
ATHLETE_ID = re.compile(r"^[1-9][0-9]{0,19}$")
RETRY_SECONDS = 5


class Accounts:
    """This worker's view of the connected accounts, and of the primary one."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        restore: MirrorRestore | None = None,
        recheck_seconds: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runtime = runtime
        self.restore = restore or MirrorRestore()
        self.recheck_seconds = recheck_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._remembered: tuple[str, float] | None = None  # primary account, remembered until

    def is_connected(self, account_id: str) -> bool:
        """A credential exists for the account (whatever its state): its summary may be
        shown."""
        if not ATHLETE_ID.match(account_id):
            return False
        store = self.runtime.store
        if store.exists(PROVIDER, account_id):
            return True
        return self.restore.restore_if_lost(self.runtime) and store.exists(PROVIDER, account_id)

    def primary(self) -> str | None:
        """The configured primary account, else the first connected Strava account.

        Reads the stored records without opening any token (only ``created_at`` is needed).
        """
        configured = self.runtime.settings.primary_account
        if configured:
            return configured if self.is_connected(configured) else None
        members = self._members()
        if not members and self.restore.restore_if_lost(self.runtime):
            members = self._members()
        if not members:
            return None
        created = self.runtime.store.created_at(PROVIDER, members)
        candidates = [(created[account], account) for account in members if account in created]
        return min(candidates)[1] if candidates else None

    def _members(self) -> list[str]:
        members = self.runtime.store.members()
        return [account for provider, account in members if provider == PROVIDER]

    def remembered_primary(self) -> str | None:
        """The primary account's id as last resolved (not checked as connected), if any."""
        configured = self.runtime.settings.primary_account
        if configured:
            return configured
        remembered = self._remembered  # one read of an immutable pair: no lock on the hot path
        if remembered is not None and self._monotonic() < remembered[1]:
            return remembered[0]
        return None

    def resolve_primary(self) -> str | None:
        """Resolve now (the full check of :meth:`primary`) and remember the answer."""
        account = self.primary()
        until = self._monotonic() + self.recheck_seconds
        with self._lock:
            self._remembered = None if account is None else (account, until)
        return account


# --- restoring from the mirror ---------------------------------------------------------------
class CredentialsNotRestored(Exception):
    """Redis lost its data and the mirror could not be read: whether an account is connected
    is unknown for now (a 503 with Retry-After, not a 404)."""

    retry_after = RETRY_SECONDS


class MirrorRestore:
    """One worker's side of the restore: one attempt at a time, and after a failure no new
    attempt for ``retry_seconds`` (a mirror that is down is not hammered by every read)."""

    def __init__(self, retry_seconds: float = RETRY_SECONDS) -> None:
        self.retry_seconds = retry_seconds
        self._lock = threading.Lock()
        self._failed_at = -float("inf")

    def restore_if_lost(self, runtime: Runtime) -> bool:
        """Restore if Redis has lost its data; True when it had (whoever restored it: another
        worker may have put the credentials back first, so a miss is worth checking again)."""
        if runtime.redis.exists(keys.RESTORED_MARKER):
            return False
        with self._lock:
            if time.monotonic() - self._failed_at < self.retry_seconds:
                raise CredentialsNotRestored("the credential store is being restored")
            try:
                restored = runtime.store.ensure_restored()
            except MirrorError as error:
                self._failed_at = time.monotonic()
                log.error(
                    "Redis lost its data and the mirror cannot be read",
                    extra={"error": str(error)},
                )
                raise CredentialsNotRestored("the credential store is being restored") from None
        if restored:
            log.warning("credentials restored from the mirror on a read", extra={"count": restored})
        return True
