"""``POST /import/<provider>``: import an existing refresh token (JSON), like ``paceline import``.

The migration path from the blog-post recipes, for admins with a refresh token in hand. It is
the same code path as the command (:func:`paceline.credential_intake.import_refresh_token`):
refresh once, identify the account, store. The token travels in a JSON body only (never a
query string); a JSON content type plus the same-origin check keep browsers on other sites from
posting here.
(The module is not called ``import.py``: that is a Python keyword.)
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, jsonify, request
from paceline.credential_intake import ImportFailed, import_refresh_token
from paceline.keys import InvalidIdentifier
from paceline.log import register_secret
from paceline.web.app import json_error, runtime_of

from auth_gateway.csrf import require_same_origin
from auth_gateway.status import account_view

log = logging.getLogger(__name__)

bp = Blueprint("token_import", __name__)


@bp.post("/import/<provider>")
def import_token(provider: str) -> Any:
    require_same_origin()
    runtime = runtime_of()
    if not request.is_json:
        return json_error(
            415, "unsupported_media_type", 'send a JSON body: {"refresh_token": "..."}'
        )
    body = request.get_json(silent=True)
    token = body.get("refresh_token") if isinstance(body, dict) else None
    if isinstance(token, str):
        register_secret(token.strip())
    if provider not in runtime.providers:
        return json_error(404, "unknown_provider", "no provider of that name is configured")
    if not isinstance(token, str) or not token:
        return json_error(
            400, "bad_request", 'expected a JSON object with a string "refresh_token"'
        )
    # A string that is not one token (blank, spaces inside) is the documented 422, from
    # import_refresh_token's own check: it matches the schema, so it is not a 400.
    try:
        stored = import_refresh_token(runtime, provider, token)
    except ImportFailed as error:
        return json_error(422, "import_failed", str(error))
    except InvalidIdentifier:
        return json_error(502, "invalid_account", f"{provider} sent an unusable account id")
    view = account_view(runtime, stored.credential)
    return jsonify(imported=True, replaced=stored.replaced, mirrored=stored.mirrored, **view), (
        200 if stored.replaced else 201
    )
