"""``GET /openapi.json``: the gateway's JSON endpoints, described for API clients and tests.

Only the JSON API is described (health, the account list, the token import); the browser pages
and the OAuth redirect leg are HTML and live outside it. Schemathesis checks this document
against the running app in the test suite.

The description is data, ``spec/openapi.json`` (package data); the configured providers and the
server URL are filled in per request.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from paceline.web.app import runtime_of
from paceline.web.openapi import packaged_spec

bp = Blueprint("openapi", __name__)


def describe(providers: list[str], server: str) -> dict[str, Any]:
    """The description for these configured providers, served under ``server``."""
    document = packaged_spec(__package__)
    [parameter] = document["paths"]["/import/{provider}"]["post"]["parameters"]
    parameter["schema"]["enum"] = providers or ["none-configured"]
    document["servers"] = [{"url": server}]
    return document


@bp.get("/openapi.json")
def document() -> Any:
    """The description, with the server URL the request came through (prefix or not)."""
    providers = runtime_of().providers.names()
    return jsonify(describe(providers, request.script_root or "/"))
