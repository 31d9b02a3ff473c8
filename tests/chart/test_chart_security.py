"""Production defaults over the rendered YAML: resources, probes, security contexts,
service account tokens, RBAC on the tokens Secret, secrets without default values."""

from __future__ import annotations

import base64

import pytest

from tests.chart.conftest import (
    PROFILES,
    Helm,
    Manifest,
    containers,
    env_of,
    find,
    one,
    pod_spec,
    pod_template,
)

TOKENS_SECRET = "paceline-tokens"
# Components whose pods patch the tokens Secret through the Kubernetes API.
API_USERS = {"activity-api", "auth-gateway", "token-refresher"}
WELL_KNOWN_PASSWORDS = {
    "",
    "password",
    "changeme",
    "change-me",
    "secret",
    "admin",
    "redis",
    "paceline",
    "default",
    "test",
    "123456",
}


def _component(manifest: Manifest) -> str:
    metadata = (
        manifest.obj["metadata"] if manifest.kind == "Pod" else pod_template(manifest)["metadata"]
    )
    return metadata["labels"]["app.kubernetes.io/component"]


def _workloads(manifests: list[Manifest]) -> list[Manifest]:
    return [m for m in manifests if pod_spec(m) is not None]


def _is_test_pod(manifest: Manifest) -> bool:
    annotations = manifest.obj["metadata"].get("annotations") or {}
    return manifest.kind == "Pod" and annotations.get("helm.sh/hook") == "test"


@pytest.mark.parametrize("profile", PROFILES)
def test_every_container_has_resources(render, profile: str) -> None:
    for workload in _workloads(render(profile)):
        for container in containers(workload):
            resources = container.get("resources") or {}
            where = f"{workload.kind}/{workload.name}/{container['name']}"
            assert resources.get("requests", {}).get("cpu"), f"{where}: no cpu request"
            assert resources.get("requests", {}).get("memory"), f"{where}: no memory request"
            assert resources.get("limits", {}).get("memory"), f"{where}: no memory limit"


@pytest.mark.parametrize("profile", PROFILES)
def test_every_long_running_container_has_three_probes(render, profile: str) -> None:
    for workload in _workloads(render(profile)):
        if workload.kind == "CronJob" or _is_test_pod(workload):
            continue  # run-to-completion: nothing to probe
        for container in containers(workload):
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                assert probe in container, f"{workload.name}/{container['name']}: no {probe}"


def test_gunicorn_services_probe_healthz_and_readyz(render) -> None:
    manifests = render("default")
    for name in ("paceline-activity-api", "paceline-auth-gateway"):
        (container,) = containers(one(manifests, "Deployment", name))
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}


@pytest.mark.parametrize("profile", PROFILES)
def test_every_container_runs_locked_down(render, profile: str) -> None:
    for workload in _workloads(render(profile)):
        expected_uid = 999 if _component(workload) == "redis" else 10001
        pod_context = pod_spec(workload).get("securityContext") or {}
        assert pod_context.get("runAsNonRoot") is True, workload.name
        assert pod_context.get("seccompProfile") == {"type": "RuntimeDefault"}, workload.name
        for container in containers(workload):
            where = f"{workload.kind}/{workload.name}/{container['name']}"
            context = container.get("securityContext") or {}
            assert context.get("runAsNonRoot") is True, where
            assert context.get("runAsUser") == expected_uid, where
            assert context.get("readOnlyRootFilesystem") is True, where
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context.get("capabilities", {}).get("drop") == ["ALL"], where
            assert not context.get("capabilities", {}).get("add"), where
            assert context.get("seccompProfile") == {"type": "RuntimeDefault"}, where
            assert not context.get("privileged"), where


@pytest.mark.parametrize("profile", PROFILES)
def test_service_account_token_is_mounted_only_where_the_api_is_used(render, profile: str) -> None:
    manifests = render(profile)
    for workload in _workloads(manifests):
        component = _component(workload)
        mounted = pod_spec(workload).get("automountServiceAccountToken")
        # The webhook consumer runs under activity-api's ServiceAccount (it erases accounts).
        uses_api = component in API_USERS or component == "webhook-consumer"
        assert mounted is uses_api, f"{workload.name}: automount={mounted}"
    for account in find(manifests, "ServiceAccount"):
        component = account.obj["metadata"]["labels"]["app.kubernetes.io/component"]
        assert account.obj["automountServiceAccountToken"] is (component in API_USERS)


@pytest.mark.parametrize("profile", PROFILES)
def test_roles_allow_only_get_and_patch_on_the_tokens_secret(render, profile: str) -> None:
    manifests = render(profile)
    assert not find(manifests, "ClusterRole") and not find(manifests, "ClusterRoleBinding")
    roles = find(manifests, "Role")
    assert {r.name for r in roles} == {f"paceline-{c}" for c in API_USERS}
    for role in roles:
        assert role.obj["rules"] == [
            {
                "apiGroups": [""],
                "resources": ["secrets"],
                "resourceNames": [TOKENS_SECRET],
                "verbs": ["get", "patch"],
            }
        ]


