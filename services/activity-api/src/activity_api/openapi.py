"""``GET /openapi.json``: the OpenAPI 3.1 description of activity-api.

The description is data, ``spec/openapi.json`` (package data); only the activities limit's
maximum and default come from settings (``PACELINE_SUMMARY_ACTIVITIES_MAX``). Kept true by
tests: real responses are validated against its schemas, schemathesis drives every operation
from it looking for server errors and mismatches, and the card's choices are compared with the
renderer's.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from paceline.web.app import runtime_of
from paceline.web.openapi import packaged_spec

bp = Blueprint("openapi", __name__)

ACTIVITIES_PATH = "/v1/strava/athletes/{athlete_id}/activities"


def document(activities_max: int) -> dict[str, Any]:
    """The description, with the activities limit of these settings."""
    spec = packaged_spec(__package__)
    for parameter in spec["paths"][ACTIVITIES_PATH]["get"]["parameters"]:
        if parameter.get("name") == "limit":
            parameter["schema"]["maximum"] = activities_max
            parameter["schema"]["default"] = min(10, activities_max)
    return spec


@bp.get("/openapi.json")
def openapi_json() -> Any:
    return jsonify(document(runtime_of().settings.summary_activities_max))
