"""Which accounts' privacy changes arrive as events, and what status pages say about it."""

from __future__ import annotations

from paceline.privacy import privacy_events, privacy_text
from paceline.settings import load_settings


def test_paceline_asks_strava_for_activity_read_all_by_default(clean_env: None) -> None:
    settings = load_settings()
    assert settings.strava_scopes == "read,activity:read_all"
    assert settings.summary_privacy_fresh_seconds == 3600


def test_only_activity_read_all_brings_stravas_privacy_events() -> None:
    assert privacy_events("strava", ("read", "activity:read_all")) is True
    assert privacy_events("strava", ("read", "activity:read")) is False
    assert privacy_events("strava", ()) is False


def test_status_text_says_how_soon_a_private_activity_leaves() -> None:
    assert privacy_text("strava", ("activity:read_all",), 3600) == "at once (privacy event)"
    assert privacy_text("strava", ("activity:read",), 3600) == (
        "within 1h 00m (activity:read_all not granted)"
    )
    assert privacy_text("strava", ("activity:read",), 600) == (
        "within 10m (activity:read_all not granted)"
    )
