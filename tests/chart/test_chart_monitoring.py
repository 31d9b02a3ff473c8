"""ServiceMonitor, PrometheusRule (promtool check + unit tests) and the Grafana dashboard."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.chart.chart_metrics import (
    DASHBOARD_PATH,
    EXPORTED_METRICS,
    TARGET_LABELS,
    dashboard_metric_names,
    dashboard_panels,
    dashboard_queries,
    exported_sample_names,
    family_of,
    promql_metric_names,
    promql_selector_labels,
)
from tests.chart.conftest import Helm, one

RULES_TEST = Path(__file__).parent / "rules_test.yaml"


def _alert_rules(helm: Helm, *extra: str) -> list[dict]:
    rule = one(helm.render("everything", *extra), "PrometheusRule", "paceline").obj
    return [r for group in rule["spec"]["groups"] for r in group["rules"] if "alert" in r]


@pytest.fixture(scope="module")
def rendered_rules(helm: Helm, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The PrometheusRule's groups as a Prometheus rules file, next to a copy of rules_test.yaml."""
    rule = one(helm.render("everything"), "PrometheusRule", "paceline").obj
    directory = tmp_path_factory.mktemp("rules")
    (directory / "paceline.rules.yaml").write_text(yaml.safe_dump(rule["spec"], sort_keys=False))
    shutil.copy(RULES_TEST, directory / "rules_test.yaml")
    return directory


def _promtool(promtool: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(promtool), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_promtool_checks_the_rendered_rules(promtool: Path, rendered_rules: Path) -> None:
    result = _promtool(promtool, "check", "rules", "paceline.rules.yaml", cwd=rendered_rules)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_promtool_unit_tests_pass(promtool: Path, rendered_rules: Path) -> None:
    result = _promtool(promtool, "test", "rules", "rules_test.yaml", cwd=rendered_rules)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_unit_tested_firing_and_quiet(helm: Helm) -> None:
    alerts = {rule["alert"] for rule in _alert_rules(helm)}
    tests = yaml.safe_load(RULES_TEST.read_text(encoding="utf-8"))["tests"]
    firing, quiet = set(), set()
    for case in tests:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert alerts == firing, f"alerts never seen firing: {alerts - firing}"
    assert alerts == quiet, f"alerts never seen quiet: {alerts - quiet}"


def test_the_required_alerts_exist(helm: Helm) -> None:
    alerts = {rule["alert"] for rule in _alert_rules(helm)}
    assert {
        "PacelineRateLimitWindowHigh",
        "PacelineDailyBudgetHigh",
        "PacelineCredentialNeedsReauth",
        "PacelineTokenRefreshFailures",
        "PacelineRefresherNotSucceeding",
        "PacelineUpstreamErrorRatioHigh",
    } <= alerts


def test_every_alert_has_severity_summary_description_and_runbook(helm: Helm) -> None:
    for rule in _alert_rules(helm):
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}, rule["alert"]
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], rule["alert"]
        assert annotations["runbook_url"].endswith("README.md#operating-it"), rule["alert"]


def test_alerts_query_only_exported_metrics_and_labels(helm: Helm) -> None:
    exported = exported_sample_names()
    for rule in _alert_rules(helm):
        names = promql_metric_names(rule["expr"])
        assert names <= exported, f"{rule['alert']}: unknown {names - exported}"
        for metric, labels in promql_selector_labels(rule["expr"]).items():
            known = EXPORTED_METRICS[family_of(metric)][1] | TARGET_LABELS
            assert labels <= known, f"{rule['alert']}: {metric} has no label {labels - known}"


def test_alerts_are_scoped_to_this_release(helm: Helm) -> None:
    for rule in _alert_rules(helm):
        assert 'namespace="paceline"' in rule["expr"], rule["alert"]
        assert "paceline-(activity-api|auth-gateway)" in rule["expr"], rule["alert"]


def test_refresher_alert_follows_the_schedule_period(helm: Helm) -> None:
    (rule,) = [
        r
        for r in _alert_rules(
            helm, "--set", "monitoring.prometheusRule.refresherSchedulePeriodMinutes=60"
        )
        if r["alert"] == "PacelineRefresherNotSucceeding"
    ]
    assert "> 7200" in rule["expr"]


def test_thresholds_are_values(helm: Helm) -> None:
    rules = {
        r["alert"]: r
        for r in _alert_rules(
            helm, "--set-json", "monitoring.prometheusRule.rateLimitWindowRatio=0.9"
        )
    }
    assert "> 0.9" in rules["PacelineRateLimitWindowHigh"]["expr"]
    assert "90 %" in rules["PacelineRateLimitWindowHigh"]["annotations"]["summary"]


def test_rule_and_monitor_carry_additional_labels(render) -> None:
    manifests = render("everything")
    for kind in ("PrometheusRule", "ServiceMonitor"):
        labels = one(manifests, kind, "paceline").obj["metadata"]["labels"]
        assert labels["release"] == "kube-prometheus-stack"


def test_service_monitor_scrapes_metrics_of_both_services(render) -> None:
    monitor = one(render("everything"), "ServiceMonitor", "paceline").obj["spec"]
    (endpoint,) = monitor["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("metrics", "/metrics")
    assert monitor["namespaceSelector"] == {"matchNames": ["paceline"]}
    (expression,) = monitor["selector"]["matchExpressions"]
    assert set(expression["values"]) == {"activity-api", "auth-gateway"}


def test_dashboard_json_loads_and_every_panel_has_a_query() -> None:
    dashboard = json.loads(DASHBOARD_PATH.read_text(encoding="utf-8"))
    assert dashboard["title"] and dashboard["uid"]
    panels = dashboard_panels()
    assert len(panels) >= 8
    for panel in panels:
        exprs = [t.get("expr", "").strip() for t in panel.get("targets", [])]
        assert exprs and all(exprs), f"panel {panel['title']!r} has no query"
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids are unique"


def test_dashboard_queries_only_exported_metrics() -> None:
    names = dashboard_metric_names()
    unknown = names - exported_sample_names()
    assert not unknown, f"the dashboard queries metrics nobody exports: {unknown}"


def test_dashboard_shows_every_exported_metric() -> None:
    families = {family_of(name) for name in dashboard_metric_names()}
    assert families == set(EXPORTED_METRICS)


def test_dashboard_queries_use_exported_labels() -> None:
    for query in dashboard_queries():
        for metric, labels in promql_selector_labels(query).items():
            known = EXPORTED_METRICS[family_of(metric)][1] | TARGET_LABELS
            assert labels <= known, f"{metric}: unknown labels {labels - known} in {query}"


def test_dashboard_configmap_ships_the_json_unchanged(render) -> None:
    configmap = one(render("everything"), "ConfigMap", "paceline-dashboard").obj
    assert configmap["metadata"]["annotations"] == {"grafana_folder": "Paceline"}
    shipped = json.loads(configmap["data"]["paceline.json"])
    assert shipped == json.loads(DASHBOARD_PATH.read_text(encoding="utf-8"))
