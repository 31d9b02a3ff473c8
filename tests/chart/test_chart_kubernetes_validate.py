"""Every rendered manifest passes kubernetes-validate --strict for the lowest and the
newest Kubernetes version the chart claims (Chart.yaml kubeVersion: >=1.29.0-0).

ServiceMonitor and PrometheusRule are Prometheus Operator CRDs: kubernetes-validate
has no schema for them, so they are skipped here explicitly and checked in
test_chart_monitoring.py instead (structure, promtool).
"""

from __future__ import annotations

import kubernetes_validate.utils as kv_utils
import pytest

from tests.chart.conftest import CRD_KINDS, KUBE_VERSIONS, PROFILES


def test_validated_versions_span_the_claimed_range() -> None:
    lowest, newest = KUBE_VERSIONS
    assert lowest == "1.29.0"
    assert tuple(int(p) for p in newest.split(".")[:2]) >= (1, 33), newest
    assert lowest in kv_utils.all_versions()


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("profile", PROFILES)
def test_manifests_pass_strict_validation(render, profile: str, version: str) -> None:
    failures = []
    skipped = []
    for manifest in render(profile):
        if manifest.kind in CRD_KINDS:
            assert manifest.obj["apiVersion"] == "monitoring.coreos.com/v1"
            skipped.append(manifest.kind)
            continue
        try:
            kv_utils.validate(manifest.obj, version, strict=True)
        except kv_utils.ValidationError as error:
            path = ".".join(str(p) for p in error.path)
            failures.append(f"{manifest.source} {manifest.kind}/{manifest.name}: {path}: {error}")
        except kv_utils.SchemaNotFoundError as error:
            failures.append(f"{manifest.source}: no schema: {error.message}")
    assert not failures, "\n".join(failures)
    if profile == "everything":
        assert sorted(skipped) == ["PrometheusRule", "ServiceMonitor"]