def test_role_bindings_bind_each_component_to_its_own_role(render) -> None:
    manifests = render("default")
    for component in API_USERS:
        binding = one(manifests, "RoleBinding", f"paceline-{component}")
        assert binding.obj["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": f"paceline-{component}",
        }
        assert binding.obj["subjects"] == [
            {"kind": "ServiceAccount", "name": f"paceline-{component}", "namespace": "paceline"}
        ]
        workload = next(w for w in _workloads(manifests) if _component(w) == component)
        assert pod_spec(workload)["serviceAccountName"] == f"paceline-{component}"


def test_the_services_are_told_the_tokens_secret_name(render) -> None:
    config = one(render("default"), "ConfigMap", "paceline-config").obj["data"]
    assert config["PACELINE_SECRET_BACKEND"] == "kubernetes"
    assert config["PACELINE_SECRET_NAME"] == TOKENS_SECRET


def test_tokens_secret_is_created_empty_and_kept_on_uninstall(render) -> None:
    secret = one(render("default"), "Secret", TOKENS_SECRET).obj
    assert secret["type"] == "Opaque"
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert not secret.get("data")
    assert not secret.get("stringData")


def test_tokens_secret_can_be_brought_by_the_user(helm: Helm) -> None:
    manifests = helm.render(
        "default", "--set", "tokensSecret.create=false", "--set", "tokensSecret.name=my-tokens"
    )
    assert not find(manifests, "Secret", TOKENS_SECRET)
    for role in find(manifests, "Role"):
        assert role.obj["rules"][0]["resourceNames"] == ["my-tokens"]


def _secret_values(manifests: list[Manifest]) -> dict[tuple[str, str], str]:
    values = {}
    for secret in find(manifests, "Secret"):
        for key, value in (secret.obj.get("data") or {}).items():
            values[(secret.name, key)] = base64.b64decode(value).decode()
        for key, value in (secret.obj.get("stringData") or {}).items():
            values[(secret.name, key)] = value
    return values


GENERATED = {
    ("paceline-redis", "redis-password"),
    ("paceline-auth-gateway", "session-secret"),
    ("paceline-activity-api", "webhook-verify-token"),
    ("paceline-sandbox", "client-secret"),
}


@pytest.mark.parametrize("profile", PROFILES)
def test_secrets_hold_no_default_or_well_known_value(render, profile: str) -> None:
    for (secret, key), value in _secret_values(render(profile)).items():
        assert value.lower() not in WELL_KNOWN_PASSWORDS, f"{secret}/{key} = {value!r}"
        if (secret, key) in GENERATED:
            assert len(value) >= 32, f"{secret}/{key} is short"
            assert value.isalnum(), f"{secret}/{key}"


def test_generated_secrets_differ_between_installs(helm: Helm) -> None:
    first = _secret_values(helm.render_fresh("sandbox"))
    second = _secret_values(helm.render_fresh("sandbox"))
    generated = GENERATED & first.keys()
    assert generated == GENERATED, "every generated secret is rendered in the sandbox profile"
    for key in generated:
        assert first[key] != second[key], f"{key} is the same in two installs"


def test_existing_secrets_are_referenced_not_created(render) -> None:
    manifests = render("external-redis")
    created = {s.name for s in find(manifests, "Secret")}
    assert created == {TOKENS_SECRET}
    (container,) = containers(one(manifests, "Deployment", "paceline-auth-gateway"))
    refs = {
        item["name"]: item["valueFrom"]["secretKeyRef"]
        for item in container["env"]
        if "secretKeyRef" in item.get("valueFrom", {})
    }
    assert refs["PACELINE_ADMIN_PASSWORD_HASH"] == {"name": "paceline-admin", "key": "hash"}
    assert refs["PACELINE_SESSION_SECRET"] == {"name": "paceline-session", "key": "key"}
    assert refs["PACELINE_REDIS_PASSWORD"] == {
        "name": "paceline-redis-credentials",
        "key": "password",
    }
    assert refs["PACELINE_STRAVA_CLIENT_ID"] == {"name": "strava-application", "key": "id"}
    assert refs["PACELINE_STRAVA_CLIENT_SECRET"] == {
        "name": "strava-application",
        "key": "secret",
    }
    assert refs["PACELINE_ENCRYPTION_KEY"] == {
        "name": "paceline-encryption",
        "key": "encryption-key",
    }
    for name in ("paceline-activity-api", "paceline-webhook-consumer"):
        (container,) = containers(one(manifests, "Deployment", name))
        refs = {
            item["name"]: item["valueFrom"]["secretKeyRef"]
            for item in container["env"]
            if "secretKeyRef" in item.get("valueFrom", {})
        }
        assert refs["PACELINE_WEBHOOK_PATH_SECRET"] == {"name": "paceline-webhook-path", "key": "p"}


