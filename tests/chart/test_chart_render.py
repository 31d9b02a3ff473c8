"""helm lint and helm template: every profile renders, bad values fail with a clear message."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.chart.conftest import CHART, PROFILES, RELEASE, REPO, REQUIRED_VALUES, Helm, find, one


@pytest.mark.parametrize("profile", PROFILES)
def test_helm_lint_strict_passes(helm: Helm, profile: str) -> None:
    result = helm.run("lint", "--strict", str(CHART), *helm.profile_args(profile), check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_default_values_render_the_core_workloads(render) -> None:
    manifests = render("default")
    kinds = {(m.kind, m.name) for m in manifests}
    for expected in [
        ("Deployment", "paceline-activity-api"),
        ("Deployment", "paceline-auth-gateway"),
        ("CronJob", "paceline-token-refresher"),
        ("StatefulSet", "paceline-redis"),
        ("Service", "paceline-activity-api"),
        ("Service", "paceline-auth-gateway"),
        ("Service", "paceline-redis"),
        ("Secret", "paceline-tokens"),
        ("ConfigMap", "paceline-config"),
    ]:
        assert expected in kinds
    optional = {"Ingress", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    assert not optional & {m.kind for m in manifests}, "optional resources are off by default"
    policies = {m.name for m in find(manifests, "NetworkPolicy")}
    assert policies == {
        "paceline-activity-api",
        "paceline-auth-gateway",
        "paceline-token-refresher",
        "paceline-webhook-consumer",
        "paceline-redis",
    }, "NetworkPolicies are on by default"
    assert not {"ServiceMonitor", "PrometheusRule"} & {m.kind for m in manifests}
    assert not find(manifests, "Deployment", "paceline-sandbox")


def test_everything_profile_renders_every_optional_resource(render) -> None:
    manifests = render("everything")
    counts: dict[str, int] = {}
    for manifest in manifests:
        counts[manifest.kind] = counts.get(manifest.kind, 0) + 1
    assert counts["Ingress"] == 2  # the public API, and the gateway behind its own door
    assert counts["HorizontalPodAutoscaler"] == 1
    assert counts["PodDisruptionBudget"] == 2
    # activity-api, auth-gateway, token-refresher, redis, webhook-consumer
    assert counts["NetworkPolicy"] == 5
    assert counts["ServiceMonitor"] == 1
    assert counts["PrometheusRule"] == 1
    dashboard = one(manifests, "ConfigMap", "paceline-dashboard")
    assert dashboard.obj["metadata"]["labels"]["grafana_dashboard"] == "1"


def test_sandbox_profile_renders_the_sandbox(render) -> None:
    manifests = render("sandbox")
    one(manifests, "Deployment", "paceline-sandbox")
    one(manifests, "Service", "paceline-sandbox")
    one(manifests, "Secret", "paceline-sandbox")
    one(manifests, "NetworkPolicy", "paceline-sandbox")
    assert not find(manifests, "Secret", "paceline-strava"), "the sandbox's credentials are used"


def test_external_redis_profile_renders_no_bundled_redis(render) -> None:
    manifests = render("external-redis")
    assert not [m for m in manifests if m.name.startswith("paceline-redis")]


def test_kubernetes_older_than_claimed_is_refused(helm: Helm) -> None:
    result = helm.template("default", "--kube-version", "1.28.9", check=False)
    assert result.returncode != 0
    assert "kubeVersion" in result.stderr or ">=1.29.0-0" in result.stderr


def test_missing_admin_password_hash_means_a_generated_password(helm: Helm) -> None:
    # issue 15: no longer a failure; the password is generated into a kept Secret
    manifests = helm.render("default", "--set", "gateway.admin.passwordHash=")
    assert one(manifests, "Secret", "paceline-admin")
    gateway = one(manifests, "Deployment", "paceline-auth-gateway")
    env = gateway.obj["spec"]["template"]["spec"]["containers"][0]["env"]
    assert "PACELINE_ADMIN_PASSWORD" in {e["name"] for e in env}


def test_a_plain_password_is_refused_where_a_hash_belongs(helm: Helm) -> None:
    result = helm.template(
        "default", "--set-string", "gateway.admin.passwordHash=letmein", check=False
    )
    assert result.returncode != 0
    assert "passwordHash" in result.stderr


PROXY_SECRET = "a-shared-secret-of-the-auth-proxy-xxxxxxxx"
PROXIED = [
    "--set",
    "gateway.trustedAuthHeader=X-Auth-Request-Email",
    "--set",
    f"gateway.trustedProxy.secret={PROXY_SECRET}",
    "--set",
    "gateway.adminEmails={owner@example.com}",
]


def test_a_trusted_proxy_header_replaces_the_admin_password(helm: Helm) -> None:
    result = helm.template("default", "--set", "gateway.admin.passwordHash=", *PROXIED)
    assert "PACELINE_ADMIN_PASSWORD" not in result.stdout  # neither a hash nor a generated one
    assert "name: paceline-admin" not in result.stdout
    assert "X-Auth-Request-Email" in result.stdout


def test_a_trusted_header_without_the_proxy_secret_fails_to_render(helm: Helm) -> None:
    result = helm.template(
        "default", "--set", "gateway.trustedAuthHeader=X-Auth-Request-Email", check=False
    )
    assert result.returncode != 0
    assert "gateway.trustedAuthHeader needs gateway.trustedProxy.secret" in result.stderr
    short = helm.template(
        "default", *PROXIED, "--set", "gateway.trustedProxy.secret=short", check=False
    )
    assert short.returncode != 0 and "at least 32 characters" in short.stderr
    no_admins = helm.template("default", *PROXIED, "--set", "gateway.adminEmails=null", check=False)
    assert no_admins.returncode != 0 and "gateway.adminEmails" in no_admins.stderr


def test_install_without_any_values_fails_and_names_what_is_missing(helm: Helm) -> None:
    result = helm.run("template", RELEASE, str(CHART), check=False)
    assert result.returncode != 0
    assert re.search(r"(gateway\.admin|strava\.clientId)", result.stderr), result.stderr


def test_missing_strava_credentials_fail_unless_the_sandbox_is_enabled(helm: Helm) -> None:
    unset = ["--set", "strava.clientId=", "--set", "strava.clientSecret="]
    result = helm.template("default", *unset, check=False)
    assert result.returncode != 0
    assert "strava.clientId and strava.clientSecret" in result.stderr
    assert "sandbox.enabled=true" in result.stderr
    assert helm.template("default", *unset, "--set", "sandbox.enabled=true").returncode == 0


def test_half_given_strava_credentials_fail(helm: Helm) -> None:
    result = helm.template("default", "--set", "strava.clientSecret=", check=False)
    assert result.returncode != 0
    assert "must be set together" in result.stderr


def test_external_redis_without_url_fails(helm: Helm) -> None:
    result = helm.template("default", "--set", "redis.enabled=false", check=False)
    assert result.returncode != 0
    assert "redis.external.url is required" in result.stderr


@pytest.mark.parametrize(
    ("flag", "value", "needle"),
    [
        ("--set", "activityApi.replicaCont=2", "replicaCont"),
        ("--set", "redis.persistance.enabled=false", "persistance"),
        ("--set", "ingres.enabled=true", "ingres"),
        ("--set", "monitoring.serviceMonitor.additionalLabel.release=x", "additionalLabel"),
    ],
)
def test_values_schema_rejects_a_misspelt_key(
    helm: Helm, flag: str, value: str, needle: str
) -> None:
    result = helm.template("default", flag, value, check=False)
    assert result.returncode != 0, f"{value} was accepted"
    assert needle in result.stderr


@pytest.mark.parametrize(
    "value",
    [
        "activityApi.replicaCount=two",
        "redis.enabled=maybe",
        "tokenRefresher.backoffLimit=-1",
        "config.logLevel=LOUD",
        "activityApi.corsOrigins[0]=blog.example.com",
        "gateway.trustedAuthHeader=X Auth",
        "activityApi.image.pullPolicy=Sometimes",
    ],
)
def test_values_schema_rejects_a_wrong_type_or_value(helm: Helm, value: str) -> None:
    result = helm.template("default", "--set-string", value, check=False)
    assert result.returncode != 0, f"{value} was accepted"
    assert "schema" in result.stderr.lower()


def _key_tree(lines: list[str]) -> list[dict]:
    """values.yaml keys as a tree: key, indent, commented, children (list values skipped)."""
    root: list[dict] = []
    stack: list[tuple[int, list[dict]]] = [(-1, root)]
    previous_comment_indent: int | None = None
    skip_deeper_than: int | None = None
    for raw in lines:
        line = raw.rstrip()
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if not stripped:
            previous_comment_indent = None
            continue
        if skip_deeper_than is not None and indent > skip_deeper_than:
            continue
        skip_deeper_than = None
        if stripped.startswith("#"):
            previous_comment_indent = indent
            continue
        if stripped.startswith("- "):
            skip_deeper_than = indent - 1
            continue
        match = re.match(r"([A-Za-z0-9_./-]+):(\s|$)", stripped)
        assert match, f"unexpected line in values.yaml: {raw!r}"
        while stack[-1][0] >= indent:
            stack.pop()
        node = {
            "key": match.group(1),
            "indent": indent,
            "commented": previous_comment_indent == indent,
            "children": [],
        }
        stack[-1][1].append(node)
        stack.append((indent, node["children"]))
        previous_comment_indent = None
    return root


def _undocumented(nodes: list[dict], path: str = "") -> list[str]:
    missing = []
    for node in nodes:
        key = f"{path}.{node['key']}" if path else node["key"]
        children = node["children"]
        if not children:
            if not node["commented"]:
                missing.append(key)
        elif node["commented"] and not any(child["commented"] for child in children):
            continue  # a documented Kubernetes object passed through as a whole
        else:
            missing += _undocumented(children, key)
    return missing


def test_every_values_knob_has_a_comment() -> None:
    lines = (CHART / "values.yaml").read_text(encoding="utf-8").splitlines()
    assert _undocumented(_key_tree(lines)) == []


def test_values_yaml_and_required_values_are_valid_yaml() -> None:
    for path in (
        CHART / "values.yaml",
        REQUIRED_VALUES,
        *Path(REQUIRED_VALUES).parent.glob("*.yaml"),
    ):
        assert isinstance(yaml.safe_load(path.read_text(encoding="utf-8")), dict), path


def test_long_release_names_still_give_valid_names(helm: Helm) -> None:
    release = "a-very-long-release-name-for-a-personal-activity-site"  # 53 characters
    result = helm.run("template", release, str(CHART), *helm.profile_args("everything"))
    for doc in yaml.safe_load_all(result.stdout):
        if not doc:
            continue
        name = doc["metadata"]["name"]
        limit = 52 if doc["kind"] == "CronJob" else 63
        assert len(name) <= limit, f"{doc['kind']}/{name} is longer than {limit}"
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name), name


def test_notes_tell_the_next_steps(helm: Helm) -> None:
    result = helm.run(
        "install", RELEASE, str(CHART), "--dry-run=client", *helm.profile_args("everything")
    )
    notes = result.stdout.split("NOTES:", 1)[1]
    assert "https://fit.example.com/auth/" in notes
    assert "Connect Strava" in notes
    assert '<script src="https://fit.example.com/api/widget.js" defer></script>' in notes
    assert "<paceline-activity></paceline-activity>" in notes
    assert "helm test paceline" in notes


def test_notes_explain_port_forward_and_sandbox_without_ingress(helm: Helm) -> None:
    result = helm.run(
        "install", RELEASE, str(CHART), "--dry-run=client", *helm.profile_args("sandbox")
    )
    notes = result.stdout.split("NOTES:", 1)[1]
    assert "port-forward svc/paceline-auth-gateway 8080:8080" in notes
    assert "port-forward svc/paceline-sandbox 8090:8090" in notes


def test_chart_readme_values_table_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "chart_values_table.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
