"""Throttled admin login: failed HTTP Basic logins are counted per client address and per user
name in Redis (shared by every replica), and after ``PACELINE_LOGIN_MAX_FAILURES`` of them the
address or name is locked out for ``PACELINE_LOGIN_LOCKOUT_SECONDS``, doubling with each further
failure up to ``PACELINE_LOGIN_LOCKOUT_MAX_SECONDS``.

The check comes before the password hash is computed: a locked-out request answers 429 with
``Retry-After`` and costs one Redis round trip, never a scrypt. Counts expire on their own (the
keys carry a TTL), so an attacker's stream of invented user names cannot fill Redis for long;
user names enter key names only as a hash.

The client address is the peer's (``REMOTE_ADDR``), or ``X-Forwarded-For`` only as far as
``PACELINE_TRUSTED_PROXY_HOPS`` proxies are trusted (werkzeug's ProxyFix; 0 by default).
"""

from __future__ import annotations

import hashlib
import math

import redis
from paceline import keys, metrics
from paceline.clock import Clock
from paceline.settings import Settings

# KEYS: the counters of the address and of the user. ARGV: now, max failures, base lockout,
# max lockout, idle expiry. Each counter is a hash {failures, locked_until}; a failure past the
# limit locks for base * 2**(failures - max), capped. Returns the longer remaining lockout.
_FAIL = """
local longest = 0
for _, key in ipairs(KEYS) do
  local failures = redis.call('HINCRBY', key, 'failures', 1)
  local limit = tonumber(ARGV[2])
  local locked = 0
  if failures >= limit then
    locked = math.min(tonumber(ARGV[3]) * 2 ^ (failures - limit), tonumber(ARGV[4]))
    redis.call('HSET', key, 'locked_until', tostring(tonumber(ARGV[1]) + locked))
  end
  redis.call('EXPIRE', key, math.ceil(math.max(tonumber(ARGV[5]), locked * 2)))
  if locked > longest then longest = locked end
end
return tostring(longest)
"""


def _user_key(name: str) -> str:
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return f"{keys.NAMESPACE}:login-failures:user:{digest}"


def _address_key(address: str) -> str:
    return f"{keys.NAMESPACE}:login-failures:addr:{address[:64]}"


class LoginThrottle:
    def __init__(
        self,
        client: redis.Redis,
        clock: Clock,
        max_failures: int,
        lockout_seconds: float,
        lockout_max_seconds: float,
    ) -> None:
        self.client = client
        self.clock = clock
        self.max_failures = max_failures
        self.lockout_seconds = lockout_seconds
        self.lockout_max_seconds = lockout_max_seconds
        self._fail = client.register_script(_FAIL)

    @classmethod
    def from_settings(cls, client: redis.Redis, clock: Clock, settings: Settings) -> LoginThrottle:
        return cls(
            client,
            clock,
            settings.login_max_failures,
            settings.login_lockout_seconds,
            settings.login_lockout_max_seconds,
        )

    def retry_after(self, address: str, user: str) -> int:
        """Seconds until this address and this user may try again (0: now)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.hget(_address_key(address), "locked_until")
        pipe.hget(_user_key(user), "locked_until")
        until = max(float(raw) for raw in [*pipe.execute(), b"0"] if raw is not None)
        wait = until - self.clock.now()
        if wait > 0:
            metrics.LOGIN_FAILURES.labels("throttled").inc()
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, address: str, user: str) -> float:
        """Count a failed login; returns the lockout it started (0: none yet)."""
        metrics.LOGIN_FAILURES.labels("bad_credentials").inc()
        locked = self._fail(
            keys=[_address_key(address), _user_key(user)],
            args=[
                self.clock.now(),
                self.max_failures,
                self.lockout_seconds,
                self.lockout_max_seconds,
                max(self.lockout_max_seconds, 3600),
            ],
        )
        return float(locked)

    def succeeded(self, address: str, user: str) -> None:
        self.client.delete(_address_key(address), _user_key(user))
