"""No token or secret in any response, log line or metric, whatever happens."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from paceline.log import JsonFormatter, RedactionFilter
from prometheus_client import REGISTRY, generate_latest

from tests.integration.activity_api.conftest import (
    SUBSCRIPTION_ID,
    VERIFY_TOKEN,
    Harness,
    make_athlete,
)


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Everything logged, formatted exactly as the services format it."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter("activity-api"))
    handler.addFilter(RedactionFilter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(previous)


def test_no_token_in_any_response_log_line_or_metric(
    harness: Harness, log_lines: io.StringIO
) -> None:
    h = harness
    account = h.connect(make_athlete(h.sandbox), expires_in=1800)  # refresh rotates the token
    credential = h.runtime.store.get("strava", account)
    assert credential is not None
    h.runtime.store.save(
        credential.replace(access_token="spoiled-access-token-1234"),
        expected_version=credential.version,
    )
    seen: list[str] = []

    def keep(response: Any) -> None:
        seen.append(response.get_data(as_text=True))
        seen.append(str(response.headers))

    for path in (
        f"/v1/strava/athletes/{account}/summary",  # 401 -> refresh -> retry
        f"/v1/strava/athletes/{account}/activities?limit=3",
        "/v1/strava/summary",
        "/v1/strava/athletes/77/summary",
        "/openapi.json",
        "/readyz",
    ):
        keep(h.client.get(path))
    keep(
        h.client.get(
            "/webhooks/strava",
            query_string={"hub.verify_token": VERIFY_TOKEN, "hub.challenge": "c"},
        )
    )
    keep(h.client.get("/webhooks/strava", query_string={"hub.verify_token": "guess"}))
    event = {
        "object_type": "activity",
        "aspect_type": "create",
        "object_id": 1,
        "owner_id": int(account),
        "subscription_id": SUBSCRIPTION_ID,
    }
    keep(h.client.post("/webhooks/strava", json=event))
    h.consumer.run_once(block_ms=10)
    h.sandbox.fault("/api/v3/*", status=500)
    h.clock.advance(h.runtime.settings.summary_fresh_seconds + 1)
    keep(h.client.get(f"/v1/strava/athletes/{account}/summary"))
    assert h.builds_done()
    keep(h.client.get("/metrics", base_url=f"http://localhost:{h.runtime.settings.metrics_port}"))
    seen.append(generate_latest(REGISTRY).decode())

    refreshed = h.runtime.store.get("strava", account)
    assert refreshed is not None
    assert refreshed.access_token != credential.access_token  # the refresh really happened
    secrets = {
        credential.access_token,
        credential.refresh_token,
        refreshed.access_token,
        refreshed.refresh_token,
        "spoiled-access-token-1234",
        h.sandbox.client_secret,
        VERIFY_TOKEN,
    }
    logged = log_lines.getvalue()
    assert "access token refused" in logged  # the interesting paths did log
    assert "summary build failed" in logged
    everything = "\n".join(seen) + logged
    for secret in secrets:
        assert secret not in everything
