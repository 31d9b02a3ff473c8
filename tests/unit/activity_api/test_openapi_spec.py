"""The OpenAPI description is data (``spec/openapi.json``): what it says the card accepts is
what the renderer accepts, and the activities limit follows settings."""

from __future__ import annotations

from typing import Any

from activity_api import card_svg
from activity_api.card import LOCALE
from activity_api.openapi import ACTIVITIES_PATH, document


def test_the_card_choices_described_are_the_renderers() -> None:
    """Every choice parameter of the card (sport, units, theme, layout, ...) is described with
    the renderer's own tuple of the same name (``sport`` -> ``card_svg.SPORTS``)."""
    spec = document(30)
    for path in ("/v1/strava/card.svg", "/v1/strava/athletes/{athlete_id}/card.svg"):
        parameters = {p["name"]: p for p in spec["paths"][path]["get"]["parameters"]}
        choices = {name: p["schema"] for name, p in parameters.items() if "enum" in p["schema"]}
        assert {"sport", "units", "theme", "layout"} <= set(choices)
        for name, schema in choices.items():
            values = getattr(card_svg, name.upper() if name.endswith("s") else f"{name.upper()}S")
            assert schema["enum"] == list(values), f"{path} {name}"
            assert schema["default"] == values[0]
        assert parameters["locale"]["schema"]["pattern"] == f"^{LOCALE.pattern}$"


def test_the_activities_limit_follows_settings_and_the_file_is_not_changed() -> None:
    def limit(spec: dict[str, Any]) -> Any:
        [found] = [
            p for p in spec["paths"][ACTIVITIES_PATH]["get"]["parameters"] if p["name"] == "limit"
        ]
        return found["schema"]

    assert limit(document(5)) == {"type": "integer", "minimum": 1, "maximum": 5, "default": 5}
    assert limit(document(200))["maximum"] == 200
    assert limit(document(200))["default"] == 10
    assert limit(document(5))["maximum"] == 5  # each answer is its own copy
