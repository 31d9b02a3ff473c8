"""The OpenAPI description is data (``spec/openapi.json``): what it says the card accepts is
what the renderer accepts, and the activities limit follows settings."""

from __future__ import annotations

import re
from typing import Any

from activity_api.card import LOCALE
from activity_api.card_svg import LAYOUTS, SPORTS, THEMES, UNITS
from activity_api.openapi import ACTIVITIES_PATH, document


def test_the_card_choices_described_are_the_renderers() -> None:
    spec = document(30)
    for path in ("/v1/strava/card.svg", "/v1/strava/athletes/{athlete_id}/card.svg"):
        parameters = {p["name"]: p for p in spec["paths"][path]["get"]["parameters"]}
        for name, values in (
            ("sport", SPORTS),
            ("units", UNITS),
            ("theme", THEMES),
            ("layout", LAYOUTS),
        ):
            schema = parameters[name]["schema"]
            assert schema["enum"] == list(values), f"{path} {name}"
            assert schema["default"] == values[0]
        assert re.compile(parameters["locale"]["schema"]["pattern"]).pattern == (
            f"^{LOCALE.pattern}$"
        )


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
