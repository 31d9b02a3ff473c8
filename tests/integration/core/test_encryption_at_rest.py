"""Tokens are encrypted at rest wherever they are kept: Redis and the durable mirror (the
Kubernetes Secret through the API double, and the file backend), with the key the Helm chart
generates by default; keys rotate (several comma-separated keys, the first one seals); records
from before encryption or under an older key are read and sealed again on their next write."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import redis
from cryptography.fernet import Fernet
from paceline.credential import Credential
from paceline.crypto import TokenDecryptError, codec_for
from paceline.mirror import FileMirror, KubernetesSecretMirror, MirrorError, mirror_from_settings
from paceline.settings import ConfigError, load_settings
from paceline.store import TokenStore

from tests.chart.conftest import Helm, one
from tests.chart.conftest import helm as helm
from tests.fixtures.kube_api import KubeApiDouble

NS, NAME = "paceline", "paceline-tokens"
ACCESS, REFRESH = "access-token-aaaaaaaaaaaa", "refresh-token-rrrrrrrrrrrr"


def credential(version: int = 0) -> Credential:
    return Credential("strava", "42", ACCESS, REFRESH, 2e9, version=version)


def chart_default_key(helm: Helm) -> str:
    """The Fernet key the chart generates when none is given (what a default install runs)."""
    secret = one(helm.render("default"), "Secret", "paceline-encryption").obj
    return base64.b64decode(secret["data"]["encryption-key"]).decode()


def raw_redis_record(client: redis.Redis) -> str:
    return str(client.hget("paceline:credential:strava:42", "record"), "utf-8")


def test_the_secret_mirror_holds_no_plaintext_token_with_the_charts_default_key(
    helm: Helm,
    kube_api: KubeApiDouble,
    redis_client: redis.Redis,
) -> None:
    key = chart_default_key(helm)
    kube_api.create_secret(NS, NAME)
    settings = load_settings(
        secret_backend="kubernetes",
        secret_name=NAME,
        secret_namespace=NS,
        encryption_key=key,
    )
    mirror = mirror_from_settings(settings, kube_api.core_v1())
    store = TokenStore(redis_client, mirror, codec_for(key))
    store.save(credential(), expected_version=0)

    stored = kube_api.decoded(NS, NAME)
    assert set(stored) == {"strava.42"}
    text = stored["strava.42"].decode()
    assert ACCESS not in text and REFRESH not in text
    assert json.loads(text)["refresh_token"].startswith("fernet:")
    assert ACCESS not in raw_redis_record(redis_client)
    # And what it holds is the credential: restored from the mirror after Redis lost it.
    redis_client.flushdb()
    assert store.restore_from_mirror() == 1
    restored = store.get("strava", "42")
    assert restored is not None and restored.refresh_token == REFRESH


def test_the_file_mirror_is_encrypted_too(tmp_path: Path, redis_client: redis.Redis) -> None:
    key = Fernet.generate_key().decode()
    store = TokenStore(redis_client, FileMirror(tmp_path, codec_for(key)), codec_for(key))
    store.save(credential(), expected_version=0)
    text = (tmp_path / "strava.42.json").read_text()
    assert REFRESH not in text and ACCESS not in text


def test_a_second_key_rotates_records_on_their_next_write(
    kube_api: KubeApiDouble, redis_client: redis.Redis
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    kube_api.create_secret(NS, NAME)

    def store_with(keys: str) -> TokenStore:
        mirror = KubernetesSecretMirror(NAME, NS, kube_api.core_v1(), codec=codec_for(keys))
        return TokenStore(redis_client, mirror, codec_for(keys))

    saved = store_with(old).save(credential(), expected_version=0).credential
    rotating = store_with(f"{new},{old}")
    current = rotating.get("strava", "42")
    assert current is not None and current.refresh_token == REFRESH, "the old key still opens"
    rotating.save(current, expected_version=saved.version)

    only_new = store_with(new)
    again = only_new.get("strava", "42")
    assert again is not None and again.refresh_token == REFRESH, "rewritten under the new key"
    assert [c.refresh_token for c in only_new.mirror.load_all()] == [REFRESH]
    with pytest.raises(TokenDecryptError):
        store_with(old).get("strava", "42")


def test_plaintext_mirror_entries_from_before_encryption_are_read_then_sealed(
    kube_api: KubeApiDouble, redis_client: redis.Redis
) -> None:
    kube_api.create_secret(NS, NAME)
    plain = KubernetesSecretMirror(NAME, NS, kube_api.core_v1())
    plain.put(credential(version=3))  # what an install without a key wrote
    assert REFRESH in kube_api.decoded(NS, NAME)["strava.42"].decode()

    key = Fernet.generate_key().decode()
    mirror = KubernetesSecretMirror(NAME, NS, kube_api.core_v1(), codec=codec_for(key))
    store = TokenStore(redis_client, mirror, codec_for(key))
    assert store.restore_from_mirror() == 1  # Redis empty: the plain entry is read
    restored = store.get("strava", "42")
    assert restored is not None and restored.refresh_token == REFRESH
    assert REFRESH not in raw_redis_record(redis_client), "sealed on its way into Redis"
    store.save(restored, expected_version=3)
    assert REFRESH not in kube_api.decoded(NS, NAME)["strava.42"].decode()


def test_a_mirror_entry_under_an_unknown_key_fails_loudly(
    kube_api: KubeApiDouble,
) -> None:
    kube_api.create_secret(NS, NAME)
    first = Fernet.generate_key().decode()
    KubernetesSecretMirror(NAME, NS, kube_api.core_v1(), codec=codec_for(first)).put(credential(1))
    other = Fernet.generate_key().decode()
    with pytest.raises(MirrorError, match="PACELINE_ENCRYPTION_KEY"):
        KubernetesSecretMirror(NAME, NS, kube_api.core_v1(), codec=codec_for(other)).load_all()


def test_a_bad_key_in_the_list_fails_at_start_naming_the_variable() -> None:
    good = Fernet.generate_key().decode()
    with pytest.raises(ConfigError, match="PACELINE_ENCRYPTION_KEY"):
        load_settings(encryption_key=f"{good},not-a-key")
    assert load_settings(encryption_key=f"{good}, {Fernet.generate_key().decode()}")
