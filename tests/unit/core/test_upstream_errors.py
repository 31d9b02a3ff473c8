"""How an API 401 is read: a missing scope is not an expired token."""

from __future__ import annotations

import json

import pytest
import requests
from paceline.upstream import ScopeMissing, Unauthorized, decode_api_response, missing_scope


def response(status: int, body: object) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer._content = json.dumps(body).encode()
    return answer


MISSING_READ = {
    "message": "Authorization Error",
    "errors": [{"resource": "AccessToken", "field": "activity:read_permission", "code": "missing"}],
}


def test_a_missing_scope_401_names_the_scope_and_is_not_unauthorized() -> None:
    with pytest.raises(ScopeMissing) as caught:
        decode_api_response(response(401, MISSING_READ), "GET /athlete/activities")
    assert caught.value.scope == "activity:read"
    assert not isinstance(caught.value, Unauthorized)  # no refresh-and-retry for this one


def test_an_invalid_token_401_is_unauthorized() -> None:
    body = {
        "message": "Authorization Error",
        "errors": [{"resource": "Athlete", "field": "access_token", "code": "invalid"}],
    }
    with pytest.raises(Unauthorized):
        decode_api_response(response(401, body), "GET /athlete")


def test_odd_bodies_name_no_scope() -> None:
    assert missing_scope(None) is None
    assert missing_scope({"errors": "nope"}) is None
    assert missing_scope({"errors": [{"field": "activity:read_permission", "code": "x"}]}) is None
