"""`make demo-monitoring`: a local Prometheus scrapes the demo with the chart's alert rules."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.demo_stack import DemoStack, alive, start_demo

pytestmark = pytest.mark.e2e

RULES = (
    Path(__file__).resolve().parents[2] / "charts" / "paceline" / "rules" / "paceline.rules.yaml"
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    demo = start_demo(tmp_path_factory.mktemp("demo-monitoring"), "demo-monitoring")
    yield demo
    if demo.process.poll() is None:
        demo.interrupt()


def prometheus(stack: DemoStack) -> str:
    return stack.urls["prometheus"].split("/alerts")[0]


def query(stack: DemoStack, expr: str) -> list[dict[str, Any]]:
    body = requests.get(f"{prometheus(stack)}/api/v1/query", params={"query": expr}, timeout=10)
    result: list[dict[str, Any]] = body.json()["data"]["result"]
    return result


def test_prometheus_scrapes_both_services_with_every_chart_alert_loaded(stack: DemoStack) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        targets = requests.get(f"{prometheus(stack)}/api/v1/targets", timeout=10).json()
        health = {t["labels"]["job"]: t["health"] for t in targets["data"]["activeTargets"]}
        if set(health.values()) == {"up"} and len(health) == 2:
            break
        time.sleep(1)
    assert health == {"paceline-activity-api": "up", "paceline-auth-gateway": "up"}
    rules = requests.get(f"{prometheus(stack)}/api/v1/rules", timeout=10).json()["data"]
    loaded = {r["name"] for g in rules["groups"] for r in g["rules"] if r["type"] == "alerting"}
    in_chart = set(re.findall(r"alert:\s*(\w+)", RULES.read_text()))
    assert in_chart and loaded == in_chart


def test_rate_limit_budget_is_visible_after_a_summary_build(stack: DemoStack) -> None:
    assert requests.get(stack.urls["summary JSON"], timeout=10).status_code == 200
    deadline = time.monotonic() + 30
    usage: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not usage:
        usage = query(stack, 'paceline_ratelimit_limit{bucket="read",window="15min"}')
        time.sleep(1)
    assert usage and float(usage[0]["value"][1]) > 0
    tokens = query(stack, 'paceline_tokens{state="active"}')
    assert tokens and max(float(t["value"][1]) for t in tokens) >= 1


def test_ctrl_c_stops_prometheus_too(stack: DemoStack) -> None:
    pids = stack.child_pids()
    assert (
        len(pids) == 6
    )  # redis, sandbox, activity-api, webhook-consumer, auth-gateway, prometheus
    stack.interrupt()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.2)
    assert [pid for pid in pids if alive(pid)] == []
