"""What the operator sees on /metrics after real traffic: the documented series, bounded
labels, never an account id."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.integration.activity_api.conftest import SUBSCRIPTION_ID, Harness, make_athlete


def test_metrics_cover_the_flow_without_account_ids(harness: Harness) -> None:
    h = harness
    account = h.connect(make_athlete(h.sandbox))
    path = f"/v1/strava/athletes/{account}/summary"
    h.client.get(path)  # miss
    h.client.get(path)  # hit
    h.clock.advance(h.runtime.settings.summary_fresh_seconds + 1)
    h.client.get(path)  # stale
    assert h.builds_done()
    h.client.post(
        "/webhooks/strava",
        json={
            "object_type": "activity",
            "aspect_type": "update",
            "object_id": 5,
            "owner_id": int(account),
            "subscription_id": SUBSCRIPTION_ID,
            "updates": {"title": "renamed"},
        },
    )
    h.consumer.run_once(block_ms=10)

    metrics_port = f"http://localhost:{h.runtime.settings.metrics_port}"
    text = h.client.get("/metrics", base_url=metrics_port).get_data(as_text=True)
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
    names = {s.name for s in samples}
    for expected in (
        "paceline_upstream_requests_total",
        "paceline_ratelimit_usage",
        "paceline_ratelimit_limit",
        "paceline_governor_decisions_total",
        "paceline_cache_requests_total",
        "paceline_http_request_duration_seconds_bucket",
        "paceline_webhook_events_total",
        "paceline_summary_builds_total",
        "paceline_webhook_queue_length",
        "paceline_webhook_queue_pending",
        "paceline_webhook_outcomes_total",
        "paceline_webhook_accounts_due",
        "paceline_redis_memory_used_bytes",
        "paceline_redis_memory_max_bytes",
        "paceline_tokens",
    ):
        assert expected in names, expected

    def value(name: str, **labels: str) -> float:
        return sum(
            s.value
            for s in samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )

    for result in ("hit", "stale", "miss"):
        assert value("paceline_cache_requests_total", result=result) >= 1
    assert value("paceline_ratelimit_limit", bucket="read", window="15min") == 100
    assert value("paceline_webhook_events_total", type="activity.update", result="received") >= 1
    # an update to an activity the summary does not show: settled without an upstream call
    assert (
        value("paceline_webhook_outcomes_total", type="activity.update", result="not_served") >= 1
    )
    assert value("paceline_redis_memory_used_bytes") > 0
    assert value("paceline_tokens", provider="strava", state="active") == 1
    routes = {s.labels.get("route") for s in samples if "route" in s.labels}
    assert "/v1/strava/athletes/<athlete_id>/summary" in routes
    endpoints = {s.labels.get("endpoint") for s in samples if "endpoint" in s.labels}
    assert "GET /athletes/{id}/stats" in endpoints
    for sample in samples:
        for label, label_value in sample.labels.items():
            assert account not in label_value, (sample.name, label)
