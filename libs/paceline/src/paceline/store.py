"""TokenStore: credentials in Redis (working copy) and in the mirror (durable copy).

Every write is a compare-and-set on the credential's version, done in one Lua script, so an
older credential can never overwrite a newer one, whichever process writes last. Redis is
written first (it is what every reader uses); the mirror follows. A mirror write that fails is
recorded in a pending set and re-synced by :meth:`TokenStore.sync_mirror`, so the durable copy
catches up without ever moving backwards.
"""

from __future__ import annotations

import builtins
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import redis
import tenacity
from redis.client import Pipeline

from paceline import keys
from paceline.clock import Clock, SystemClock
from paceline.credential import Credential, TokenCodec
from paceline.crypto import StrictPlainCodec, is_sealed
from paceline.metrics import MIRROR_WRITES
from paceline.mirror import MirrorError, NullMirror, SecretMirror
from paceline.runstatus import refresh_total_field

log = logging.getLogger(__name__)

# Keeps the per-state counts (keys.TOKEN_STATES) in the same step as the write that changes a
# state: a scrape reads one small hash instead of every credential. Prepended to the scripts
# below; ``old`` is the record being replaced (false when none), ``new`` the one written.
_COUNT_STATES = """
local function state_field(record)
  if not record then return nil end
  local ok, decoded = pcall(cjson.decode, record)
  if not ok then return nil end
  return decoded['provider'] .. '|' .. (decoded['state'] or 'active')
end
local function count_states(counts, old, new)
  local before = state_field(old)
  local after = state_field(new)
  if before == after then return end
  if before then redis.call('HINCRBY', counts, before, -1) end
  if after then redis.call('HINCRBY', counts, after, 1) end
end
"""

# KEYS: credential hash, index set, mirror-pending set, refresh totals hash, state counts.
# ARGV: expected version, new version, record, fence, member, mirrored ('1' when a real mirror
# must follow), a refresh-totals field to count in the same step ('' for none).
# Returns {1, new_version} on success, {0, current} on version conflict, {-1, current} when a
# later lock holder has already written (stale fence). The member enters the mirror-pending set
# in the same step (write-ahead), so a process killed before its mirror write leaves a trace
# that the next sync follows; a successful mirror write removes it.
_SAVE = (
    _COUNT_STATES
    + """
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if current ~= tonumber(ARGV[1]) then return {0, current} end
if ARGV[4] ~= '' then
  local seen = tonumber(redis.call('HGET', KEYS[1], 'fence') or '0')
  if tonumber(ARGV[4]) < seen then return {-1, current} end
  redis.call('HSET', KEYS[1], 'fence', ARGV[4])
end
count_states(KEYS[5], redis.call('HGET', KEYS[1], 'record'), ARGV[3])
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'record', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[5])
if ARGV[6] == '1' then redis.call('SADD', KEYS[3], ARGV[5]) end
if ARGV[7] ~= '' then redis.call('HINCRBY', KEYS[4], ARGV[7], 1) end
return {1, tonumber(ARGV[2])}
"""
)

# After a mirror write of version ARGV[1]: the credential leaves the pending set only if Redis
# holds nothing newer (a slow writer of an older version must not clear a newer one's trace).
_MIRRORED = """
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if current <= tonumber(ARGV[1]) then
  redis.call('SREM', KEYS[2], ARGV[2])
  return 1
end
return 0
"""

# Restore: write only when the given version is newer than what Redis holds.
_PUT_IF_NEWER = (
    _COUNT_STATES
    + """
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if tonumber(ARGV[1]) <= current then return 0 end
count_states(KEYS[3], redis.call('HGET', KEYS[1], 'record'), ARGV[2])
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'record', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
return 1
"""
)

# Delete: KEYS credential hash, index set, mirror-pending set, state counts; ARGV member.
_DELETE = (
    _COUNT_STATES
    + """
count_states(KEYS[4], redis.call('HGET', KEYS[1], 'record'), false)
local removed = redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
return removed
"""
)

