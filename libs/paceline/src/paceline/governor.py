"""The rate governor: one budget per provider application, shared through Redis.

Strava limits requests per *application*, not per process: every activity-api worker, every
replica and the token-refresher draw from the same 15-minute and daily windows, in two buckets
(overall; read). So the counters live in Redis and every decision is one Lua script:

* windows are aligned to the clock like Strava's (``floor(now / length)``: quarter hours and
  UTC days), read from the injected clock so tests move time instead of sleeping;
* :meth:`RateGovernor.acquire` checks every window the call would use and counts it, or denies
  at once with the seconds until the blocking window resets (never a wait);
* :meth:`RateGovernor.observe` (an :class:`~paceline.upstream.UpstreamClient` listener) takes
  the usage and limits from every response's headers: the provider's count includes apps'
  calls from processes we do not know about, so it wins whenever it is higher than ours; ours
  stays when higher, because it includes calls still in flight;
* a 429 closes the exhausted window until it resets; the refused request stays counted (Strava
  counts it towards the daily limit too);
* priorities: an interactive cache miss may use the whole limit, background refreshes stop a
  reserve short of it and prefetches two reserves short, so visitors are served first.

Only API calls are governed: the token endpoint is not rate-limited like the API, so token
posts never consume the budget (they are not checked, and carry no rate headers to observe).
"""

from __future__ import annotations

import enum
import hashlib
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass

import redis

from paceline import keys, metrics
from paceline.clock import Clock
from paceline.upstream import RateLimitReport

log = logging.getLogger(__name__)

BUCKETS = ("overall", "read")
WINDOWS = ("15min", "daily")


class Priority(enum.StrEnum):
    INTERACTIVE = "interactive"  # a visitor is waiting: a cache miss
    BACKGROUND = "background"  # refreshing something stale or changed
    PREFETCH = "prefetch"  # nice to have

    @property
    def level(self) -> int:
        """How many reserves this priority leaves untouched."""
        return {"interactive": 0, "background": 1, "prefetch": 2}[self.value]


@dataclass(frozen=True)
class CallPermit:
    """The governor's answer to one API call: allowed (and counted), or denied and why."""

    allowed: bool
    priority: Priority
    retry_after: float = 0.0  # seconds until the blocking window resets (0 when allowed)
    bucket: str | None = None  # what blocked: bucket and window
    window: str | None = None


