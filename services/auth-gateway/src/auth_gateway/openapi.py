"""``GET /openapi.json``: the gateway's JSON endpoints, described for API clients and tests.

Only the JSON API is described (health, the account list, the token import); the browser pages
and the OAuth redirect leg are HTML and live outside it. Schemathesis checks this document
against the running app in the test suite.
"""

from __future__ import annotations

import copy
from typing import Any

from flask import Blueprint, jsonify, request
from paceline.web.app import runtime_of

bp = Blueprint("openapi", __name__)

_ERROR = {"$ref": "#/components/schemas/Error"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


_NULLABLE_NUMBER = {"type": "number", "nullable": True}
_NULLABLE_STRING = {"type": "string", "nullable": True}

ACCOUNT = {
    "type": "object",
    "required": ["provider", "account_id", "state", "scopes", "expires_at"],
    "properties": {
        "provider": {"type": "string"},
        "account_id": {"type": "string"},
        "display_name": _NULLABLE_STRING,
        "state": {"type": "string", "enum": ["active", "needs_reauth", "revoked"]},
        "scopes": {"type": "array", "items": {"type": "string"}},
        "expires_at": {"type": "number", "description": "Access token expiry (epoch seconds)."},
        "next_refresh_at": {
            **_NULLABLE_NUMBER,
            "description": "When the token-refresher will refresh it (epoch seconds).",
        },
        "last_refresh_at": _NULLABLE_NUMBER,
        "last_error": _NULLABLE_STRING,
        "connected_at": {"type": "number"},
    },
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "paceline auth-gateway",
        "version": "1",
        "description": "JSON endpoints of the admin-only OAuth bootstrap. Tokens never appear "
        "in any response.",
    },
    "components": {
        "securitySchemes": {
            "basic": {"type": "http", "scheme": "basic"},
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error", "message"],
                "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
            },
            "Account": ACCOUNT,
        },
    },
    "security": [{"basic": []}],
    "paths": {
        "/healthz": {
            "get": {
                "summary": "The process is alive.",
                "security": [],
                "responses": {
                    "200": {
                        "description": "alive",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"status": {"type": "string"}},
                                }
                            }
                        },
                    }
                },
            }
        },
        "/readyz": {
            "get": {
                "summary": "Redis answers and the process is not draining.",
                "security": [],
                "responses": {
                    "200": {"description": "ready", "content": {"application/json": {}}},
                    "503": {"description": "not ready", "content": {"application/json": {}}},
                },
            }
        },
        "/accounts": {
            "get": {
                "summary": "Connected accounts and the refresher's last run (no tokens).",
                "responses": {
                    "200": {
                        "description": "the accounts",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["accounts"],
                                    "properties": {
                                        "accounts": {
                                            "type": "array",
                                            "items": {"$ref": "#/components/schemas/Account"},
                                        },
                                        "refresher": {"type": "object", "nullable": True},
                                    },
                                }
                            }
                        },
                    },
                    "401": _error("admin authentication required"),
                    "403": _error("not allowed"),
                    "429": _error("too many failed sign-ins: wait Retry-After seconds"),
                },
            }
        },
        "/import/{provider}": {
            "post": {
                "summary": "Import an existing refresh token (refreshes once, then stores).",
                "parameters": [
                    {
                        "name": "provider",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},  # the enum of configured providers
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["refresh_token"],
                                "properties": {
                                    "refresh_token": {
                                        "type": "string",
                                        "minLength": 1,
                                        "maxLength": 4096,
                                    }
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "an existing account's credential was replaced",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Account"}}
                        },
                    },
                    "201": {
                        "description": "a new account was imported",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Account"}}
                        },
                    },
                    "400": _error("the body is not a JSON object with a refresh_token"),
                    "401": _error("admin authentication required"),
                    "403": _error("not allowed (or a cross-site request)"),
                    "404": _error("unknown provider"),
                    "413": _error("body too large"),
                    "415": _error("not a JSON body"),
                    "422": _error("the provider refused the token, or it is malformed"),
                    "429": _error("too many failed sign-ins: wait Retry-After seconds"),
                    "502": _error("the provider sent something unusable"),
                },
            }
        },
    },
}


def describe(providers: list[str], server: str) -> dict[str, Any]:
    """The description for these configured providers, served under ``server``."""
    document = copy.deepcopy(DOCUMENT)
    [parameter] = document["paths"]["/import/{provider}"]["post"]["parameters"]
    parameter["schema"]["enum"] = providers or ["none-configured"]
    document["servers"] = [{"url": server}]
    return document


@bp.get("/openapi.json")
def document() -> Any:
    """The description, with the server URL the request came through (prefix or not)."""
    providers = runtime_of().providers.names()
    return jsonify(describe(providers, request.script_root or "/"))
