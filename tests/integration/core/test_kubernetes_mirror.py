"""KubernetesSecretMirror with the real ``kubernetes`` client against a Kubernetes API double.

The chart pre-creates the Secret and grants get/patch on that one name; these tests prove the
mirror lives within that, survives concurrent writers, and explains misconfiguration.
"""

from __future__ import annotations

import base64
import json
import threading
from typing import Any

import pytest
import redis
import requests
from paceline.credential import Credential
from paceline.mirror import KubernetesSecretMirror, MirrorError, mirror_from_settings
from paceline.settings import load_settings
from paceline.store import TokenStore

from tests.fixtures.kube_api import KubeApiDouble

NS, NAME = "paceline", "paceline-tokens"


def cred(account: str = "42", version: int = 1) -> Credential:
    return Credential(
        provider="strava",
        account_id=account,
        access_token=f"access-{account}-{version}",
        refresh_token=f"refresh-{account}-{version}",
        expires_at=1_767_247_200.0,
        version=version,
    )


def entry(double: KubeApiDouble, key: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(double.decoded(NS, NAME)[key])
    return loaded


@pytest.fixture
def secret(kube_api: KubeApiDouble) -> KubeApiDouble:
    kube_api.create_secret(NS, NAME)
    return kube_api


@pytest.fixture
def mirror(secret: KubeApiDouble) -> KubernetesSecretMirror:
    return KubernetesSecretMirror(NAME, NS, api=secret.core_v1())


def test_put_and_load_all_round_trip(mirror: KubernetesSecretMirror, secret: KubeApiDouble) -> None:
    assert mirror.load_all() == []
    assert mirror.put(cred("1"))
    assert mirror.put(cred("2"))
    assert mirror.load_all() == [cred("1"), cred("2")]
    assert set(secret.decoded(NS, NAME)) == {"strava.1", "strava.2"}
    assert entry(secret, "strava.1")["refresh_token"] == "refresh-1-1"


def test_writes_are_merge_patches_carrying_the_resource_version(
    mirror: KubernetesSecretMirror, secret: KubeApiDouble
) -> None:
    mirror.put(cred())
    patches = [r for r in secret.requests if r.method == "PATCH"]
    assert [p.content_type for p in patches] == ["application/merge-patch+json"]
    assert {r.method for r in secret.requests} == {"GET", "PATCH"}, "only get and patch"


def test_never_downgrades(mirror: KubernetesSecretMirror, secret: KubeApiDouble) -> None:
    assert mirror.put(cred(version=3))
    assert not mirror.put(cred(version=2))
    assert not mirror.put(cred(version=3))
    assert entry(secret, "strava.42")["version"] == 3
    assert secret.count("PATCH") == 1


def test_conflicting_writer_between_get_and_patch_is_retried(
    mirror: KubernetesSecretMirror, secret: KubeApiDouble
) -> None:
    secret.inject_concurrent_write("strava.7", cred("7").to_json().encode())
    assert mirror.put(cred("42"))
    assert secret.count("PATCH", 409) == 1
    assert secret.count("PATCH", 200) == 1
    assert set(secret.decoded(NS, NAME)) == {"strava.7", "strava.42"}, "both writers' keys kept"


def test_retry_rechecks_the_version_after_a_conflict(
    mirror: KubernetesSecretMirror, secret: KubeApiDouble
) -> None:
    """If the concurrent writer stored a NEWER version of the same credential, the retry
    notices and does not overwrite it."""
    secret.inject_concurrent_write("strava.42", cred(version=5).to_json().encode())
    assert not mirror.put(cred(version=4))
    assert entry(secret, "strava.42")["version"] == 5


def test_two_mirrors_writing_in_parallel_lose_nothing(secret: KubeApiDouble) -> None:
    def write(accounts: range) -> None:
        own = KubernetesSecretMirror(NAME, NS, api=secret.core_v1(), conflict_retries=50)
        for account in accounts:
            own.put(cred(str(account)))

    threads = [threading.Thread(target=write, args=(range(i * 10, i * 10 + 10),)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(secret.decoded(NS, NAME)) == 30


def test_endless_conflicts_give_up_with_a_mirror_error(secret: KubeApiDouble) -> None:
    secret.inject_concurrent_write("other.1", b"{}", times=100)
    mirror = KubernetesSecretMirror(
        NAME, NS, api=secret.core_v1(), conflict_retries=3, sleep=lambda _: None
    )
    with pytest.raises(MirrorError) as caught:
        mirror.put(cred())
    assert "conflict" in str(caught.value)


def test_missing_secret_says_the_chart_precreates_it(kube_api: KubeApiDouble) -> None:
    kube_api.grant(NAME, {"get", "patch"})
    mirror = KubernetesSecretMirror(NAME, NS, api=kube_api.core_v1())
    with pytest.raises(MirrorError) as caught:
        mirror.load_all()
    message = str(caught.value)
    assert f"{NS}/{NAME}" in message and "not found" in message and "chart" in message


@pytest.mark.parametrize("verbs", [set(), {"patch"}, {"get"}])
def test_forbidden_says_the_role_needs_get_and_patch(
    kube_api: KubeApiDouble, verbs: set[str]
) -> None:
    kube_api.create_secret(NS, NAME, verbs=verbs)
    mirror = KubernetesSecretMirror(NAME, NS, api=kube_api.core_v1())
    with pytest.raises(MirrorError) as caught:
        mirror.put(cred())
    message = str(caught.value)
    assert "forbidden" in message and "get and patch" in message and NAME in message
    assert kube_api.decoded(NS, NAME) == {}


def test_unauthenticated_client_fails_with_a_mirror_error(secret: KubeApiDouble) -> None:
    mirror = KubernetesSecretMirror(NAME, NS, api=secret.core_v1(token="wrong"))
    with pytest.raises(MirrorError) as caught:
        mirror.load_all()
    assert "401" in str(caught.value)


def test_unreachable_api_is_a_mirror_error(kube_api: KubeApiDouble) -> None:
    api = kube_api.core_v1()
    kube_api.stop()
    with pytest.raises(MirrorError) as caught:
        KubernetesSecretMirror(NAME, NS, api=api).load_all()
    assert "unreachable" in str(caught.value)


def test_delete_removes_just_one_key(mirror: KubernetesSecretMirror, secret: KubeApiDouble) -> None:
    mirror.put(cred("1"))
    mirror.put(cred("2"))
    secret.write(NS, NAME, "unrelated", b"kept")
    mirror.delete("strava", "1")
    assert set(secret.decoded(NS, NAME)) == {"strava.2", "unrelated"}
    patches = secret.count("PATCH")
    mirror.delete("strava", "1")  # already gone: no write at all
    assert secret.count("PATCH") == patches


def test_delete_survives_a_concurrent_writer(
    mirror: KubernetesSecretMirror, secret: KubeApiDouble
) -> None:
    mirror.put(cred("1"))
    secret.inject_concurrent_write("strava.9", cred("9").to_json().encode())
    mirror.delete("strava", "1")
    assert set(secret.decoded(NS, NAME)) == {"strava.9"}


def test_secret_size_limit_is_refused_before_the_api_would(
    mirror: KubernetesSecretMirror, secret: KubeApiDouble
) -> None:
    secret.write(NS, NAME, "ballast", b"x" * 740_000)  # ~987 KB once base64-encoded
    big = cred().replace(display_name="y" * 20_000)
    with pytest.raises(MirrorError) as caught:
        mirror.put(big)
    message = str(caught.value)
    assert "1 MiB" in message and "PACELINE_SECRET_BACKEND=file" in message
    assert "strava.42" not in secret.decoded(NS, NAME)
    assert mirror.put(cred()), "a normal-sized credential still fits"


def test_unreadable_entry_is_skipped_on_load_and_replaced_on_put(
    mirror: KubernetesSecretMirror, secret: KubeApiDouble
) -> None:
    secret.write(NS, NAME, "strava.42", b"{garbage")
    mirror.put(cred("1"))
    assert mirror.load_all() == [cred("1")]
    assert mirror.put(cred("42"))
    assert entry(secret, "strava.42")["version"] == 1


def test_store_restores_from_the_secret_after_redis_loses_its_data(
    mirror: KubernetesSecretMirror, redis_client: redis.Redis
) -> None:
    store = TokenStore(redis_client, mirror)
    saved = store.save(cred(version=0), expected_version=0).credential
    redis_client.flushall()
    assert store.ensure_restored() == 1
    assert store.get("strava", "42") == saved


def test_backend_is_chosen_by_settings(secret: KubeApiDouble, clean_env: None) -> None:
    settings = load_settings(secret_backend="kubernetes", secret_namespace=NS, secret_name=NAME)
    mirror = mirror_from_settings(settings, api=secret.core_v1())
    assert isinstance(mirror, KubernetesSecretMirror)
    assert mirror.put(cred())
    assert "strava.42" in secret.decoded(NS, NAME)


# --- the double itself behaves like the API server -------------------------------------------
def raw_patch(double: KubeApiDouble, body: Any, content_type: str) -> requests.Response:
    return requests.patch(
        f"{double.url}/api/v1/namespaces/{NS}/secrets/{NAME}",
        data=json.dumps(body),
        headers={"Authorization": "Bearer t", "Content-Type": content_type},
        timeout=5,
    )


def test_double_rejects_an_object_sent_as_json_patch(secret: KubeApiDouble) -> None:
    response = raw_patch(secret, {"data": {"a": "YQ=="}}, "application/json-patch+json")
    assert response.status_code == 400
    assert response.json()["kind"] == "Status" and response.json()["reason"] == "BadRequest"


def test_double_applies_a_real_json_patch_list(secret: KubeApiDouble) -> None:
    secret.write(NS, NAME, "a", b"1")
    ops = [
        {"op": "test", "path": "/data/a", "value": base64.b64encode(b"1").decode()},
        {"op": "add", "path": "/data/b", "value": base64.b64encode(b"2").decode()},
        {"op": "remove", "path": "/data/a"},
    ]
    assert raw_patch(secret, ops, "application/json-patch+json").status_code == 200
    assert secret.decoded(NS, NAME) == {"b": b"2"}
    failing = [{"op": "test", "path": "/data/b", "value": "bm8="}]
    assert raw_patch(secret, failing, "application/json-patch+json").status_code == 422


def test_double_refuses_unknown_patch_types(secret: KubeApiDouble) -> None:
    response = raw_patch(secret, {"data": {}}, "text/plain")
    assert response.status_code == 415
    assert response.json()["reason"] == "UnsupportedMediaType"


def test_double_merge_patch_null_deletes_and_stale_version_conflicts(
    secret: KubeApiDouble,
) -> None:
    secret.write(NS, NAME, "a", b"1")
    secret.write(NS, NAME, "b", b"2")
    version = str(secret.secret(NS, NAME).resource_version)
    ok = raw_patch(
        secret,
        {"metadata": {"resourceVersion": version}, "data": {"a": None}},
        "application/merge-patch+json",
    )
    assert ok.status_code == 200
    assert ok.json()["metadata"]["resourceVersion"] != version
    assert secret.decoded(NS, NAME) == {"b": b"2"}
    stale = raw_patch(
        secret,
        {"metadata": {"resourceVersion": version}, "data": {"b": None}},
        "application/merge-patch+json",
    )
    assert stale.status_code == 409
    assert stale.json() | {"details": None} == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": stale.json()["message"],
        "reason": "Conflict",
        "code": 409,
        "details": None,
    }
    assert secret.decoded(NS, NAME) == {"b": b"2"}


def test_double_refuses_oversized_secrets_like_the_api_server(secret: KubeApiDouble) -> None:
    big = base64.b64encode(b"x" * (1024 * 1024 + 1)).decode()
    response = raw_patch(secret, {"data": {"big": big}}, "application/merge-patch+json")
    assert response.status_code == 422 and response.json()["reason"] == "Invalid"