# Count every credential's state from scratch (after an upgrade from a version without counts,
# or when Redis lost the hash): atomic, so no concurrent write is counted twice or missed.
_RECOUNT_STATES = (
    _COUNT_STATES
    + """
redis.call('DEL', KEYS[2])
for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local record = redis.call('HGET', ARGV[1] .. member, 'record')
  count_states(KEYS[2], false, record)
end
redis.call('HSET', KEYS[2], '_built', '1')
return 1
"""
)


class VersionConflict(Exception):
    """Someone else saved this credential first; re-read and decide again."""

    def __init__(self, key: str, expected: int, current: int) -> None:
        super().__init__(f"{key}: expected version {expected}, store has {current}")
        self.expected = expected
        self.current = current


class StaleFence(VersionConflict):
    """The lock this write was made under has since been taken by someone else."""


@dataclass(frozen=True)
class SaveResult:
    credential: Credential
    mirrored: bool


# The hash field that holds a credential's record (its JSON, tokens sealed by the codec). Only
# this module knows it: everyone else asks TokenStore.
_RECORD = "record"


@dataclass(frozen=True)
class StoredCredential:
    """One account as :meth:`TokenStore.get_many` read it.

    ``credential`` is None when nothing is stored, or when the record cannot be read (then
    ``error`` says why: corrupt, or sealed with another encryption key). ``beside`` holds the
    raw values of the keys asked for beside the credential, in the order they were asked for.
    """

    provider: str
    account_id: str
    credential: Credential | None
    error: Exception | None = None
    beside: tuple[Any, ...] = ()


