"""The widget as served: Strava's wording for links and attribution, the official embed, and
its weight (the browser behaviour is in tests/e2e)."""

from __future__ import annotations

import gzip

from tests.integration.activity_api.conftest import Harness


def test_widget_links_read_view_on_strava_and_keep_powered_by_strava(harness: Harness) -> None:
    script = harness.client.get("/widget.js").get_data(as_text=True)

    assert '"View on Strava"' in script
    assert '"Powered by Strava"' in script
    assert "strava-embed-placeholder" in script
    assert "https://strava-embeds.com/embed.js" in script
    assert len(gzip.compress(script.encode(), 9)) < 6 * 1024


def test_the_demo_page_allows_stravas_embed_and_nothing_else_new(harness: Harness) -> None:
    page = harness.client.get("/widget/demo")
    policy = page.headers["Content-Security-Policy"]

    assert 'layout="strava-embed"' in page.get_data(as_text=True)
    assert "script-src 'self' https://strava-embeds.com;" in policy
    assert "frame-ancestors 'none'" in policy
