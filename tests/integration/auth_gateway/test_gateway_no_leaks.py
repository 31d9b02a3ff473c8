"""Every route, driven with known token values: none of them shows up in a log line or response.

Logging is set up exactly as in production (``setup_logging``: JSON lines through the redacting
formatter), at DEBUG, with its stream captured. Responses are checked whole: status line,
headers (Location, Set-Cookie) and body.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator

import pytest
from paceline.log import setup_logging
from werkzeug.test import TestResponse

from tests.integration.auth_gateway.gateway import (
    ADMIN_PASSWORD,
    PREFIX,
    SESSION_SECRET,
    Gateway,
    query,
    with_query,
)

KNOWN_BOGUS = "bogus0refresh0token0known0to0the0test0123456789"


@pytest.fixture
def captured_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    setup_logging("DEBUG", "json", service="auth-gateway")
    yield stream
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


def every_route(gateway: Gateway) -> list[TestResponse]:
    """One pass over every route (and its failure modes), with tokens in every place."""
    responses: list[TestResponse] = []
    keep = responses.append
    imported = gateway.sandbox.issue_tokens(scope="read,activity:read")
    gateway.known = [imported["refresh_token"], imported["access_token"]]  # type: ignore[attr-defined]

    keep(gateway.get(f"{PREFIX}/healthz"))
    keep(gateway.get(f"{PREFIX}/readyz"))
    keep(gateway.client.get("/metrics", base_url="http://localhost:9090"))
    keep(gateway.get(f"{PREFIX}/openapi.json"))
    # import: success, refusal, and junk — the token only ever in the body
    keep(gateway.post(f"{PREFIX}/import/strava", json={"refresh_token": imported["refresh_token"]}))
    keep(gateway.post(f"{PREFIX}/import/strava", json={"refresh_token": KNOWN_BOGUS}))
    keep(gateway.post(f"{PREFIX}/import/strava", data=f"refresh_token={KNOWN_BOGUS}"))
    keep(gateway.post(f"{PREFIX}/import/strava", admin=False, json={"refresh_token": KNOWN_BOGUS}))
    # the browser flow: success, then the same callback replayed, then hostile variants
    start = gateway.get(f"{PREFIX}/connect/strava?access_token={KNOWN_BOGUS}")
    keep(start)
    callback = gateway.approve(start.headers["Location"])
    gateway.known.append(query(callback)["code"])  # type: ignore[attr-defined]
    keep(gateway.callback(callback))
    keep(gateway.callback(callback))
    keep(gateway.callback(with_query(callback, code=KNOWN_BOGUS, state="x" * 43)))
    keep(gateway.callback(with_query(callback, error="access_denied", code=KNOWN_BOGUS)))
    # pages, the JSON list, unknown routes, wrong credentials carrying a token
    keep(gateway.get(f"{PREFIX}/"))
    keep(gateway.get(f"{PREFIX}/accounts"))
    keep(gateway.get(f"{PREFIX}/nope?refresh_token={KNOWN_BOGUS}"))
    keep(gateway.get(f"{PREFIX}/", admin=False, headers={"Authorization": f"Bearer {KNOWN_BOGUS}"}))
    keep(gateway.get(f"{PREFIX}/", admin=False, headers={"Authorization": "Basic " + KNOWN_BOGUS}))
    for credential in gateway.stored():
        gateway.known += [credential.access_token, credential.refresh_token]  # type: ignore[attr-defined]
    # disconnect: a forged form, then every account for real
    keep(gateway.post(f"{PREFIX}/disconnect/strava/1", data={"csrf_token": KNOWN_BOGUS}))
    for credential in gateway.stored():
        token = gateway.csrf_token()
        keep(
            gateway.post(
                f"{PREFIX}/disconnect/strava/{credential.account_id}", data={"csrf_token": token}
            )
        )
    keep(gateway.get(f"{PREFIX}/"))
    return responses


def test_no_token_reaches_a_log_line_or_a_response(
    gateway: Gateway, captured_logs: io.StringIO
) -> None:
    responses = every_route(gateway)
    logging.getLogger().handlers[0].flush()
    log_text = captured_logs.getvalue()
    secrets = [
        *gateway.known,  # type: ignore[attr-defined]
        KNOWN_BOGUS,
        ADMIN_PASSWORD,
        SESSION_SECRET,
        gateway.sandbox.client_secret,
    ]
    assert len(responses) >= 20
    assert log_text.count("\n") >= 10, "the routes should have logged something"
    assert "credential stored" in log_text and "account disconnected" in log_text
    for response in responses:
        whole = str(response.status) + str(response.headers) + response.get_data(as_text=True)
        for secret in secrets:
            assert secret not in whole, f"a secret is in the response of {response.request.path}"
    for secret in secrets:
        assert secret not in log_text, "a secret reached the logs"