class TokenStore:
    def __init__(
        self,
        client: redis.Redis,
        mirror: SecretMirror | None = None,
        codec: TokenCodec | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.redis = client
        self.mirror: SecretMirror = mirror or NullMirror()
        self.codec: TokenCodec = codec or StrictPlainCodec()
        self.clock: Clock = clock or SystemClock()
        self._save = client.register_script(_SAVE)
        self._put_if_newer = client.register_script(_PUT_IF_NEWER)
        self._mirrored = client.register_script(_MIRRORED)
        self._delete = client.register_script(_DELETE)
        self._recount = client.register_script(_RECOUNT_STATES)

    # --- reads -------------------------------------------------------------------------------
    def get(self, provider: str, account_id: str) -> Credential | None:
        raw = self.redis.hget(keys.credential_key(provider, account_id), _RECORD)
        return None if raw is None else Credential.from_json(raw, self.codec)

    def exists(self, provider: str, account_id: str) -> bool:
        """A credential is stored for the account (whatever its state); no token is opened."""
        return bool(self.redis.hexists(keys.credential_key(provider, account_id), _RECORD))

    @staticmethod
    def queue_exists(pipe: Pipeline, provider: str, account_id: str) -> None:
        """Queue :meth:`exists` on a caller's pipeline, so it shares that round trip; its reply
        is truthy when the credential is stored."""
        pipe.hexists(keys.credential_key(provider, account_id), _RECORD)

    def get_many(
        self,
        members: Sequence[tuple[str, str]],
        *,
        beside: Sequence[Callable[[str, str], str]] = (),
    ) -> builtins.list[StoredCredential]:
        """Read many credentials in one round trip, with, for each, the plain keys that
        ``beside`` names (functions of provider and account, e.g. the refresh in-flight and
        back-off records), fetched in the same pipeline. A record that cannot be read does not
        stop the others: it comes back with its ``error``."""
        pipe = self.redis.pipeline(transaction=False)
        for provider, account in members:
            pipe.hget(keys.credential_key(provider, account), _RECORD)
            for key in beside:
                pipe.get(key(provider, account))
        replies = pipe.execute()
        step = 1 + len(beside)
        found = []
        for i, (provider, account) in enumerate(members):
            raw = replies[step * i]
            credential, error = None, None
            if raw is not None:
                try:
                    credential = Credential.from_json(raw, self.codec)
                except Exception as caught:  # corrupt, or sealed with another encryption key
                    error = caught
            found.append(
                StoredCredential(
                    provider,
                    account,
                    credential,
                    error,
                    tuple(replies[step * i + 1 : step * (i + 1)]),
                )
            )
        return found

    def created_at(self, provider: str, account_ids: Iterable[str]) -> dict[str, float]:
        """When each stored credential was first saved (0.0 if unknown), for the accounts that
        have one; one round trip, and no token is opened."""
        wanted = builtins.list(account_ids)
        pipe = self.redis.pipeline(transaction=False)
        for account in wanted:
            pipe.hget(keys.credential_key(provider, account), _RECORD)
        return {
            account: float(json.loads(raw).get("created_at") or 0.0)
            for account, raw in zip(wanted, pipe.execute(), strict=True)
            if raw is not None
        }

    def members(self) -> list[tuple[str, str]]:
        return sorted(keys.split_member(m) for m in self.redis.smembers(keys.CREDENTIAL_INDEX))

    def list(self, provider: str | None = None) -> list[Credential]:
        wanted = [m for m in self.members() if provider is None or m[0] == provider]
        found = []
        for stored in self.get_many(wanted):
            if stored.error is not None:
                raise stored.error
            if stored.credential is not None:
                found.append(stored.credential)
        return found

    # --- writes ------------------------------------------------------------------------------
    def save(
        self,
        credential: Credential,
        *,
        expected_version: int,
        fence: int | None = None,
        mirror: bool = True,
        count: str | None = None,
    ) -> SaveResult:
        """Write ``credential`` as version ``expected_version + 1`` if Redis still holds
        ``expected_version`` (0 = must not exist). Then mirror it (unless ``mirror=False``: the
        caller then calls :meth:`mirror_credential` itself, or the next :meth:`sync_mirror`
        does). ``count``, a refresh result, is added to the refresh totals in the same step as
        the write: a process killed right after cannot leave the one without the other."""
        if expected_version == 0:  # a later version fails on its own if Redis lost the data
            self._restore_before_write()
        now = self.clock.now()
        new = credential.replace(
            version=expected_version + 1,
            updated_at=now,
            created_at=credential.created_at or now,
        )
        key = keys.credential_key(new.provider, new.account_id)
        status, current = self._save(
            keys=[
                key,
                keys.CREDENTIAL_INDEX,
                keys.MIRROR_PENDING,
                keys.REFRESH_TOTALS,
                keys.TOKEN_STATES,
            ],
            args=[
                expected_version,
                new.version,
                new.to_json(self.codec),
                "" if fence is None else fence,
                keys.member(new.provider, new.account_id),
                "0" if isinstance(self.mirror, NullMirror) else "1",
                "" if count is None else refresh_total_field(new.provider, count),
            ],
        )
        if status == 0:
            raise VersionConflict(key, expected_version, int(current))
        if status == -1:
            raise StaleFence(key, expected_version, int(current))
        mirrored = self._mirror_put(new) if mirror else False
        return SaveResult(new, mirrored)

    def mirror_credential(self, credential: Credential) -> bool:
        """Write one saved credential to the mirror (with retries); False leaves it pending."""
        return self._mirror_put(credential)

    def _mirror_put(self, credential: Credential, attempts: int = 3) -> bool:
        """Write to the mirror, ``attempts`` times at once on a :class:`MirrorError` (the
        Kubernetes mirror backs off inside on conflicts); False leaves the member pending."""
        member = keys.member(credential.provider, credential.account_id)

        def failed(state: tenacity.RetryCallState) -> None:
            MIRROR_WRITES.labels(self.mirror.name, "failed").inc()

        try:
            written = tenacity.Retrying(
                retry=tenacity.retry_if_exception_type(MirrorError),
                stop=tenacity.stop_after_attempt(attempts),
                after=failed,
                reraise=True,
            )(self.mirror.put, credential)
        except MirrorError as error:
            self.redis.sadd(keys.MIRROR_PENDING, member)
            log.error(
                "mirror write failed; will re-sync on the next pass",
                extra={"credential": member, "mirror": self.mirror.name, "error": str(error)},
            )
            return False
        # skipped: the mirror already holds this version or a newer one (or is `none`)
        MIRROR_WRITES.labels(self.mirror.name, "written" if written else "skipped").inc()
        self._mirrored(
            keys=[
                keys.credential_key(credential.provider, credential.account_id),
                keys.MIRROR_PENDING,
            ],
            args=[credential.version, member],
        )
        return True

    def delete(self, provider: str, account_id: str) -> bool:
        """Remove a credential everywhere. The mirror goes first: if it fails, nothing is
        deleted, so a later restore cannot bring back an account its owner disconnected."""
        self.mirror.delete(provider, account_id)
        key = keys.credential_key(provider, account_id)
        member = keys.member(provider, account_id)
        removed = self._delete(
            keys=[key, keys.CREDENTIAL_INDEX, keys.MIRROR_PENDING, keys.TOKEN_STATES],
            args=[member],
        )
        return bool(removed)

    # --- mirror reconciliation ---------------------------------------------------------------
    def restore_from_mirror(self) -> int:
        """Copy every mirror credential newer than Redis's copy into Redis; return the count."""
        restored = 0
        for credential in self.mirror.load_all():
            written = self._put_if_newer(
                keys=[
                    keys.credential_key(credential.provider, credential.account_id),
                    keys.CREDENTIAL_INDEX,
                    keys.TOKEN_STATES,
                ],
                args=[
                    credential.version,
                    credential.to_json(self.codec),
                    keys.member(credential.provider, credential.account_id),
                ],
            )
            restored += int(written)
        self.redis.set(keys.RESTORED_MARKER, json.dumps({"at": self.clock.now()}))
        if restored:
            log.warning("restored credentials from the mirror", extra={"count": restored})
        return restored

    def _restore_before_write(self) -> None:
        """If Redis has lost its data, restore before writing: otherwise a writer that thinks an
        account is new would start again at version 1, below the mirror's copy, and the next
        restore would bring the older tokens back over the newer ones."""
        if self.redis.exists(keys.RESTORED_MARKER):
            return
        try:
            self.restore_from_mirror()
        except MirrorError as error:  # the write must not depend on the mirror being up
            log.error(
                "Redis lost its data and the mirror cannot be read; writing anyway",
                extra={"mirror": self.mirror.name, "error": str(error)},
            )

    def ensure_restored(self) -> int:
        """Restore from the mirror if Redis has lost its data (the marker is gone)."""
        if self.redis.exists(keys.RESTORED_MARKER):
            return 0
        return self.restore_from_mirror()

    def plaintext_records(self) -> int:
        """Credentials whose tokens are stored unsealed in Redis (before encryption was on)."""
        members = self.members()
        pipe = self.redis.pipeline(transaction=False)
        for provider, account in members:
            pipe.hget(keys.credential_key(provider, account), _RECORD)
        return sum(
            1
            for raw in pipe.execute()
            if raw is not None and not is_sealed(str(json.loads(raw).get("refresh_token", "")))
        )

    # ``list`` is a method of this class: annotations below it name the builtin explicitly.
    def pending_mirror(self) -> builtins.list[tuple[str, str]]:
        return sorted(keys.split_member(m) for m in self.redis.smembers(keys.MIRROR_PENDING))

    def sync_mirror(self) -> int:
        """Push credentials whose mirror write failed earlier; return how many were synced."""
        synced = 0
        for provider, account in self.pending_mirror():
            credential = self.get(provider, account)
            if credential is None:
                self.redis.srem(keys.MIRROR_PENDING, keys.member(provider, account))
                continue
            synced += int(self._mirror_put(credential))
        return synced

    # --- state counts ------------------------------------------------------------------------
    def state_counts(self) -> dict[tuple[str, str], int]:
        """Credential counts by (provider, state), from the counts the writes keep: one small
        hash, whatever the number of credentials (counted once from scratch when it is missing)."""
        raw: dict[bytes, bytes] = self.redis.hgetall(keys.TOKEN_STATES)  # type: ignore[assignment]
        if b"_built" not in raw:
            self._recount(
                keys=[keys.CREDENTIAL_INDEX, keys.TOKEN_STATES],
                args=[keys.NAMESPACE + ":credential:"],
            )
            raw = self.redis.hgetall(keys.TOKEN_STATES)  # type: ignore[assignment]
        counts: dict[tuple[str, str], int] = {}
        for name, value in raw.items():
            provider, sep, state = name.decode().partition("|")
            if sep and int(value) > 0:
                counts[(provider, state)] = int(value)
        return counts
