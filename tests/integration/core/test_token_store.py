"""TokenStore on a real Redis: versioned compare-and-set, fencing, mirror restore and re-sync,
deletion everywhere, and encryption at rest."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest
import redis
from cryptography.fernet import Fernet
from paceline import keys
from paceline.clock import ManualClock
from paceline.credential import Credential, CredentialState
from paceline.crypto import TokenDecryptError, codec_for
from paceline.lock import KeyLock
from paceline.mirror import FileMirror, MirrorError, NullMirror
from paceline.store import StaleFence, TokenStore, VersionConflict


def cred(account: str = "42", n: int = 1, **changes: object) -> Credential:
    base = Credential(
        provider="strava",
        account_id=account,
        access_token=f"access-{account}-{n}-7c1f9e2b",
        refresh_token=f"refresh-{account}-{n}-4d8a6b3e",
        expires_at=1_767_247_200.0 + n,
        scopes=("activity:read", "read"),
    )
    return base.replace(**changes)


class FlakyMirror(FileMirror):
    """A file mirror whose writes (or deletes) fail while ``broken`` is set."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.broken = False
        self.puts = 0

    def put(self, credential: Credential) -> bool:
        self.puts += 1
        if self.broken:
            raise MirrorError("mirror is down")
        return super().put(credential)

    def delete(self, provider: str, account_id: str) -> None:
        if self.broken:
            raise MirrorError("mirror is down")
        super().delete(provider, account_id)


@pytest.fixture
def mirror(tmp_path: Path) -> FlakyMirror:
    return FlakyMirror(tmp_path / "mirror")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(redis_client: redis.Redis, mirror: FlakyMirror, clock: ManualClock) -> TokenStore:
    return TokenStore(redis_client, mirror, codec_for(None), clock)


# --- versioned compare-and-set ---------------------------------------------------------------
def test_first_save_creates_version_one_in_redis_and_mirror(
    store: TokenStore, mirror: FlakyMirror, clock: ManualClock
) -> None:
    result = store.save(cred(), expected_version=0)
    assert result.mirrored
    assert result.credential.version == 1
    assert result.credential.created_at == result.credential.updated_at == clock.now()
    assert store.get("strava", "42") == result.credential
    assert mirror.load_all() == [result.credential]
    assert store.members() == [("strava", "42")]


def test_save_expecting_an_old_version_is_refused_and_changes_nothing(store: TokenStore) -> None:
    store.save(cred(n=1), expected_version=0)
    newer = store.save(cred(n=2), expected_version=1).credential
    with pytest.raises(VersionConflict) as caught:
        store.save(cred(n=3), expected_version=1)
    assert (caught.value.expected, caught.value.current) == (1, 2)
    assert store.get("strava", "42") == newer


def test_creating_an_existing_credential_is_a_conflict(store: TokenStore) -> None:
    store.save(cred(n=1), expected_version=0)
    with pytest.raises(VersionConflict):
        store.save(cred(n=2), expected_version=0)
    stored = store.get("strava", "42")
    assert stored is not None and stored.refresh_token == cred(n=1).refresh_token


def test_concurrent_writers_exactly_one_wins_each_version(
    redis_server: object, store: TokenStore, redis_client: redis.Redis
) -> None:
    store.save(cred(n=0), expected_version=0)
    wins: Counter[int] = Counter()
    conflicts = Counter[str]()
    start = threading.Barrier(8)

    def writer(index: int) -> None:
        own = TokenStore(redis.Redis(connection_pool=redis_client.connection_pool), NullMirror())
        start.wait()
        for round_ in range(25):
            current = own.get("strava", "42")
            assert current is not None
            try:
                own.save(cred(n=index * 100 + round_), expected_version=current.version)
            except VersionConflict:
                conflicts["lost"] += 1
            else:
                wins[current.version + 1] += 1

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    final = store.get("strava", "42")
    assert final is not None
    assert set(wins.values()) == {1}, "every version has exactly one winner"
    assert sorted(wins) == list(range(2, final.version + 1)), "no version skipped"
    assert sum(wins.values()) + conflicts["lost"] == 8 * 25


def test_stale_fence_is_refused_after_the_lock_changed_hands(
    store: TokenStore, redis_client: redis.Redis
) -> None:
    locks = KeyLock(redis_client, ttl_seconds=0.05)
    name = keys.lock_key("strava", "42")
    store.save(cred(n=1), expected_version=0)
    paused = locks.acquire(name)  # a holder that will stall past its lease
    threading.Event().wait(0.1)
    later = locks.acquire(name)
    assert later.fence > paused.fence
    store.save(cred(n=2), expected_version=1, fence=later.fence)

    # The paused holder wakes, re-reads and writes what it believes is the next version.
    current = store.get("strava", "42")
    assert current is not None
    with pytest.raises(StaleFence):
        store.save(cred(n=99), expected_version=current.version, fence=paused.fence)
    final = store.get("strava", "42")
    assert final is not None and final.refresh_token == cred(n=2).refresh_token


