"""``GET /openapi.json``: the OpenAPI 3.1 description of activity-api.

Kept true by tests: real responses are validated against these schemas, and schemathesis
drives every operation from this description looking for server errors and mismatches.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from paceline.web.app import runtime_of

from activity_api.card import LOCALE
from activity_api.card_svg import CHARTS, LAYOUTS, MEASURES, SPORTS, THEMES, UNITS

bp = Blueprint("openapi", __name__)

ATHLETE_ID_PATTERN = "^[1-9][0-9]{0,19}$"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str, headers: dict[str, Any] | None = None) -> Any:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        response["headers"] = headers
    return response


_NUMBER = {"type": "number"}
_INT = {"type": "integer"}
_NULLABLE_STRING = {"type": ["string", "null"]}
_INT64_MAX = 2**63 - 1
_ID = {"type": "integer", "minimum": 1, "maximum": _INT64_MAX}


def _periods(period: str) -> dict[str, Any]:
    """The last 12 weeks or months: when each starts, and a series per sport family."""
    return {
        "type": "object",
        "required": [f"{period}_starts", "known_since", "all", "run", "ride", "swim"],
        "additionalProperties": False,
        "properties": {
            f"{period}_starts": {"type": "array", "items": {"type": "string", "format": "date"}},
            "known_since": {
                "type": ["string", "null"],
                "format": "date",
                "description": "the first day the fetched activities cover (null: all)",
            },
            **{
                name: _ref(f"{period.capitalize()}lySeries")
                for name in ("all", "run", "ride", "swim")
            },
        },
    }


def _series(period: str) -> dict[str, Any]:
    """Distance and moving time in each of the last 12 weeks or months."""
    return {
        "type": "object",
        "required": ["distance_m", "moving_time_s"],
        "additionalProperties": False,
        "properties": {
            name: {
                "type": "array",
                "minItems": 12,
                "maxItems": 12,
                "items": {"type": ["number", "null"]},
                "description": f"oldest {period} first; null: the {period} was before what was "
                "fetched",
            }
            for name in ("distance_m", "moving_time_s")
        },
    }


SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string"},
            "message": {"type": "string"},
            "retry_after_seconds": {"type": "integer", "minimum": 1},
        },
    },
    "Meta": {
        "type": "object",
        "required": ["fetched_at", "age_seconds", "stale"],
        "additionalProperties": False,
        "properties": {
            "fetched_at": {"type": "string", "format": "date-time"},
            "age_seconds": {"type": "integer", "minimum": 0},
            "stale": {
                "type": "boolean",
                "description": "true when the data is older than its freshness window, was "
                "changed at the provider, or could not be refreshed (provider down or rate "
                "budget spent)",
            },
        },
    },
    "Athlete": {
        "type": "object",
        "required": ["id", "display_name", "avatar_url", "profile_url"],
        "additionalProperties": False,
        "properties": {
            "id": _INT,
            "display_name": {"type": "string"},
            "avatar_url": _NULLABLE_STRING,
            "profile_url": {"type": "string"},
        },
    },
    "Activity": {
        "type": "object",
        "description": "A public activity. Map and coordinates appear only for accounts that "
        "opted in (PACELINE_SHOW_MAPS_ACCOUNTS).",
        "required": [
            "id",
            "name",
            "sport_type",
            "start_time_local",
            "start_date_local",
            "start_time_hidden",
            "timezone",
            "distance_m",
            "moving_time_s",
            "elapsed_time_s",
            "elevation_gain_m",
            "average_speed_m_per_s",
            "pace_s_per_km",
            "photo_url",
            "url",
        ],
        "additionalProperties": False,
        "properties": {
            "id": _INT,
            "name": {"type": "string"},
            "sport_type": {"type": "string"},
            "start_time_local": {
                "type": ["string", "null"],
                "description": "local start time with its UTC offset (ISO 8601); null when "
                "the athlete hides it",
            },
            "start_date_local": {
                "type": ["string", "null"],
                "description": "local day (YYYY-MM-DD), as Strava reports it",
            },
            "start_time_hidden": {
                "type": "boolean",
                "description": "the athlete hides the start time: show the day only",
            },
            "timezone": {"type": ["string", "null"], "description": "IANA time zone"},
            "distance_m": _NUMBER,
            "moving_time_s": _INT,
            "elapsed_time_s": _INT,
            "elevation_gain_m": _NUMBER,
            "average_speed_m_per_s": _NUMBER,
            "pace_s_per_km": {"type": ["number", "null"], "description": "runs only"},
            "photo_url": _NULLABLE_STRING,
            "url": {"type": "string"},
            "map_polyline": _NULLABLE_STRING,
            "start_latlng": {
                "type": ["array", "null"],
                "items": _NUMBER,
                "minItems": 2,
                "maxItems": 2,
            },
            "end_latlng": {
                "type": ["array", "null"],
                "items": _NUMBER,
                "minItems": 2,
                "maxItems": 2,
            },
        },
    },
    "PeriodTotals": {
        "type": "object",
        "required": ["count", "distance_m", "moving_time_s", "elevation_gain_m"],
        "additionalProperties": False,
        "properties": {
            "count": _INT,
            "distance_m": _NUMBER,
            "moving_time_s": _INT,
            "elevation_gain_m": _NUMBER,
        },
    },
    "SportTotals": {
        "type": "object",
        "required": ["recent_4_weeks", "year_to_date", "all_time"],
        "additionalProperties": False,
        "properties": {
            "recent_4_weeks": _ref("PeriodTotals"),
            "year_to_date": _ref("PeriodTotals"),
            "all_time": _ref("PeriodTotals"),
        },
    },
    "Goal": {
        "type": "object",
        "required": ["sport", "year", "metric", "target", "current", "progress_ratio"],
        "additionalProperties": False,
        "properties": {
            "sport": {"enum": ["run", "ride", "swim"]},
            "year": _INT,
            "metric": {"enum": ["distance_m", "moving_time_s", "elevation_gain_m", "count"]},
            "target": _NUMBER,
            "current": _NUMBER,
            "progress_ratio": _NUMBER,
            "expected_by_today": {
                "type": "number",
                "description": "where the even pace to the target stands at the end of today",
            },
            "ahead_by": {
                "type": "number",
                "description": "current minus expected_by_today: negative means behind",
            },
            "projected_year_end": {
                "type": "number",
                "description": "the year's figure if the pace so far holds",
            },
        },
    },
    "WeeklySeries": _series("week"),
    "MonthlySeries": _series("month"),
    "Streak": {
        "type": "object",
        "required": ["current", "longest"],
        "additionalProperties": False,
        "properties": {"current": _INT, "longest": _INT},
    },
    "History": {
        "type": "object",
        "description": "The last 12 weeks, the last 12 months and the streaks, from the public "
        "activities the summary holds (local days, weeks from Monday, calendar months)",
        "required": ["as_of", "weekly", "monthly", "streaks"],
        "additionalProperties": False,
        "properties": {
            "as_of": {"type": "string", "format": "date"},
            "weekly": _periods("week"),
            "monthly": _periods("month"),
            "streaks": {
                "type": "object",
                "required": ["days", "weeks", "counted_since"],
                "additionalProperties": False,
                "properties": {
                    "days": _ref("Streak"),
                    "weeks": _ref("Streak"),
                    "counted_since": {"type": ["string", "null"], "format": "date"},
                },
            },
        },
    },
    "Summary": {
        "type": "object",
        "required": [
            "athlete",
            "latest_activity",
            "recent_activities",
            "totals",
            "goals",
            "history",
            "meta",
        ],
        "additionalProperties": False,
        "properties": {
            "athlete": _ref("Athlete"),
            "latest_activity": {"oneOf": [_ref("Activity"), {"type": "null"}]},
            "recent_activities": {"type": "array", "items": _ref("Activity")},
            "totals": {
                "type": "object",
                "required": ["run", "ride", "swim"],
                "additionalProperties": False,
                "properties": {
                    "run": _ref("SportTotals"),
                    "ride": _ref("SportTotals"),
                    "swim": _ref("SportTotals"),
                },
            },
            "goals": {"type": "array", "items": _ref("Goal")},
            "history": {"oneOf": [_ref("History"), {"type": "null"}]},
            "meta": _ref("Meta"),
        },
    },
    "Activities": {
        "type": "object",
        "required": ["athlete_id", "activities", "meta"],
        "additionalProperties": False,
        "properties": {
            "athlete_id": _INT,
            "activities": {"type": "array", "items": _ref("Activity")},
            "meta": _ref("Meta"),
        },
    },
    "WebhookEvent": {
        "type": "object",
        "required": ["object_type", "aspect_type", "object_id", "owner_id", "subscription_id"],
        "properties": {
            "object_type": {"enum": ["activity", "athlete"]},
            "aspect_type": {"enum": ["create", "update", "delete"]},
            "object_id": _ID,
            "owner_id": _ID,
            "subscription_id": _ID,
            "event_time": {"type": "integer", "minimum": 0, "maximum": _INT64_MAX},
            "updates": {
                "type": "object",
                "maxProperties": 20,
                "propertyNames": {"maxLength": 64},
                "additionalProperties": {"type": "string"},
            },
        },
    },
    "WebhookAnswer": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"enum": ["received"]}},
    },
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string"}, "reason": {"type": "string"}},
    },
}

_CACHE_HEADERS = {
    "ETag": {"description": "weak validator of the data", "schema": {"type": "string"}},
    "Cache-Control": {
        "description": "public, max-age and stale-while-revalidate",
        "schema": {"type": "string"},
    },
}
_RETRY = {
    "Retry-After": {
        "description": "seconds to wait before asking again",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}
_ATHLETE_ID = {
    "name": "athlete_id",
    "in": "path",
    "required": True,
    "description": "Strava athlete id of a connected account",
    "schema": {"type": "string", "pattern": ATHLETE_ID_PATTERN},
}
_IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
}
_ERROR = _ref("Error")


def _read_responses(schema: str, *, bad_request: bool = False) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": _json(_ref(schema), "from the cache (meta says how old)", _CACHE_HEADERS),
        "304": {"description": "not modified since the ETag given", "headers": _CACHE_HEADERS},
        "404": _json(_ERROR, "no such connected account"),
        "503": _json(_ERROR, "nothing cached and the provider cannot be asked now", _RETRY),
    }
    if bad_request:
        responses["400"] = _json(_ERROR, "invalid query parameter")
    return responses


_CARD_PARAMETERS = [
    {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"enum": list(values), "default": values[0]},
    }
    for name, values, description in (
        ("sport", SPORTS, "the latest activity and totals of this sport"),
        ("units", UNITS, "metric or imperial"),
        ("theme", THEMES, "auto follows prefers-color-scheme"),
        ("layout", LAYOUTS, "compact: one line of figures, narrower"),
        ("chart", CHARTS, "the bar chart: the last 12 weeks or 12 months, or none"),
        ("measure", MEASURES, "what the chart counts: distance or moving time"),
    )
] + [
    {
        "name": "locale",
        "in": "query",
        "required": False,
        "description": "a language tag (BCP 47) for numbers and dates",
        "schema": {"type": "string", "pattern": f"^{LOCALE.pattern}$", "default": "en"},
    }
]
_SVG = {"schema": {"type": "string"}}


def _card_path(operation_id: str, summary: str, athlete: bool) -> dict[str, Any]:
    """The card: an SVG answer, errors as JSON (a 503 as an SVG that says so)."""
    responses = _read_responses("Summary", bad_request=True)
    responses["200"] = {
        "description": "the card (role=img, title and desc read it out); the summary's cache",
        "headers": _CACHE_HEADERS,
        "content": {"image/svg+xml": _SVG},
    }
    responses["503"] = {
        "description": "nothing cached and the provider cannot be asked now: a small card "
        "saying so (JSON when the cache itself is unreachable)",
        "headers": _RETRY,
        "content": {"image/svg+xml": _SVG, "application/json": {"schema": _ERROR}},
    }
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "parameters": [*([_ATHLETE_ID] if athlete else []), *_CARD_PARAMETERS, _IF_NONE_MATCH],
            "responses": responses,
        }
    }


_CALLBACK_TOKEN = {
    "name": "token",
    "in": "path",
    "required": True,
    "description": "the secret path segment (PACELINE_WEBHOOK_PATH_SECRET); wrong: 404",
    "schema": {"type": "string", "maxLength": 128},
}


def _webhook_path(token: dict[str, Any] | None) -> dict[str, Any]:
    """The callback: the bare path answers only without a path secret, ``{token}`` only with
    it; a well-formed event gets the same 200 whatever it names."""
    common = [token] if token is not None else []
    suffix = "WithToken" if token is not None else ""
    refused = {
        "404": _json(_ERROR, "not the configured callback path"),
        "429": _json(_ERROR, "too many requests from this address"),
    }
    return {
        "get": {
            "operationId": f"validateWebhookSubscription{suffix}",
            "summary": "Strava's push-subscription validation",
            "parameters": [
                *common,
                {"name": "hub.mode", "in": "query", "schema": {"type": "string"}},
                {"name": "hub.challenge", "in": "query", "schema": {"type": "string"}},
                {"name": "hub.verify_token", "in": "query", "schema": {"type": "string"}},
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["hub.challenge"],
                        "properties": {"hub.challenge": {"type": "string"}},
                    },
                    "the challenge, echoed",
                ),
                "400": _json(_ERROR, "not a subscription validation"),
                "403": _json(_ERROR, "verify token does not match"),
                **refused,
            },
        },
        "post": {
            "operationId": f"receiveWebhookEvent{suffix}",
            "parameters": common,
            "summary": "One Strava event; queued and processed asynchronously",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("WebhookEvent")}},
            },
            "responses": {
                "200": _json(_ref("WebhookAnswer"), "received (the same for every event)"),
                "400": _json(_ERROR, "not a Strava event"),
                "413": _json(_ERROR, "body too large"),
                **refused,
            },
        },
    }


def document(activities_max: int) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "paceline activity-api",
            "version": "1.0.0",
            "description": "Cached, public activity summaries for personal sites, and Strava "
            "webhooks. Units are SI and every field name says its unit. Private activities "
            "are never shown. Totals are Strava's, which count public activities only; for "
            "an account in PACELINE_PRIVATE_TOTALS_ACCOUNTS, year_to_date (and the goals) "
            "count every activity of the year, as sums only.",
        },
        "paths": {
            "/v1/strava/summary": {
                "get": {
                    "operationId": "primarySummary",
                    "summary": "The primary account's summary",
                    "parameters": [_IF_NONE_MATCH],
                    "responses": _read_responses("Summary"),
                }
            },
            "/v1/strava/athletes/{athlete_id}/summary": {
                "get": {
                    "operationId": "athleteSummary",
                    "summary": "A connected athlete's summary",
                    "parameters": [_ATHLETE_ID, _IF_NONE_MATCH],
                    "responses": _read_responses("Summary"),
                }
            },
            "/v1/strava/athletes/{athlete_id}/activities": {
                "get": {
                    "operationId": "athleteActivities",
                    "summary": "A connected athlete's latest public activities",
                    "parameters": [
                        _ATHLETE_ID,
                        {
                            "name": "limit",
                            "in": "query",
                            "required": False,
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": activities_max,
                                "default": min(10, activities_max),
                            },
                        },
                        _IF_NONE_MATCH,
                    ],
                    "responses": _read_responses("Activities", bad_request=True),
                }
            },
            "/v1/strava/card.svg": _card_path(
                "primaryCard", "The primary account's card as SVG (no JavaScript)", False
            ),
            "/v1/strava/athletes/{athlete_id}/card.svg": _card_path(
                "athleteCard", "A connected athlete's card as SVG (no JavaScript)", True
            ),
            "/webhooks/strava": _webhook_path(None),
            "/webhooks/strava/{token}": _webhook_path(_CALLBACK_TOKEN),
            "/healthz": {
                "get": {
                    "operationId": "healthz",
                    "responses": {"200": _json(_ref("Health"), "the process is alive")},
                }
            },
            "/readyz": {
                "get": {
                    "operationId": "readyz",
                    "responses": {
                        "200": _json(_ref("Health"), "ready to serve"),
                        "503": _json(_ref("Health"), "not ready (Redis unreachable, draining)"),
                    },
                }
            },
        },
        "components": {"schemas": SCHEMAS},
    }


@bp.get("/openapi.json")
def openapi_json() -> Any:
    return jsonify(document(runtime_of().settings.summary_activities_max))
