"""The gateway's signing key and signed, timestamped values (cookies and CSRF tokens).

The key is ``PACELINE_SESSION_SECRET``. When it is not set, a random key is created once in
Redis and shared by every worker and replica (a per-process key would make a cookie set by one
worker unreadable by the next). Timestamps come from the runtime's clock, so tests can age a
cookie without sleeping.
"""

from __future__ import annotations

import logging
import secrets
import threading
from typing import Any

from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from paceline import keys
from paceline.clock import Clock
from paceline.runtime import Runtime

log = logging.getLogger(__name__)

GENERATED_KEY = f"{keys.NAMESPACE}:meta:session-secret"


class ClockSigner(TimestampSigner):
    """itsdangerous's timestamp signer, reading time from paceline's injected clock."""

    def __init__(self, *args: Any, clock: Clock, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock

    def get_timestamp(self) -> int:
        return int(self.clock.now())


class SessionKey:
    """Resolved on first use, so the gateway starts (and reports not-ready) without Redis."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._key: bytes | None = None
        self._lock = threading.Lock()

    def get(self) -> bytes:
        with self._lock:
            if self._key is None:
                self._key = self._resolve()
            return self._key

    def _resolve(self) -> bytes:
        configured = self.runtime.settings.session_secret
        if configured is not None:
            return configured.get_secret_value().encode()
        client = self.runtime.redis
        if client.set(GENERATED_KEY, secrets.token_urlsafe(48), nx=True):
            log.warning(
                "PACELINE_SESSION_SECRET is not set; generated a signing key and kept it in Redis"
            )
        value = client.get(GENERATED_KEY)
        if not isinstance(value, bytes):
            raise RuntimeError("the generated session key vanished from Redis")
        return value

    def serializer(self, salt: str) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(
            self.get(),
            salt=salt,
            signer=ClockSigner,
            signer_kwargs={"clock": self.runtime.clock},
        )
