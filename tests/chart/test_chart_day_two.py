"""Day two on a real cluster (issue 15): upgrades that restart nothing, installs that need
nothing the cluster lacks, drains that PDBs never block, quotas that admit every pod, and a
first install with no values but the sandbox switch."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.chart.conftest import (
    CHART,
    NAMESPACE,
    RELEASE,
    Helm,
    Manifest,
    containers,
    env_of,
    find,
    one,
    parse_manifests,
    pod_spec,
    pod_template,
)

WORKLOADS = {"Deployment", "StatefulSet", "CronJob"}


def checksums(manifests: list[Manifest]) -> dict[str, dict[str, str]]:
    return {
        f"{m.kind}/{m.name}": {
            key: value
            for key, value in (pod_template(m)["metadata"].get("annotations") or {}).items()
            if key.startswith("checksum/")
        }
        for m in manifests
        if m.kind in WORKLOADS
    }


def secret_data(manifests: list[Manifest]) -> dict[str, dict[str, str]]:
    return {m.name: m.obj.get("data", {}) for m in find(manifests, "Secret")}


def notes(helm: Helm, profile: str, *extra: str) -> str:
    result = helm.run(
        "install",
        RELEASE,
        str(CHART),
        "--dry-run=client",
        "--namespace",
        NAMESPACE,
        *helm.profile_args(profile),
        *extra,
    )
    return result.stdout.split("NOTES:", 1)[1]


# --- 1. a stable checksum ------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["default", "sandbox", "zero-config-sandbox", "everything"])
def test_checksums_are_the_same_on_two_renders_of_the_same_values(helm: Helm, profile: str) -> None:
    first, second = helm.render_fresh(profile), helm.render_fresh(profile)
    # The generated values really differ between the two renders (helm template cannot look
    # the Secrets up, as at install time): the checksum must not depend on them.
    generated = [
        (name, key)
        for name, data in secret_data(first).items()
        for key, value in data.items()
        if secret_data(second)[name][key] != value
    ]
    assert generated, "no generated secret value: this test would prove nothing"
    sums = checksums(first)
    assert any(s.get("checksum/secret") for s in sums.values())
    assert sums == checksums(second)


def test_a_value_you_give_still_rolls_the_pods(helm: Helm) -> None:
    def gateway_checksum(*extra: str) -> str:
        deployment = one(
            helm.render_fresh("default", *extra), "Deployment", "paceline-auth-gateway"
        )
        return pod_template(deployment)["metadata"]["annotations"]["checksum/secret"]

    assert gateway_checksum() != gateway_checksum(
        "--set-string", "gateway.admin.passwordHash=scrypt:32768:8:1$other$0123456789abcdef"
    )
    # switching a generated value to your own Secret rolls them too
    assert gateway_checksum() != gateway_checksum(
        "--set", "gateway.session.existingSecret=my-session"
    )


# --- 3. monitoring objects only where the prometheus-operator API is served --------------------


def test_monitoring_objects_are_skipped_with_a_note_without_the_operator_crds(helm: Helm) -> None:
    without = parse_manifests(
        helm.run(
            "template",
            RELEASE,
            str(CHART),
            "--namespace",
            NAMESPACE,
            *helm.profile_args("everything"),
        ).stdout
    )
    kinds = {m.kind for m in without}
    assert not {"ServiceMonitor", "PrometheusRule"} & kinds
    assert find(without, "ConfigMap", "paceline-dashboard")  # needs no CRD: still there

    skipped = notes(helm, "everything")
    assert "ServiceMonitor and PrometheusRule skipped" in skipped
    assert "monitoring.coreos.com/v1" in skipped
    # (helm install has no --api-versions; with monitoring off there is nothing to skip)
    assert "skipped" not in notes(
        helm,
        "everything",
        "--set",
        "monitoring.serviceMonitor.enabled=false",
        "--set",
        "monitoring.prometheusRule.enabled=false",
    )
    with_crds = {m.kind for m in helm.render("everything")}
    assert {"ServiceMonitor", "PrometheusRule"} <= with_crds


# --- 5. PDBs never block a drain --------------------------------------------------------------


def _fewest_replicas(manifests: list[Manifest], component: str) -> int:
    hpas = [
        m
        for m in find(manifests, "HorizontalPodAutoscaler")
        if m.obj["spec"]["scaleTargetRef"]["name"] == f"paceline-{component}"
    ]
    if hpas:
        return int(hpas[0].obj["spec"]["minReplicas"])
    return int(one(manifests, "Deployment", f"paceline-{component}").obj["spec"]["replicas"])


@pytest.mark.parametrize("profile", ["everything", "plain-cluster"])
def test_pod_disruption_budgets_always_allow_one_eviction(render, profile: str) -> None:
    manifests = render(profile)
    pdbs = find(manifests, "PodDisruptionBudget")
    assert pdbs
    for pdb in pdbs:
        spec = pdb.obj["spec"]
        component = pdb.obj["metadata"]["labels"]["app.kubernetes.io/component"]
        if "maxUnavailable" in spec:
            assert int(spec["maxUnavailable"]) >= 1, pdb.name
        else:
            assert int(spec["minAvailable"]) < _fewest_replicas(manifests, component), pdb.name


def test_a_pdb_that_would_block_drains_is_refused(helm: Helm) -> None:
    result = helm.template(
        "default",
        "--set",
        "gateway.pdb.enabled=true",
        "--set",
        "gateway.pdb.maxUnavailable=null",
        "--set",
        "gateway.pdb.minAvailable=1",
        check=False,
    )
    assert result.returncode != 0
    assert "gateway.pdb.minAvailable" in result.stderr or "auth-gateway.pdb" in result.stderr
    assert "block every node drain" in result.stderr


@pytest.mark.parametrize("value", ["0", "0%"])
def test_a_pdb_with_no_unavailable_pod_is_refused(helm: Helm, value: str) -> None:
    result = helm.template(
        "default",
        "--set",
        "activityApi.pdb.enabled=true",
        "--set-string" if value.endswith("%") else "--set",
        f"activityApi.pdb.maxUnavailable={value}",
        check=False,
    )
    assert result.returncode != 0
    assert "maxUnavailable=0 would block every node drain" in result.stderr


def test_the_default_pdb_lets_a_single_replica_go(helm: Helm) -> None:
    manifests = helm.render("default", "--set", "gateway.pdb.enabled=true")
    assert one(manifests, "PodDisruptionBudget", "paceline-auth-gateway").obj["spec"] == {
        "maxUnavailable": 1,
        "selector": {
            "matchLabels": {
                "app.kubernetes.io/name": "paceline",
                "app.kubernetes.io/instance": "paceline",
                "app.kubernetes.io/component": "auth-gateway",
            }
        },
    }


# --- 6. CPU limits for namespaces with a limits.cpu quota ---------------------------------------


def _all_pods(manifests: list[Manifest]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{m.kind}/{m.name}/{c['name']}", c)
        for m in manifests
        if pod_spec(m) is not None
        for c in containers(m)
    ]


@pytest.mark.parametrize("profile", ["default", "zero-config-sandbox", "plain-cluster"])
def test_every_container_has_a_cpu_limit_so_a_quota_namespace_admits_it(
    helm: Helm, profile: str
) -> None:
    manifests = helm.render(profile)
    assert find(manifests, "Pod"), "the helm test pods count too"
    pods = _all_pods(manifests)
    assert pods
    missing = [name for name, c in pods if not c.get("resources", {}).get("limits", {}).get("cpu")]
    assert missing == []


def test_a_cpu_limit_can_be_removed(helm: Helm) -> None:
    manifests = helm.render("default", "--set", "activityApi.resources.limits.cpu=null")
    api = one(manifests, "Deployment", "paceline-activity-api")
    limits = next(containers(api))["resources"]["limits"]
    assert "cpu" not in limits
    assert limits["memory"]


# --- 7. schedule and time zone checked by the schema ---------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("tokenRefresher.schedule", "*/15 * * *"),  # four fields
        ("tokenRefresher.schedule", "*/15 * * * * *"),  # six fields
        ("tokenRefresher.schedule", "*/l5 * * * *"),  # letter l for 1
        ("tokenRefresher.schedule", "@hourli"),
        ("tokenRefresher.timeZone", "Europe Paris"),
        ("tokenRefresher.timeZone", "Etc/UTC "),
        ("tokenRefresher.timeZone", "/UTC"),
    ],
)
def test_a_schedule_or_time_zone_typo_fails_helm_template(helm: Helm, key: str, value: str) -> None:
    result = helm.template("default", "--set-json", f"{key}={json.dumps(value)}", check=False)
    assert result.returncode != 0, f"{key}={value!r} was accepted"
    assert key.split(".")[1] in result.stderr
    assert "values don't meet the specifications of the schema" in result.stderr


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("tokenRefresher.schedule", "@hourly"),
        ("tokenRefresher.schedule", "0 3 * * MON-FRI"),
        ("tokenRefresher.schedule", "5,35 */2 1-15 JAN,JUL 0"),
        ("tokenRefresher.timeZone", "America/Argentina/Buenos_Aires"),
        ("tokenRefresher.timeZone", "Etc/GMT+5"),
        ("tokenRefresher.timeZone", "UTC"),
    ],
)
def test_valid_schedules_and_time_zones_pass(helm: Helm, key: str, value: str) -> None:
    cronjob = one(
        helm.render("default", "--set-json", f"{key}={json.dumps(value)}"),
        "CronJob",
        "paceline-token-refresher",
    )
    assert cronjob.obj["spec"][key.split(".")[1]] == value


# --- 8. NOTES ports ------------------------------------------------------------------------------


def test_notes_widget_snippet_uses_the_api_port_forward_without_ingress(helm: Helm) -> None:
    text = notes(helm, "sandbox")
    assert "port-forward svc/paceline-activity-api 8081:8080" in text
    assert '<script src="http://localhost:8081/widget.js" defer></script>' in text
    assert "localhost:8080/api/widget.js" not in text
    assert "another origin than http://localhost:8081" in text  # CORS is the API's origin
    assert "http://localhost:8080/webhooks/strava" not in text  # the gateway takes none


# --- 9. zero-config first install ---------------------------------------------------------------


def test_zero_config_install_generates_a_kept_admin_password(helm: Helm) -> None:
    manifests = helm.render("zero-config-sandbox")
    secret = one(manifests, "Secret", "paceline-admin")
    assert secret.obj["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    password = base64.b64decode(secret.obj["data"]["admin-password"]).decode()
    assert len(password) >= 20 and password.isalnum()
    gateway = next(containers(one(manifests, "Deployment", "paceline-auth-gateway")))
    env = env_of(gateway)
    assert env["PACELINE_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "paceline-admin",
        "key": "admin-password",
    }
    assert "PACELINE_ADMIN_PASSWORD_HASH" not in env

    text = notes(helm, "zero-config-sandbox")
    assert (
        "kubectl -n paceline get secret paceline-admin -o jsonpath='{.data.admin-password}'"
        " | base64 -d" in text
    )


def test_a_given_password_hash_makes_no_admin_secret(render) -> None:
    manifests = render("default")
    assert not find(manifests, "Secret", "paceline-admin")
    env = env_of(next(containers(one(manifests, "Deployment", "paceline-auth-gateway"))))
    assert "PACELINE_ADMIN_PASSWORD" not in env
    assert env["PACELINE_ADMIN_PASSWORD_HASH"]["valueFrom"]["secretKeyRef"]["key"] == (
        "admin-password-hash"
    )


def test_real_strava_needs_only_the_client_id_and_secret(render) -> None:
    manifests = render("strava-two-values")
    strava = one(manifests, "Secret", "paceline-strava")
    assert base64.b64decode(strava.obj["data"]["client-id"]).decode() == "12345"
    assert not find(manifests, "Deployment", "paceline-sandbox")
    assert one(manifests, "Secret", "paceline-admin")
