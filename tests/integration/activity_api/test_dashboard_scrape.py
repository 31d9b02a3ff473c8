"""The Grafana dashboard and the alert rules query only what the services really export.

A dashboard panel over a misspelt metric stays empty forever and an alert over one never fires,
and nothing complains. So: drive real traffic (a summary build through the governor, a hit, a
webhook, a refresher pass with one failure) and compare every metric the chart's dashboard and
rules name with the sample names of live ``/metrics`` scrapes of activity-api and of auth-gateway
(after a failed admin login).
"""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from token_refresher.refresher import PassOptions, run_pass

from tests.chart.chart_metrics import dashboard_metric_names, promql_metric_names
from tests.integration.activity_api.conftest import SUBSCRIPTION_ID, Harness, make_athlete
from tests.integration.auth_gateway.conftest import gateway_factory  # noqa: F401  (fixture)
from tests.integration.auth_gateway.gateway import PREFIX, GatewayFactory, basic

RULES = Path(__file__).resolve().parents[3] / "charts" / "paceline" / "rules"


def rule_metric_names() -> set[str]:
    """paceline_* names in the alert rules (a Helm template: read as text, not YAML)."""
    names: set[str] = set()
    for path in RULES.glob("*.yaml"):
        names |= promql_metric_names(path.read_text())
    return names


def scrape(text: str) -> set[str]:
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def test_every_dashboard_and_alert_metric_is_in_a_live_scrape(
    harness: Harness,
    gateway_factory: GatewayFactory,  # noqa: F811
) -> None:
    h = harness
    account = h.connect(make_athlete(h.sandbox))
    h.connect(expires_in=600)  # a second athlete, due for refresh
    path = f"/v1/strava/athletes/{account}/summary"
    assert h.client.get(path).status_code == 200  # miss: upstream calls, governor, rate limits
    assert h.client.get(path).status_code == 200  # hit
    h.client.post(
        "/webhooks/strava",
        json={
            "object_type": "activity",
            "aspect_type": "update",
            "object_id": 5,
            "owner_id": int(account),
            "subscription_id": SUBSCRIPTION_ID,
            "updates": {},
        },
    )
    h.consumer.run_once(block_ms=10)
    h.sandbox.fault("/oauth/token", status=500, times=1)
    run_pass(h.runtime, PassOptions(force=True))  # one refresh fails, the rest succeed
    run_pass(h.runtime, PassOptions(force=True))  # a clean pass: last success is set

    metrics_port = f"http://localhost:{h.runtime.settings.metrics_port}"
    live = scrape(h.client.get("/metrics", base_url=metrics_port).get_data(as_text=True))
    gateway = gateway_factory()
    failed = gateway.get(f"{PREFIX}/accounts", admin=False, headers=basic("admin", "wrong"))
    assert failed.status_code == 401
    gateway_scrape = gateway.client.get("/metrics", base_url=metrics_port)
    live |= scrape(gateway_scrape.get_data(as_text=True))
    wanted = dashboard_metric_names()
    assert wanted, "the dashboard queries paceline metrics"
    missing = sorted(name for name in wanted if name not in live)
    assert missing == [], f"dashboard queries metrics no service exports: {missing}"
    alerting = rule_metric_names()
    assert "paceline_refresher_last_success_timestamp_seconds" in alerting
    missing_rules = sorted(name for name in alerting if name not in live)
    assert missing_rules == [], f"alert rules query metrics no service exports: {missing_rules}"
