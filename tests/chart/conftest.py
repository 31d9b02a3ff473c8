"""Fixtures for the chart tests: the helm and promtool binaries and cached renders.

The tools live in `.tools/bin` (`make tools` installs them). Outside CI a
missing tool skips the tests that need it; with CI=true it fails them, so a CI
run can never pass without having checked the chart.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate.utils as kv_utils
import pytest
import yaml

from tests.chart.chart_metrics import EXPORTED_METRICS, dashboard_metric_names

__all__ = ["EXPORTED_METRICS", "dashboard_metric_names"]

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "paceline"
VALUES_DIR = Path(__file__).parent / "values"
REQUIRED_VALUES = VALUES_DIR / "required.yaml"
RELEASE = "paceline"
NAMESPACE = "paceline"
FULLNAME = "paceline"

# "default" is the chart's values plus the required ones; the others are files in values/.
# STANDALONE_PROFILES (values/standalone/) are rendered alone: installs that need nothing else.
STANDALONE_DIR = VALUES_DIR / "standalone"
STANDALONE_PROFILES = ("zero-config-sandbox", "strava-two-values", "plain-cluster")
PROFILES = ("default", "external-redis", "sandbox", "everything", *STANDALONE_PROFILES)
# What a cluster with the prometheus-operator CRDs reports (`helm template` does not ask one).
MONITORING_API = ("--api-versions", "monitoring.coreos.com/v1")

# CRDs of the Prometheus Operator: kubernetes-validate has no schema for them.
CRD_KINDS = frozenset({"ServiceMonitor", "PrometheusRule"})


def _lowest_claimed_kube_version() -> str:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    match = re.fullmatch(r">=\s*(\d+\.\d+\.\d+)(?:-0)?", chart["kubeVersion"].strip())
    assert match, f"unexpected kubeVersion {chart['kubeVersion']!r}"
    return match.group(1)


# The lowest version the chart claims and the newest kubernetes-validate knows.
KUBE_VERSIONS = (_lowest_claimed_kube_version(), kv_utils.latest_version())


def _missing_tool(name: str, where: Path) -> None:
    message = f"{name} not found in {where} or on PATH: run `make tools`"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: the chart must be checked in CI)")
    pytest.skip(message)


def find_tool(name: str) -> Path:
    """The tool in $TOOLS_BIN (default .tools/bin), else on PATH; skip/fail when absent."""
    tools_bin = Path(os.environ.get("TOOLS_BIN", ".tools/bin"))
    if not tools_bin.is_absolute():
        tools_bin = REPO / tools_bin
    candidate = tools_bin / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which(name)
    if found:
        return Path(found)
    _missing_tool(name, tools_bin)
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Manifest:
    """One rendered object and the template it came from."""

    source: str
    obj: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.obj["kind"])

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])


class Helm:
    """Runs the real helm binary against charts/paceline."""

    def __init__(self, binary: Path) -> None:
        self.binary = binary
        self._cache: dict[tuple[str, ...], list[Manifest]] = {}

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.binary), *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "HELM_CACHE_HOME": str(REPO / ".tools" / "helm-cache")},
        )
        if check and result.returncode != 0:
            pytest.fail(f"helm {' '.join(args)} failed:\n{result.stderr}")
        return result

    @staticmethod
    def profile_args(profile: str) -> list[str]:
        if profile in STANDALONE_PROFILES:
            return ["-f", str(STANDALONE_DIR / f"{profile}.yaml")]
        args = ["-f", str(REQUIRED_VALUES)]
        if profile != "default":
            args += ["-f", str(VALUES_DIR / f"{profile}.yaml")]
        return args

    def template_args(self, profile: str, *extra: str) -> list[str]:
        """Renders as for a cluster with the prometheus-operator CRDs (MONITORING_API), so
        that the ServiceMonitor and PrometheusRule are rendered; STANDALONE profiles are
        rendered without the required values (they must install on their own)."""
        return [
            "template",
            RELEASE,
            str(CHART),
            "--namespace",
            NAMESPACE,
            *MONITORING_API,
            *self.profile_args(profile),
            *extra,
        ]

    def template(self, profile: str = "default", *extra: str, check: bool = True):
        return self.run(*self.template_args(profile, *extra), check=check)

    def render(self, profile: str = "default", *extra: str) -> list[Manifest]:
        """Rendered manifests of a profile (plus extra helm flags), cached for the session."""
        key = (profile, *extra)
        if key not in self._cache:
            self._cache[key] = parse_manifests(self.template(profile, *extra).stdout)
        return self._cache[key]

    def render_fresh(self, profile: str = "default", *extra: str) -> list[Manifest]:
        """A new render, bypassing the cache (random values differ between renders)."""
        return parse_manifests(self.template(profile, *extra).stdout)


def parse_manifests(text: str) -> list[Manifest]:
    manifests = []
    for chunk in re.split(r"^---\s*$", text, flags=re.MULTILINE):
        source = re.search(r"^# Source: (.+)$", chunk, flags=re.MULTILINE)
        obj = yaml.safe_load(chunk)
        if obj:
            manifests.append(Manifest(source.group(1) if source else "?", obj))
    return manifests


def find(manifests: list[Manifest], kind: str, name: str | None = None) -> list[Manifest]:
    return [m for m in manifests if m.kind == kind and (name is None or m.name == name)]


def one(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    found = find(manifests, kind, name)
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def pod_spec(manifest: Manifest) -> dict[str, Any] | None:
    """The pod spec of a workload or Pod, else None."""
    obj = manifest.obj
    if manifest.kind == "Pod":
        return obj["spec"]
    if manifest.kind in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
        return obj["spec"]["template"]["spec"]
    if manifest.kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return None


def pod_template(manifest: Manifest) -> dict[str, Any]:
    obj = manifest.obj
    if manifest.kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]
    return obj["spec"]["template"]


def containers(manifest: Manifest) -> Iterator[dict[str, Any]]:
    spec = pod_spec(manifest)
    if spec:
        yield from spec.get("initContainers", [])
        yield from spec.get("containers", [])


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


@pytest.fixture(scope="session")
def helm() -> Helm:
    binary = find_tool("helm")
    version = subprocess.run(
        [str(binary), "version", "--template", "{{.Version}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert version.startswith(("v3.", "v4.")), f"unsupported helm {version}"
    return Helm(binary)


@pytest.fixture(scope="session")
def promtool() -> Path:
    return find_tool("promtool")


@pytest.fixture(scope="session")
def render(helm: Helm) -> Callable[..., list[Manifest]]:
    return helm.render