@dataclass(frozen=True)
class WindowPlan:
    """Window lengths; Strava's are 900 s and 86,400 s, tests compress them."""

    short_seconds: int = 900
    day_seconds: int = 86400

    def length(self, window: str) -> int:
        return self.short_seconds if window == "15min" else self.day_seconds

    def index(self, window: str, now: float) -> int:
        return int(now // self.length(window))

    def reset_in(self, window: str, now: float) -> float:
        """Seconds from ``now`` until ``window`` resets (the next aligned boundary)."""
        length = self.length(window)
        return (self.index(window, now) + 1) * length - now


# Strava's read ("non-upload") bucket covers every endpoint but creating an activity, uploading a
# file and uploading media (developers.strava.com/docs/rate-limits): a POST or DELETE to any
# other endpoint (push subscriptions, say) is a "read" too. paceline uploads nothing.
_UPLOAD_PATHS = ("/activities", "/uploads")


def counts_as_read(method: str, path: str) -> bool:
    """Whether a request to ``path`` (under /api/v3) counts in the read bucket."""
    if method.upper() != "POST":
        return True
    trimmed = path.rstrip("/")
    return not (trimmed in _UPLOAD_PATHS or trimmed.endswith("/media"))


def app_key(app_id: str) -> str:
    """The application id as a key part; ids outside the key alphabet (long OAuth client ids
    with other characters) are hashed."""
    try:
        return keys.check_ident(app_id, "application id")
    except keys.InvalidIdentifier:
        return "h" + hashlib.sha256(app_id.encode()).hexdigest()[:24]


def allowance(limit: int, priority: Priority, reserve_fraction: float) -> int:
    """How much of ``limit`` a priority may use: the whole, or a reserve (or two) short of it."""
    reserve = math.ceil(limit * reserve_fraction) if reserve_fraction > 0 else 0
    return max(0, limit - reserve * priority.level)


# KEYS: n counters, then the limits hash. ARGV: reserve fraction, priority level, n, then per
# counter: limits-hash field, assumed limit, ttl seconds.
# Returns {1} when every counter had room (all counted), else {0, i, used, limit} for the first
# counter without room (nothing counted). The allowance arithmetic mirrors allowance().
_ACQUIRE = """
local reserve = tonumber(ARGV[1])
local level = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local limits = KEYS[n + 1]
for i = 1, n do
  local base = 3 + (i - 1) * 3
  local limit = tonumber(redis.call('HGET', limits, ARGV[base + 1]) or ARGV[base + 2])
  local keep = 0
  if reserve > 0 then keep = math.ceil(limit * reserve) * level end
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used >= limit - keep then return {0, i, used, limit} end
end
for i = 1, n do
  redis.call('INCR', KEYS[i])
  redis.call('EXPIRE', KEYS[i], ARGV[3 + (i - 1) * 3 + 3])
end
return {1}
"""

# KEYS: n counters, then the limits hash. ARGV: n, then per counter: field, limit, usage, ttl,
# close ('1' = set the counter to at least the limit: a 429 for this window).
_OBSERVE = """
local n = tonumber(ARGV[1])
local limits = KEYS[n + 1]
for i = 1, n do
  local base = 1 + (i - 1) * 5
  local limit = tonumber(ARGV[base + 2])
  local usage = tonumber(ARGV[base + 3])
  redis.call('HSET', limits, ARGV[base + 1], limit)
  if ARGV[base + 5] == '1' and usage < limit then usage = limit end
  local current = tonumber(redis.call('GET', KEYS[i]) or '0')
  if usage > current then
    redis.call('SET', KEYS[i], usage, 'EX', ARGV[base + 4])
  end
end
redis.call('EXPIRE', limits, 7 * 86400)
return n
"""


class RateGovernor:
    """The budget of one provider application (``provider`` + ``app_id``)."""

    def __init__(
        self,
        client: redis.Redis,
        provider: str,
        app_id: str,
        clock: Clock,
        *,
        reserve_fraction: float = 0.2,
        windows: WindowPlan | None = None,
        assumed_limits: Mapping[str, tuple[int, int]] | None = None,
    ) -> None:
        self.redis = client
        self.provider = keys.check_ident(provider, "provider")
        self.app_id = app_key(app_id)
        self.clock = clock
        self.reserve_fraction = reserve_fraction
        self.windows = windows or WindowPlan()
        self.assumed_limits = dict(assumed_limits or {"overall": (200, 2000), "read": (100, 1000)})
        self._acquire = client.register_script(_ACQUIRE)
        self._observe = client.register_script(_OBSERVE)

    # --- keys ----------------------------------------------------------------------------------
    @property
    def _prefix(self) -> str:
        return f"{keys.NAMESPACE}:ratelimit:{self.provider}:{self.app_id}"

    @property
    def limits_key(self) -> str:
        return f"{self._prefix}:limits"

    def counter_key(self, bucket: str, window: str, now: float) -> str:
        return f"{self._prefix}:{bucket}:{window}:{self.windows.index(window, now)}"

    def _ttl(self, window: str) -> int:
        return self.windows.length(window) + 60

    # --- decisions -----------------------------------------------------------------------------
    def acquire(self, priority: Priority, *, read: bool = True) -> CallPermit:
        """Count one API call if every window it uses has room for ``priority``; else deny
        with the seconds until the blocking window resets. Never waits."""
        now = self.clock.now()
        plan = [(bucket, window) for bucket in self._buckets(read) for window in WINDOWS]
        counters = [self.counter_key(bucket, window, now) for bucket, window in plan]
        args: list[str | int | float] = [self.reserve_fraction, priority.level, len(plan)]
        for bucket, window in plan:
            assumed = self.assumed_limits[bucket][0 if window == "15min" else 1]
            args += [f"{bucket}:{window}", assumed, self._ttl(window)]
        result = self._acquire(keys=[*counters, self.limits_key], args=args)
        if int(result[0]) == 1:
            metrics.GOVERNOR_DECISIONS.labels(self.provider, priority.value, "allowed").inc()
            return CallPermit(True, priority)
        bucket, window = plan[int(result[1]) - 1]
        metrics.GOVERNOR_DECISIONS.labels(self.provider, priority.value, "denied").inc()
        permit = CallPermit(
            False, priority, self.windows.reset_in(window, now), bucket=bucket, window=window
        )
        log.info(
            "rate governor denied a call",
            extra={
                "provider": self.provider,
                "priority": priority.value,
                "bucket": bucket,
                "window": window,
                "used": int(result[2]),
                "limit": int(result[3]),
                "retry_after": round(permit.retry_after, 1),
            },
        )
        return permit

    @staticmethod
    def _buckets(read: bool) -> tuple[str, ...]:
        """A non-upload request (``read``) counts against both buckets, an upload only against
        ``overall`` (see :func:`counts_as_read`)."""
        return BUCKETS if read else ("overall",)

    # --- feedback from the provider ------------------------------------------------------------
    def observe(self, report: RateLimitReport) -> None:
        """Listener for :class:`~paceline.upstream.UpstreamClient`: fold in the provider's
        reported usage and limits; on a 429 close the exhausted window(s) until they reset."""
        if report.provider != self.provider:
            return
        now = self.clock.now()
        entries: list[tuple[str, str, int, int, bool]] = []
        for bucket in BUCKETS:
            if bucket not in report.limits or bucket not in report.usage:
                continue
            for position, window in enumerate(WINDOWS):
                limit = report.limits[bucket][position]
                used = report.usage[bucket][position]
                entries.append((bucket, window, limit, used, False))
        if report.status == 429:
            exhausted = [i for i, (_, _, limit, used, _) in enumerate(entries) if used >= limit]
            if not exhausted:  # a 429 whose headers do not say why: close the short window
                exhausted = [
                    i for i, e in enumerate(entries) if e[0] == "overall" and e[1] == "15min"
                ]
            for i in exhausted:
                bucket, window, limit, used, _ = entries[i]
                entries[i] = (bucket, window, limit, used, True)
            if not entries:
                self._close_unreported(now)
                return
        if not entries:
            return
        counters = [self.counter_key(bucket, window, now) for bucket, window, *_ in entries]
        args: list[str | int] = [len(entries)]
        for bucket, window, limit, used, close in entries:
            args += [f"{bucket}:{window}", limit, used, self._ttl(window), "1" if close else "0"]
        self._observe(keys=[*counters, self.limits_key], args=args)

    def _close_unreported(self, now: float) -> None:
        """A bare 429 (no headers): close the overall quarter hour with the known limit."""
        raw = self.redis.hget(self.limits_key, "overall:15min")
        limit = int(raw) if raw is not None else self.assumed_limits["overall"][0]
        counter = self.counter_key("overall", "15min", now)
        args: list[str | int] = [1, "overall:15min", limit, limit, self._ttl("15min"), "1"]
        self._observe(keys=[counter, self.limits_key], args=args)

    # --- inspection ----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, dict[str, tuple[int, int]]]:
        """``{bucket: {window: (used, limit)}}`` for the current windows."""
        now = self.clock.now()
        limits = {
            k.decode() if isinstance(k, bytes) else str(k): int(v)
            for k, v in self.redis.hgetall(self.limits_key).items()
        }
        view: dict[str, dict[str, tuple[int, int]]] = {}
        for bucket in BUCKETS:
            for position, window in enumerate(WINDOWS):
                raw = self.redis.get(self.counter_key(bucket, window, now))
                used = int(raw) if raw is not None else 0
                limit = limits.get(f"{bucket}:{window}", self.assumed_limits[bucket][position])
                view.setdefault(bucket, {})[window] = (used, limit)
        return view