def test_newer_fence_is_accepted(store: TokenStore) -> None:
    store.save(cred(n=1), expected_version=0, fence=3)
    assert store.save(cred(n=2), expected_version=1, fence=4).credential.version == 2


# --- delete ----------------------------------------------------------------------------------
def test_delete_removes_the_credential_from_redis_and_the_mirror(
    store: TokenStore, mirror: FlakyMirror, redis_client: redis.Redis
) -> None:
    store.save(cred("42"), expected_version=0)
    store.save(cred("7"), expected_version=0)
    assert store.delete("strava", "42")
    assert store.get("strava", "42") is None
    assert store.members() == [("strava", "7")]
    assert [c.account_id for c in mirror.load_all()] == ["7"]
    assert not redis_client.exists(keys.credential_key("strava", "42"))
    assert not store.delete("strava", "42")  # already gone


def test_delete_with_a_failing_mirror_deletes_nothing(
    store: TokenStore, mirror: FlakyMirror
) -> None:
    saved = store.save(cred(), expected_version=0).credential
    mirror.broken = True
    with pytest.raises(MirrorError):
        store.delete("strava", "42")
    mirror.broken = False
    assert store.get("strava", "42") == saved
    assert mirror.load_all() == [saved]


# --- restore from the mirror -----------------------------------------------------------------
def test_credentials_come_back_from_the_mirror_after_redis_loses_its_data(
    store: TokenStore, redis_client: redis.Redis
) -> None:
    saved = [store.save(cred(a), expected_version=0).credential for a in ("1", "2", "3")]
    store.save(saved[0], expected_version=1)
    assert store.ensure_restored() == 0  # nothing lost yet: nothing to do

    redis_client.flushall()
    assert store.list() == []
    assert store.ensure_restored() == 3
    restored = {c.account_id: c for c in store.list()}
    assert restored["1"].version == 2
    assert restored["2"] == saved[1]
    assert store.ensure_restored() == 0  # once per data loss


def test_restore_never_downgrades_a_newer_redis_copy(
    store: TokenStore, mirror: FlakyMirror
) -> None:
    store.save(cred(n=1), expected_version=0)
    mirror.broken = True  # version 2 reaches Redis only
    newer = store.save(cred(n=2), expected_version=1).credential
    mirror.broken = False
    assert store.restore_from_mirror() == 0
    assert store.get("strava", "42") == newer


def test_save_after_redis_data_loss_does_not_restart_versions_below_the_mirror(
    store: TokenStore, redis_client: redis.Redis, mirror: FlakyMirror
) -> None:
    store.save(cred(n=1), expected_version=0)
    store.save(cred(n=2), expected_version=1)
    redis_client.flushall()
    # A writer that did not notice the data loss believes the account is new.
    with pytest.raises(VersionConflict):
        store.save(cred(n=3), expected_version=0)
    current = store.get("strava", "42")
    assert current is not None and current.version == 2  # restored first, nothing lost
    fresh = store.save(cred(n=3), expected_version=current.version).credential
    assert fresh.version == 3
    assert mirror.load_all() == [fresh]


def test_restored_credentials_are_sealed_with_the_current_key(
    redis_client: redis.Redis, mirror: FlakyMirror
) -> None:
    sealed = TokenStore(redis_client, mirror, codec_for(Fernet.generate_key().decode()))
    sealed.save(cred(), expected_version=0)
    redis_client.flushall()
    sealed.ensure_restored()
    raw = redis_client.hget(keys.credential_key("strava", "42"), "record")
    assert raw is not None and cred().refresh_token.encode() not in raw
    got = sealed.get("strava", "42")
    assert got is not None and got.refresh_token == cred().refresh_token


# --- mirror failures and re-sync -------------------------------------------------------------
def test_mirror_failure_is_recorded_and_resynced_later(
    store: TokenStore, mirror: FlakyMirror
) -> None:
    mirror.broken = True
    result = store.save(cred(n=1), expected_version=0)
    assert not result.mirrored
    assert store.get("strava", "42") == result.credential  # Redis has it regardless
    assert store.pending_mirror() == [("strava", "42")]
    assert store.sync_mirror() == 0  # still down: stays pending
    assert store.pending_mirror() == [("strava", "42")]

    mirror.broken = False
    assert store.sync_mirror() == 1
    assert store.pending_mirror() == []
    assert mirror.load_all() == [result.credential]