def test_no_secret_value_is_placed_in_plain_environment_or_config(render) -> None:
    manifests = render("everything")
    secrets = {v for v in _secret_values(manifests).values() if len(v) >= 8}
    config = one(manifests, "ConfigMap", "paceline-config").obj["data"]
    assert not secrets & set(config.values())
    for workload in _workloads(manifests):
        for container in containers(workload):
            for item in container.get("env", []):
                assert item.get("value") not in secrets, f"{workload.name}: {item['name']}"


@pytest.mark.parametrize("profile", PROFILES)
def test_pods_roll_when_their_config_or_secrets_change(render, profile: str) -> None:
    for workload in _workloads(render(profile)):
        if _is_test_pod(workload):
            continue
        annotations = pod_template(workload)["metadata"].get("annotations") or {}
        assert any(k.startswith("checksum/") for k in annotations), workload.name
        if _component(workload) in API_USERS:
            assert "checksum/config" in annotations, workload.name


def test_a_config_change_changes_the_checksum(helm: Helm) -> None:
    def checksum(*extra: str) -> str:
        deployment = one(helm.render("default", *extra), "Deployment", "paceline-activity-api")
        return pod_template(deployment)["metadata"]["annotations"]["checksum/config"]

    assert checksum() != checksum("--set", "config.logLevel=DEBUG")


@pytest.mark.parametrize("profile", PROFILES)
def test_every_resource_has_the_recommended_labels(render, profile: str) -> None:
    for manifest in render(profile):
        labels = manifest.obj["metadata"].get("labels") or {}
        for label in (
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            "app.kubernetes.io/version",
            "app.kubernetes.io/part-of",
            "app.kubernetes.io/managed-by",
            "helm.sh/chart",
        ):
            assert label in labels, f"{manifest.kind}/{manifest.name} lacks {label}"


def test_images_default_to_the_app_version_and_use_the_global_registry(render) -> None:
    default = {c["image"] for w in _workloads(render("sandbox")) for c in containers(w)}
    assert {
        "paceline/activity-api:0.1.0",
        "paceline/auth-gateway:0.1.0",
        "paceline/token-refresher:0.1.0",
        "paceline/provider-sandbox:0.1.0",
        "redis:7.4.2-alpine",
    } == default
    for workload in _workloads(render("everything")):
        spec = pod_spec(workload)
        assert spec["imagePullSecrets"] == [{"name": "regcred"}], workload.name
        for container in containers(workload):
            assert container["image"].startswith("registry.example.com/"), container["image"]


def test_an_image_digest_wins_over_the_tag(helm: Helm) -> None:
    digest = "sha256:" + "a" * 64
    manifests = helm.render("default", "--set", f"activityApi.image.digest={digest}")
    (container,) = containers(one(manifests, "Deployment", "paceline-activity-api"))
    assert container["image"] == f"paceline/activity-api@{digest}"


def _encryption_key(manifests: list[Manifest]) -> str:
    secret = one(manifests, "Secret", "paceline-encryption").obj
    return base64.b64decode(secret["data"]["encryption-key"]).decode()


def test_tokens_are_encrypted_by_default_with_a_generated_kept_fernet_key(helm: Helm) -> None:
    from cryptography.fernet import Fernet

    manifests = helm.render_fresh("default")
    secret = one(manifests, "Secret", "paceline-encryption").obj
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    key = _encryption_key(manifests)
    assert len(key) == 44
    token = Fernet(key.encode()).encrypt(b"x")  # a valid Fernet key, url-safe
    assert Fernet(key.encode()).decrypt(token) == b"x"
    assert key != _encryption_key(helm.render_fresh("default")), "a new key per install"
    for name in ("paceline-activity-api", "paceline-auth-gateway", "paceline-token-refresher"):
        workload = next(m for m in manifests if m.name == name and m.kind != "Service")
        for container in containers(workload):
            ref = env_of(container)["PACELINE_ENCRYPTION_KEY"]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": "paceline-encryption", "key": "encryption-key"}, name


def test_a_given_encryption_secret_replaces_the_generated_one(helm: Helm) -> None:
    manifests = helm.render(
        "default",
        "--set",
        "encryption.existingSecret=my-keys",
        "--set",
        "encryption.existingSecretKey=keys",
    )
    assert not find(manifests, "Secret", "paceline-encryption")
    container = next(containers(one(manifests, "Deployment", "paceline-activity-api")))
    ref = env_of(container)["PACELINE_ENCRYPTION_KEY"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "my-keys", "key": "keys"}
