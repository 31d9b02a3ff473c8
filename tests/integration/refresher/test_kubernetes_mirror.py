"""A refresher pass with PACELINE_SECRET_BACKEND=kubernetes, against an API server double.

The double honours resourceVersion preconditions (409), RBAC (403) and missing objects (404)
for the one Secret the chart pre-creates; the real ``kubernetes`` client talks to it.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from paceline.credential import CredentialState
from paceline.runtime import Runtime

from tests.fixtures.kube_api import KubeApiDouble
from tests.integration.refresher.conftest import StravaSetup, run_cli

NAMESPACE, NAME = "paceline", "paceline-tokens"


def kube_runtime(setup: StravaSetup, kube_api: KubeApiDouble) -> Runtime:
    return setup.runtime(
        secret_backend="kubernetes",
        secret_namespace=NAMESPACE,
        secret_name=NAME,
        kube_api_client=kube_api.core_v1(),
    )


def in_secret(kube_api: KubeApiDouble, account: str) -> dict[str, object] | None:
    raw = kube_api.decoded(NAMESPACE, NAME).get(f"strava.{account}")
    return None if raw is None else json.loads(raw)


def test_pass_writes_the_rotated_pair_to_the_secret_with_get_and_patch_only(
    strava_setup: Callable[..., StravaSetup], kube_api: KubeApiDouble
) -> None:
    kube_api.create_secret(NAMESPACE, NAME)
    setup = strava_setup()
    runtime = kube_runtime(setup, kube_api)
    due = setup.seed(runtime, 30 * 60)
    assert in_secret(kube_api, due.account_id) is not None  # seeding mirrored version 1

    result = run_cli(runtime)

    assert result.code == 0
    saved = runtime.store.get("strava", due.account_id)
    entry = in_secret(kube_api, due.account_id)
    assert saved is not None and entry is not None
    assert entry["version"] == saved.version == due.version + 1
    assert entry["refresh_token"] == saved.refresh_token
    assert {r.method for r in kube_api.requests} == {"GET", "PATCH"}
    assert kube_api.count("PATCH", 200) == 2  # seed + refresh


def test_conflicting_concurrent_writer_is_retried_and_neither_write_is_lost(
    strava_setup: Callable[..., StravaSetup], kube_api: KubeApiDouble
) -> None:
    kube_api.create_secret(NAMESPACE, NAME)
    setup = strava_setup()
    runtime = kube_runtime(setup, kube_api)
    due = setup.seed(runtime, 30 * 60)
    other = json.dumps({"written": "by another pod"}).encode()
    kube_api.inject_concurrent_write("strava.someone-else", other)

    result = run_cli(runtime)

    assert result.code == 0
    assert kube_api.count("PATCH", 409) == 1
    saved = runtime.store.get("strava", due.account_id)
    entry = in_secret(kube_api, due.account_id)
    assert saved is not None and entry is not None and entry["version"] == saved.version
    assert kube_api.decoded(NAMESPACE, NAME)["strava.someone-else"] == other
    assert runtime.store.pending_mirror() == []


def test_forbidden_patch_keeps_redis_current_fails_the_run_and_resyncs_once_allowed(
    strava_setup: Callable[..., StravaSetup], kube_api: KubeApiDouble
) -> None:
    kube_api.create_secret(NAMESPACE, NAME)
    setup = strava_setup()
    runtime = kube_runtime(setup, kube_api)
    due = setup.seed(runtime, 30 * 60)
    kube_api.allowed[NAME] = {"get"}  # a Role without patch

    denied = run_cli(runtime)

    assert denied.code == 1
    saved = runtime.store.get("strava", due.account_id)
    assert saved is not None and saved.version == due.version + 1
    assert in_secret(kube_api, due.account_id)["version"] == due.version  # type: ignore[index]
    assert runtime.store.pending_mirror() == [("strava", due.account_id)]
    assert "must allow get and patch" in denied.stderr

    kube_api.allowed[NAME] = {"get", "patch"}
    fixed = run_cli(runtime)

    assert fixed.code == 0
    assert in_secret(kube_api, due.account_id)["version"] == saved.version  # type: ignore[index]
    assert runtime.store.pending_mirror() == []


def test_missing_secret_is_reported_and_fails_the_run(
    strava_setup: Callable[..., StravaSetup], kube_api: KubeApiDouble
) -> None:
    setup = strava_setup()
    runtime = kube_runtime(setup, kube_api)
    kube_api.create_secret(NAMESPACE, NAME)
    due = setup.seed(runtime, 30 * 60)
    del kube_api.secrets[(NAMESPACE, NAME)]  # someone deleted it (or the chart never ran)
    runtime.redis.delete("paceline:meta:restored")  # and this Redis has never been restored

    result = run_cli(runtime)

    assert result.code == 1
    assert "not found" in result.stderr and "pre-creates it" in result.stderr
    saved = runtime.store.get("strava", due.account_id)
    assert saved is not None and saved.version == due.version + 1
    assert runtime.store.pending_mirror() == [("strava", due.account_id)]


def test_redis_loss_is_restored_from_the_secret(
    strava_setup: Callable[..., StravaSetup], kube_api: KubeApiDouble
) -> None:
    kube_api.create_secret(NAMESPACE, NAME)
    setup = strava_setup()
    runtime = kube_runtime(setup, kube_api)
    due = setup.seed(runtime, 30 * 60)
    assert run_cli(runtime).code == 0
    refreshed = runtime.store.get("strava", due.account_id)
    assert refreshed is not None

    runtime.redis.flushall()
    result = run_cli(runtime, "--force")

    assert result.code == 0
    assert result.pass_summary()["restored_from_mirror"] == 1
    again = runtime.store.get("strava", due.account_id)
    assert again is not None and again.state is CredentialState.ACTIVE
    assert again.version == refreshed.version + 1  # restored, then refreshed once more
    assert in_secret(kube_api, due.account_id)["version"] == again.version  # type: ignore[index]
