"""A small, scriptable double of Strava's token and athlete endpoints, on a free loopback port.

Unlike the provider sandbox (a full emulator), this one records every request exactly as it
arrived (host, path, query, headers, form) and can be told what to answer next, which is what
tests of the OAuth client's validation and classification need.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from paceline_dev.launch import HttpDouble
from werkzeug.wrappers import Request, Response

STRAVA_BAD_REFRESH = {
    "message": "Bad Request",
    "errors": [{"resource": "RefreshToken", "field": "refresh_token", "code": "invalid"}],
}
RATE_HEADERS = {
    "X-RateLimit-Limit": "200,2000",
    "X-RateLimit-Usage": "7,123",
    "X-ReadRateLimit-Limit": "100,1000",
    "X-ReadRateLimit-Usage": "3,45",
}


@dataclass
class Recorded:
    method: str
    host: str
    path: str
    query: str
    headers: dict[str, str]
    form: dict[str, str]


@dataclass
class Scripted:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    raw: bool = False  # body is sent as-is (for malformed bodies)


class FakeStrava(HttpDouble):
    def __init__(
        self,
        *,
        client_id: str = "1234",
        client_secret: str = "csecret-abcdef",  # noqa: S107
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.athlete = {"id": 42, "firstname": "Ada", "lastname": "Lovelace"}
        self.valid_refresh: set[str] = set()
        self.access_tokens: set[str] = set()
        self.rotate = True
        self.athlete_failures = 0  # the next N athlete requests answer 503
        self.requests: list[Recorded] = []
        self.scripted: list[Scripted] = []
        self._lock = threading.Lock()

    # --- scripting -----------------------------------------------------------------------------
    def accept_refresh_token(self, token: str) -> None:
        self.valid_refresh.add(token)

    def answer_next(
        self,
        status: int,
        body: Any,
        *,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        raw: bool = False,
    ) -> None:
        """The next token-endpoint request gets exactly this answer."""
        self.scripted.append(Scripted(status, body, headers or {}, delay, raw))

    def issued_tokens(self) -> set[str]:
        return self.access_tokens | self.valid_refresh

    # --- HTTP ----------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        self.requests.append(
            Recorded(
                request.method,
                request.host,
                request.path,
                request.query_string.decode(),
                dict(request.headers),
                request.form.to_dict(),
            )
        )
        return self._route(request)(environ, start_response)

    def _route(self, request: Request) -> Response:
        if request.path == "/oauth/token" and request.method == "POST":
            return self._token(request)
        if request.path == "/oauth/deauthorize" and request.method == "POST":
            return _json({"access_token": "revoked"})
        if request.path == "/api/v3/athlete" and request.method == "GET":
            if self.athlete_failures > 0:
                self.athlete_failures -= 1
                return _json({"message": "Service Unavailable"}, 503)
            bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
            if bearer not in self.access_tokens:
                return _json(
                    {
                        "message": "Authorization Error",
                        "errors": [
                            {"resource": "Athlete", "field": "access_token", "code": "invalid"}
                        ],
                    },
                    401,
                    RATE_HEADERS,
                )
            return _json(self.athlete, 200, RATE_HEADERS)
        return _json({"message": "Record Not Found", "errors": []}, 404)

    def _token(self, request: Request) -> Response:
        with self._lock:
            scripted = self.scripted.pop(0) if self.scripted else None
        if scripted is not None:
            if scripted.delay:
                time.sleep(scripted.delay)
            if scripted.raw:
                return Response(scripted.body, scripted.status, scripted.headers)
            return _json(scripted.body, scripted.status, scripted.headers)
        form = request.form
        if (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return _json(
                {
                    "message": "Bad Request",
                    "errors": [
                        {"resource": "Application", "field": "client_id", "code": "invalid"}
                    ],
                },
                400,
            )
        if form.get("grant_type") != "refresh_token":
            return _json({"message": "Bad Request", "errors": []}, 400)
        presented = form.get("refresh_token", "")
        with self._lock:
            if presented not in self.valid_refresh:
                return _json(STRAVA_BAD_REFRESH, 400)
            access = "acc" + secrets.token_hex(18)
            refresh = ("ref" + secrets.token_hex(18)) if self.rotate else presented
            if self.rotate:
                self.valid_refresh.discard(presented)
            self.valid_refresh.add(refresh)
            self.access_tokens.add(access)
        now = int(time.time())
        return _json(
            {
                "token_type": "Bearer",
                "access_token": access,
                "refresh_token": refresh,
                "expires_at": now + 21600,
                "expires_in": 21600,
            }
        )


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status, headers or {}, mimetype="application/json")
