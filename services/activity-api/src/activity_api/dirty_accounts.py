"""The per-account work queue: accounts marked dirty by events, due when their cooldown ends.

An accepted event only *marks its account dirty* (``paceline:webhook-dirty:strava:<account>``,
a hash of counts by event kind) and schedules the account in the sorted set
``paceline:webhooks-due:strava``. A due account is taken with a lease (:data:`LEASE_SECONDS`);
its mark is removed only after its work is done, so a consumer that dies mid-work leaves the
account leased, and it is due again when the lease ends. Rebuilds run at most once per
``webhook_cooldown_seconds`` and grant checks once per ``webhook_grant_check_seconds`` per
account, each with its own cooldown key. Every step that reads and writes together is one
Lua script.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis
from paceline import keys
from paceline.strava_api import PROVIDER

from activity_api.events import DEAUTHORIZE, KINDS, EventKind, as_text, decoded

DUE = f"{keys.NAMESPACE}:webhooks-due:{PROVIDER}"
# How long a consumer holds a due account while working on it before another may take it.
LEASE_SECONDS = 120.0
# A dirty mark nobody works on (every consumer gone) expires after this long.
DIRTY_TTL_SECONDS = 7 * 86400

# KEYS: dirty hash, due set, the kind's cooldown key (rebuild or grant check), seen key.
# ARGV: account, now, kind, activity id or '', recheck ('1' or ''), dirty ttl seconds.
# The account is due when the kind's cooldown ends (never later than it already was).
_MARK = """
redis.call('HINCRBY', KEYS[1], ARGV[3], 1)
if ARGV[4] ~= '' then redis.call('HSETNX', KEYS[1], 'activity', ARGV[4]) end
if ARGV[5] ~= '' then redis.call('HINCRBY', KEYS[1], 'recheck', 1) end
redis.call('EXPIRE', KEYS[1], ARGV[6])
local due = tonumber(ARGV[2])
local after = tonumber(redis.call('GET', KEYS[3]) or '0')
if after > due then due = after end
redis.call('ZADD', KEYS[2], 'LT', due, ARGV[1])
if redis.call('ZSCORE', KEYS[2], ARGV[1]) == false then
  redis.call('ZADD', KEYS[2], due, ARGV[1])
end
redis.call('DEL', KEYS[4])
return 1
"""

# KEYS: due set. ARGV: now, lease until, limit. Take due accounts, leasing them.
_CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return ids
"""

# KEYS: dirty hash, due set. ARGV: account, when rebuilds may run again, when grant checks may,
# then the snapshot's field/value pairs. Remove what the finished work covered; fields changed
# since (new events) or left for later stay, and the account is due again when the first of
# the remaining kinds of work may run.
_COMPLETE = """
for i = 4, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
local due = nil
if redis.call('HEXISTS', KEYS[1], 'athlete.deauthorize') == 1 then due = tonumber(ARGV[3]) end
local changes = {'activity.create', 'activity.update', 'activity.delete', 'athlete.update'}
for _, kind in ipairs(changes) do
  if redis.call('HEXISTS', KEYS[1], kind) == 1 then
    if due == nil or tonumber(ARGV[2]) < due then due = tonumber(ARGV[2]) end
  end
end
if due == nil then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[2], due, ARGV[1])
end
return 1
"""


def dirty_key(account_id: str) -> str:
    return keys.account_key("webhook-dirty", PROVIDER, account_id)


def cooldown_key(account_id: str) -> str:
    """Until when (epoch seconds) no new rebuild runs for the account's events."""
    return keys.account_key("webhook-cooldown", PROVIDER, account_id)


def grant_check_key(account_id: str) -> str:
    """Until when no new grant check runs for the account's deauthorization events."""
    return keys.account_key("webhook-grant-check", PROVIDER, account_id)


