"""Restoring credentials from the durable mirror when Redis has lost its data.

If Redis restarted empty (the restore marker is gone), a credential that looks missing may only
be waiting in the mirror (the Kubernetes Secret, or a directory). The first read that misses
restores every credential from the mirror (:meth:`TokenStore.ensure_restored`) instead of
answering "not connected" until the next refresher run; reads that hit never pay for the check.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import current_app
from paceline import keys
from paceline.mirror import MirrorError
from paceline.runtime import Runtime

log = logging.getLogger(__name__)

EXTENSION = "activity_api.restore"
RETRY_SECONDS = 5


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


def restored_now(runtime: Runtime) -> bool:
    """True when Redis had lost its data and the credentials are now back from the mirror, so
    a miss is worth checking again."""
    restore: MirrorRestore = current_app.extensions[EXTENSION]
    return restore.restore_if_lost(runtime)
