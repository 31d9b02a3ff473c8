"""paceline_mirror_writes_total counts every write to the durable mirror by backend and result,
so an operator sees a mirror that has stopped taking writes (the credentials then live in
Redis alone)."""

from __future__ import annotations

from pathlib import Path

import redis
from paceline.credential import Credential
from paceline.crypto import codec_for
from paceline.metrics import MIRROR_WRITES
from paceline.mirror import FileMirror, MirrorError, NullMirror
from paceline.store import TokenStore
from prometheus_client import REGISTRY


def cred(account: str = "42", n: int = 1) -> Credential:
    return Credential(
        provider="strava",
        account_id=account,
        access_token=f"access-{account}-{n}-5e2d9c1a",
        refresh_token=f"refresh-{account}-{n}-8b3f0a7d",
        expires_at=1_767_247_200.0 + n,
        scopes=("activity:read", "read"),
    )


def writes(backend: str, result: str) -> float:
    value = REGISTRY.get_sample_value(
        "paceline_mirror_writes_total", {"backend": backend, "result": result}
    )
    return value or 0.0


class BrokenMirror(FileMirror):
    def put(self, credential: Credential) -> bool:
        raise MirrorError("mirror is down")


def test_each_mirror_write_is_counted_by_backend_and_result(
    redis_client: redis.Redis, tmp_path: Path
) -> None:
    before = {r: writes("file", r) for r in ("written", "skipped", "failed")}
    store = TokenStore(redis_client, FileMirror(tmp_path / "mirror"), codec_for(None))

    saved = store.save(cred(n=1), expected_version=0).credential
    store.save(cred(n=2), expected_version=1)
    # older than the mirror's copy: the mirror is up to date, nothing is written
    assert store.mirror_credential(saved)

    assert writes("file", "written") - before["written"] == 2
    assert writes("file", "skipped") - before["skipped"] == 1
    assert writes("file", "failed") - before["failed"] == 0


def test_failed_mirror_writes_are_counted_per_attempt(
    redis_client: redis.Redis, tmp_path: Path
) -> None:
    before = writes("file", "failed"), writes("file", "written")
    store = TokenStore(redis_client, BrokenMirror(tmp_path / "mirror"), codec_for(None))

    result = store.save(cred("7"), expected_version=0)

    assert not result.mirrored
    assert writes("file", "failed") - before[0] == 3  # the store tries three times
    assert writes("file", "written") - before[1] == 0


def test_labels_stay_bounded_whatever_the_account(
    redis_client: redis.Redis, tmp_path: Path
) -> None:
    store = TokenStore(redis_client, FileMirror(tmp_path / "mirror"), codec_for(None))
    for account in ("1", "22", "333"):
        store.save(cred(account), expected_version=0)
    TokenStore(redis_client, NullMirror(), codec_for(None)).save(cred("4"), expected_version=0)

    assert MIRROR_WRITES._labelnames == ("backend", "result")
    samples = [
        sample
        for metric in REGISTRY.collect()
        for sample in metric.samples
        if sample.name == "paceline_mirror_writes_total"
    ]
    assert samples
    for sample in samples:  # the mirror's kind and one of three words: no account, no token
        assert sample.labels["backend"] in {"none", "file", "kubernetes"}
        assert sample.labels["result"] in {"written", "skipped", "failed"}
    assert writes("none", "skipped") >= 1