@dataclass(frozen=True)
class DirtyWork:
    """What one due account's dirty mark asks for (pure, from the hash's snapshot)."""

    counts: Mapping[str, int]
    activity_id: int | None
    recheck: int

    @classmethod
    def parse(cls, raw: Mapping[Any, Any]) -> DirtyWork:
        text = decoded(raw)
        counts = {k: int(v) for k, v in text.items() if k in KINDS and v.lstrip("-").isdigit()}
        activity = text.get("activity", "")
        recheck = text.get("recheck", "0")
        return cls(
            counts={k: v for k, v in counts.items() if v > 0},
            activity_id=int(activity) if activity.isdigit() else None,
            recheck=int(recheck) if recheck.isdigit() else 0,
        )

    @property
    def deauthorizations(self) -> int:
        return self.counts.get(DEAUTHORIZE, 0)

    @property
    def changes(self) -> int:
        return sum(n for k, n in self.counts.items() if k != DEAUTHORIZE)

    @property
    def patch_activity(self) -> int | None:
        """Exactly one activity event, not a hide: patch that activity (two calls) rather
        than rebuild (three or four)."""
        if self.changes == 1 and self.recheck == 0 and self.activity_id is not None:
            return self.activity_id
        return None


@dataclass(frozen=True)
class DirtyMark:
    """One account's mark as read when its work starts, with its two cooldowns (epoch s)."""

    fields: Mapping[Any, Any]
    work: DirtyWork
    rebuild_after: float
    grant_after: float


class DirtyAccounts:
    """The queue in Redis: mark, claim due accounts, read a mark, complete its work."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._mark = client.register_script(_MARK)
        self._claim = client.register_script(_CLAIM)
        self._complete = client.register_script(_COMPLETE)

    def mark(
        self,
        account: str,
        now: float,
        kind: EventKind,
        *,
        activity: int | None,
        recheck: bool,
        seen_key: str,
    ) -> None:
        """Count the event in the account's mark and schedule the account; the event's
        ``seen_key`` is deleted, so an identical event may be queued again."""
        wait_key = grant_check_key(account) if kind is DEAUTHORIZE else cooldown_key(account)
        self._mark(
            keys=[dirty_key(account), DUE, wait_key, seen_key],
            args=[
                account,
                repr(now),
                kind.value,
                "" if activity is None else str(activity),
                "1" if recheck else "",
                DIRTY_TTL_SECONDS,
            ],
        )

    def claim(self, now: float, limit: int) -> list[str]:
        """Take up to ``limit`` due accounts, leased for :data:`LEASE_SECONDS`."""
        taken = self._claim(keys=[DUE], args=[repr(now), repr(now + LEASE_SECONDS), limit])
        return [as_text(raw) for raw in taken or []]

    def first_due(self) -> float | None:
        """When the next account is due (epoch seconds), if any is queued."""
        first = self.redis.zrange(DUE, 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    def read(self, account: str) -> DirtyMark:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(dirty_key(account))
        pipe.get(cooldown_key(account))
        pipe.get(grant_check_key(account))
        fields, rebuild_raw, grant_raw = pipe.execute()
        return DirtyMark(
            fields, DirtyWork.parse(fields), float(rebuild_raw or 0), float(grant_raw or 0)
        )

    def hold_rebuilds(self, account: str, now: float, seconds: float) -> float:
        """No new rebuild for the account's events for ``seconds``; until when (epoch s)."""
        return self._hold(cooldown_key(account), now, seconds)

    def release_rebuilds(self, account: str) -> None:
        """The rebuild slot was not used (someone else was building): free it."""
        self.redis.delete(cooldown_key(account))

    def hold_grant_checks(self, account: str, now: float, seconds: float) -> float:
        """No new grant check for the account's deauthorizations for ``seconds``."""
        return self._hold(grant_check_key(account), now, seconds)

    def _hold(self, key: str, now: float, seconds: float) -> float:
        until = now + seconds
        self.redis.set(key, repr(until), px=max(1, int(seconds * 1000)))
        return until

    def retry_at(self, account: str, when: float) -> None:
        self.redis.zadd(DUE, {account: when})

    def forget(self, account: str) -> None:
        """Unschedule an account that is not one (a malformed id in the due set)."""
        self.redis.zrem(DUE, account)

    def complete(
        self, account: str, covered: Mapping[Any, Any], rebuild_after: float, grant_after: float
    ) -> None:
        """Remove the fields the finished work ``covered`` (unless new events changed them);
        the account is due again when its remaining work may run."""
        pairs = [part for item in covered.items() for part in item]
        self._complete(
            keys=[dirty_key(account), DUE],
            args=[account, repr(rebuild_after), repr(grant_after), *pairs],
        )