def test_mirror_directory_that_cannot_be_written_leaves_the_credential_pending(
    redis_client: redis.Redis, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the mirror directory should be")
    store = TokenStore(redis_client, FileMirror(blocker / "mirror"))
    result = store.save(cred(), expected_version=0)
    assert not result.mirrored
    assert store.pending_mirror() == [("strava", "42")]


def test_resync_of_a_deleted_credential_just_clears_it(
    store: TokenStore, mirror: FlakyMirror, redis_client: redis.Redis
) -> None:
    mirror.broken = True
    store.save(cred(), expected_version=0)
    redis_client.delete(keys.credential_key("strava", "42"))
    mirror.broken = False
    assert store.sync_mirror() == 0
    assert store.pending_mirror() == []
    assert mirror.load_all() == []


def test_save_without_mirroring_leaves_it_pending_until_synced(
    store: TokenStore, mirror: FlakyMirror
) -> None:
    result = store.save(cred(), expected_version=0, mirror=False)
    assert mirror.load_all() == []
    assert store.pending_mirror() == [("strava", "42")]
    assert store.mirror_credential(result.credential)
    assert store.pending_mirror() == []


def test_an_older_mirror_write_finishing_late_does_not_clear_a_newer_pending_one(
    store: TokenStore, mirror: FlakyMirror
) -> None:
    older = store.save(cred(n=1), expected_version=0, mirror=False).credential
    store.save(cred(n=2), expected_version=1, mirror=False)  # not mirrored yet
    assert store.mirror_credential(older)  # the slow writer of version 1 finishes now
    assert store.pending_mirror() == [("strava", "42")], "version 2 still needs mirroring"
    assert store.sync_mirror() == 1
    assert [c.version for c in mirror.load_all()] == [2]


# --- encryption at rest ----------------------------------------------------------------------
def test_encrypted_store_keeps_no_token_in_redis_but_reads_it_back(
    redis_client: redis.Redis, mirror: FlakyMirror
) -> None:
    store = TokenStore(redis_client, mirror, codec_for(Fernet.generate_key().decode()))
    saved = store.save(cred(), expected_version=0).credential
    for key in redis_client.scan_iter("*"):
        dump = repr(redis_client.dump(key))
        assert "access-42" not in dump and "refresh-42" not in dump
    raw = redis_client.hget(keys.credential_key("strava", "42"), "record")
    assert raw is not None and b"fernet:" in raw
    assert store.get("strava", "42") == saved
    assert store.list() == [saved]


def test_wrong_key_fails_loudly_instead_of_returning_garbage(
    redis_client: redis.Redis, mirror: FlakyMirror
) -> None:
    TokenStore(redis_client, mirror, codec_for(Fernet.generate_key().decode())).save(
        cred(), expected_version=0
    )
    other = TokenStore(redis_client, mirror, codec_for(Fernet.generate_key().decode()))
    with pytest.raises(TokenDecryptError) as caught:
        other.get("strava", "42")
    assert "PACELINE_ENCRYPTION_KEY" in str(caught.value)


def test_missing_key_fails_loudly_for_encrypted_tokens(
    redis_client: redis.Redis, mirror: FlakyMirror
) -> None:
    TokenStore(redis_client, mirror, codec_for(Fernet.generate_key().decode())).save(
        cred(), expected_version=0
    )
    with pytest.raises(TokenDecryptError):
        TokenStore(redis_client, mirror, codec_for(None)).get("strava", "42")


def test_switching_encryption_on_still_reads_plain_records(
    redis_client: redis.Redis, mirror: FlakyMirror
) -> None:
    saved = TokenStore(redis_client, mirror).save(cred(), expected_version=0).credential
    sealed = TokenStore(redis_client, mirror, codec_for(Fernet.generate_key().decode()))
    assert sealed.get("strava", "42") == saved


def test_token_states_are_counted_without_any_key(
    redis_client: redis.Redis, mirror: FlakyMirror
) -> None:
    store = TokenStore(redis_client, mirror, codec_for(Fernet.generate_key().decode()))
    store.save(cred("1"), expected_version=0)
    store.save(cred("2", state=CredentialState.NEEDS_REAUTH), expected_version=0)
    keyless = TokenStore(redis_client, mirror)
    assert keyless.state_counts() == {("strava", "active"): 1, ("strava", "needs_reauth"): 1}


def test_list_filters_by_provider(store: TokenStore) -> None:
    store.save(cred("1"), expected_version=0)
    store.save(cred("2").replace(provider="fitbit"), expected_version=0)
    assert [c.key for c in store.list("strava")] == ["strava:1"]
    assert sorted(c.key for c in store.list()) == ["fitbit:2", "strava:1"]


# --- reads that never leave the store's format to the caller ---------------------------------
def round_trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every round trip to Redis from now on: one entry per plain command or pipeline sent."""
    sent: list[str] = []
    command = redis.Redis.execute_command
    execute = redis.client.Pipeline.execute

    def one_command(self: redis.Redis, *args: object, **options: object) -> object:
        sent.append(str(args[0]))
        return command(self, *args, **options)

    def one_pipeline(self: redis.client.Pipeline, *args: object, **options: object) -> object:
        sent.append("pipeline")
        return execute(self, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", one_command)
    monkeypatch.setattr(redis.client.Pipeline, "execute", one_pipeline)
    return sent


def test_exists_tells_stored_accounts_apart_without_any_key(
    redis_client: redis.Redis, mirror: FlakyMirror
) -> None:
    sealed = TokenStore(redis_client, mirror, codec_for(Fernet.generate_key().decode()))
    sealed.save(cred("1"), expected_version=0)
    keyless = TokenStore(redis_client, mirror)  # could not open the tokens: need not
    assert keyless.exists("strava", "1")
    assert not keyless.exists("strava", "2")
    assert not keyless.exists("fitbit", "1")
    sealed.delete("strava", "1")
    assert not keyless.exists("strava", "1")


def test_queued_exists_answers_inside_the_callers_pipeline(
    store: TokenStore, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.save(cred("1"), expected_version=0)
    redis_client.set("other", "x")
    sent = round_trips(monkeypatch)
    pipe = redis_client.pipeline(transaction=False)
    TokenStore.queue_exists(pipe, "strava", "1")
    TokenStore.queue_exists(pipe, "strava", "2")
    pipe.get("other")
    stored, missing, other = pipe.execute()
    assert (bool(stored), bool(missing), other) == (True, False, b"x")
    assert sent == ["pipeline"]


def test_get_many_reads_credentials_and_records_beside_them_in_one_round_trip(
    store: TokenStore, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = store.save(cred("1"), expected_version=0).credential
    second = store.save(cred("2"), expected_version=0).credential
    redis_client.set("inflight:strava:2", '{"fingerprint": "ab12"}')
    redis_client.set("backoff:strava:1", '{"attempts": 2}')

    def inflight(provider: str, account: str) -> str:
        return f"inflight:{provider}:{account}"

    def backoff(provider: str, account: str) -> str:
        return f"backoff:{provider}:{account}"

    sent = round_trips(monkeypatch)
    read = store.get_many(
        [("strava", "1"), ("strava", "3"), ("strava", "2")], beside=(inflight, backoff)
    )
    assert sent == ["pipeline"]
    assert [(r.provider, r.account_id, r.credential, r.error) for r in read] == [
        ("strava", "1", first, None),
        ("strava", "3", None, None),
        ("strava", "2", second, None),
    ]
    assert [r.beside for r in read] == [
        (None, b'{"attempts": 2}'),
        (None, None),
        (b'{"fingerprint": "ab12"}', None),
    ]
    assert [r.beside for r in store.get_many([("strava", "1")])] == [()]


def test_get_many_reports_an_unreadable_record_and_still_reads_the_others(
    redis_client: redis.Redis, mirror: FlakyMirror
) -> None:
    TokenStore(redis_client, mirror, codec_for(Fernet.generate_key().decode())).save(
        cred("1"), expected_version=0
    )
    store = TokenStore(redis_client, mirror, codec_for(Fernet.generate_key().decode()))
    readable = store.save(cred("2"), expected_version=0).credential
    unreadable, fine = store.get_many([("strava", "1"), ("strava", "2")])
    assert unreadable.credential is None
    assert isinstance(unreadable.error, TokenDecryptError)
    assert (fine.credential, fine.error) == (readable, None)
    with pytest.raises(TokenDecryptError):  # a whole listing still refuses to hide it
        store.list()


def test_created_at_is_the_first_save_and_needs_no_key(
    redis_client: redis.Redis, mirror: FlakyMirror, clock: ManualClock
) -> None:
    sealed = TokenStore(redis_client, mirror, codec_for(Fernet.generate_key().decode()), clock)
    first_seen = clock.now()
    one = sealed.save(cred("1"), expected_version=0).credential
    clock.advance(60)
    sealed.save(cred("2"), expected_version=0)
    clock.advance(60)
    sealed.save(one.replace(access_token="access-1-2-0a9b"), expected_version=1)  # an update
    keyless = TokenStore(redis_client, mirror)
    assert keyless.created_at("strava", ["1", "2", "3"]) == {
        "1": first_seen,
        "2": first_seen + 60,
    }
    assert keyless.created_at("strava", []) == {}


def test_state_counts_follow_a_credential_that_changes_state(store: TokenStore) -> None:
    saved = store.save(cred("1"), expected_version=0).credential
    store.save(cred("2"), expected_version=0)
    assert store.state_counts() == {("strava", "active"): 2}
    store.save(saved.replace(state=CredentialState.NEEDS_REAUTH), expected_version=1)
    assert store.state_counts() == {("strava", "active"): 1, ("strava", "needs_reauth"): 1}
    store.delete("strava", "2")
    assert store.state_counts() == {("strava", "needs_reauth"): 1}
