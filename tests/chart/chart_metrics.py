"""Metric names: what the services export, and what the dashboard and the alerts query.

`EXPORTED_METRICS` is the contract with the Python services (family name -> type,
label names). `dashboard_metric_names()` returns the sample names the Grafana
dashboard queries, so a test can compare them with this list or with the sample
names of a live `/metrics` scrape.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHART_DIR = Path(__file__).resolve().parents[2] / "charts" / "paceline"
DASHBOARD_PATH = CHART_DIR / "dashboards" / "paceline.json"

# family name -> (type, label names), exactly as the services export them.
EXPORTED_METRICS: dict[str, tuple[str, frozenset[str]]] = {
    "paceline_upstream_requests_total": ("counter", frozenset({"provider", "endpoint", "status"})),
    "paceline_upstream_request_duration_seconds": (
        "histogram",
        frozenset({"provider", "endpoint"}),
    ),
    "paceline_ratelimit_usage": ("gauge", frozenset({"provider", "bucket", "window"})),
    "paceline_ratelimit_limit": ("gauge", frozenset({"provider", "bucket", "window"})),
    "paceline_governor_decisions_total": ("counter", frozenset({"provider", "priority", "result"})),
    "paceline_cache_requests_total": ("counter", frozenset({"result"})),
    "paceline_http_request_duration_seconds": (
        "histogram",
        frozenset({"service", "route", "method", "status"}),
    ),
    "paceline_tokens": ("gauge", frozenset({"provider", "state"})),
    "paceline_token_refresh_total": ("counter", frozenset({"provider", "result"})),
    "paceline_refresher_last_success_timestamp_seconds": ("gauge", frozenset()),
    "paceline_refresher_last_run_timestamp_seconds": ("gauge", frozenset()),
    "paceline_refresher_last_run_failures": ("gauge", frozenset()),
    "paceline_refresher_application_error": ("gauge", frozenset({"provider", "setting"})),
    "paceline_webhook_events_total": ("counter", frozenset({"type", "result"})),
    "paceline_gateway_login_failures_total": ("counter", frozenset({"reason"})),
    "paceline_webhook_outcomes_total": ("counter", frozenset({"type", "result"})),
    "paceline_webhook_accounts_due": ("gauge", frozenset()),
    "paceline_redis_memory_used_bytes": ("gauge", frozenset()),
    "paceline_redis_memory_max_bytes": ("gauge", frozenset()),
}

# Labels Prometheus adds to every scraped sample (ServiceMonitor target labels).
TARGET_LABELS = frozenset(
    {"namespace", "service", "pod", "container", "endpoint", "job", "instance"}
)

_METRIC = re.compile(r"\bpaceline_[a-z0-9_]+\b")
# `metric{matchers}`: the label names used inside the braces.
_SELECTOR = re.compile(r"\b(paceline_[a-z0-9_]+)\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")


def exported_sample_names(metrics: dict[str, tuple[str, frozenset[str]]] | None = None) -> set[str]:
    """Sample names a scrape shows for the exported families (histograms as _bucket/_sum/_count)."""
    names: set[str] = set()
    for family, (kind, _labels) in (metrics or EXPORTED_METRICS).items():
        if kind == "histogram":
            names.update(f"{family}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(family)
    return names


def family_of(sample_name: str) -> str:
    """The family a sample name belongs to (strips histogram suffixes of known histograms)."""
    for suffix in ("_bucket", "_sum", "_count"):
        base = sample_name.removesuffix(suffix)
        if base != sample_name and EXPORTED_METRICS.get(base, ("",))[0] == "histogram":
            return base
    return sample_name


def promql_metric_names(expr: str) -> set[str]:
    """paceline_* sample names referenced by a PromQL expression."""
    return set(_METRIC.findall(expr))


def promql_selector_labels(expr: str) -> dict[str, set[str]]:
    """For each paceline_* selector with braces, the label names it matches on."""
    found: dict[str, set[str]] = {}
    for metric, matchers in _SELECTOR.findall(expr):
        found.setdefault(metric, set()).update(_MATCHER.findall(matchers))
    return found


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def load_dashboard(path: Path = DASHBOARD_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        dashboard: dict[str, Any] = json.load(handle)
    return dashboard


def dashboard_panels(path: Path = DASHBOARD_PATH) -> list[dict[str, Any]]:
    """Every panel of the dashboard, rows' nested panels included, rows excluded."""
    return [p for p in _panels(load_dashboard(path)["panels"]) if p.get("type") != "row"]


def dashboard_queries(path: Path = DASHBOARD_PATH) -> list[str]:
    """Every PromQL expression of the dashboard: panel targets and template variables."""
    dashboard = load_dashboard(path)
    queries = [
        target["expr"]
        for panel in _panels(dashboard["panels"])
        for target in panel.get("targets", [])
        if target.get("expr")
    ]
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        if variable.get("type") == "query":
            queries.append(query["query"] if isinstance(query, dict) else str(query))
    return queries


def dashboard_metric_names(path: Path = DASHBOARD_PATH) -> set[str]:
    """The set of paceline_* sample names the dashboard references."""
    names: set[str] = set()
    for query in dashboard_queries(path):
        names |= promql_metric_names(query)
    return names
