"""What every activity-api answer carries and never carries: ``nosniff`` on every response
(JSON, errors, the widget, metrics), and no URL built from a client's ``Host`` header."""

from __future__ import annotations

import pytest

from tests.integration.activity_api.conftest import Harness, HarnessFactory, make_athlete

FORGED = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}


def test_every_response_says_nosniff(harness: Harness) -> None:
    h = harness
    account = h.connect(make_athlete(h.sandbox))
    metrics_port = f"http://localhost:{h.runtime.settings.metrics_port}"
    answers = [
        h.client.get(f"/v1/strava/athletes/{account}/summary"),
        h.client.get("/v1/strava/athletes/999/summary"),
        h.client.get("/no/such/route"),
        h.client.post("/healthz"),
        h.client.get("/healthz"),
        h.client.get("/readyz"),
        h.client.get("/widget.js"),
        h.client.get("/widget/demo"),
        h.client.get("/openapi.json"),
        h.client.get("/metrics"),
        h.client.post("/webhooks/strava", data="not json", content_type="application/json"),
        h.client.get("/metrics", base_url=metrics_port),
        h.client.get("/elsewhere", base_url=metrics_port),
    ]
    assert {a.status_code for a in answers} >= {200, 404, 405}
    for answer in answers:
        assert answer.headers.get("X-Content-Type-Options") == "nosniff", answer.request.path


@pytest.mark.parametrize("prefix", ["", "/api"])
def test_widget_demo_urls_are_relative_without_a_public_url(
    harness_factory: HarnessFactory, prefix: str
) -> None:
    h = harness_factory(path_prefix="/api")
    page = h.client.get(f"{prefix}/widget/demo", headers=FORGED).get_data(as_text=True)
    assert "evil.example" not in page
    assert f'src="{prefix}/widget.js"' in page
    assert f'api="{prefix}"' in page


def test_widget_demo_urls_come_from_the_public_url(harness_factory: HarnessFactory) -> None:
    h = harness_factory(path_prefix="/api", public_url="https://fit.example.com")
    page = h.client.get("/api/widget/demo", headers=FORGED).get_data(as_text=True)
    assert "evil.example" not in page
    assert 'src="https://fit.example.com/api/widget.js"' in page
