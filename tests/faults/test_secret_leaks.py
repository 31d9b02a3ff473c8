"""Secret-leak scan: every flow run with known secrets, everything paceline said searched.

The whole stack runs as real processes (auth-gateway and activity-api under gunicorn, the
token-refresher and the ``paceline`` command as subprocesses) against the sandbox, at DEBUG
log level, with known values for the client secret, the admin password, the session secret,
the webhook verify token and the encryption key. Flows: connect through the OAuth browser
flow and its callback (and a replayed, a forged and a denied callback), the status page,
import over HTTP and from the CLI (a good token and a refused one), refresh with rotation
(several passes), provider 500s and a refused refresh token during refresh, a 401 on a read
(activity-api refreshes itself), the webhook handshake (right and wrong verify token),
subscription, an activity event and a deauthorization, reads of every kind, provider 500s on
reads, disconnect.

Every token the provider ever issued (the sandbox's own record), every authorization code seen
and every configured secret is then searched for in every log line (stderr and stdout of every
paceline process), every metric sample (``/metrics`` of both services) and every response
body and header paceline sent: zero occurrences (whole values, and their first 16 characters).
"""

from __future__ import annotations

import base64
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import redis
import requests
from paceline_dev.launch import VENV_BIN, free_port
from werkzeug.security import generate_password_hash

from tests.faults.conftest import Recorder
from tests.faults.stack import Service, service_env
from tests.fixtures.redis import RedisServer
from tests.fixtures.sandbox import SandboxFactory, SandboxHandle

pytestmark = pytest.mark.faults

CLIENT_SECRET = "known-client-secret-0c1d2e3f4a5b6c7d8e9f"
ADMIN_PASSWORD = "known-admin-password-lemon-kite-42"
SESSION_SECRET = "known-session-secret-" + "s" * 32
VERIFY_TOKEN = "known-webhook-verify-token-7f7f7f"
ENCRYPTION_KEY = base64.urlsafe_b64encode(b"known-fernet-key-for-leak-tests!").decode()
REFUSED_TOKEN = "refusedrefreshtoken0000000000000000000001"
FORGED_CODE = "forgedauthorizationcode00000000000000001"
CONFIGURED = [CLIENT_SECRET, ADMIN_PASSWORD, SESSION_SECRET, VERIFY_TOKEN, ENCRYPTION_KEY]


@dataclass
class Collected:
    """Everything paceline said: responses (status, headers, body), outputs of commands."""

    responses: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)

    def keep(self, response: requests.Response) -> requests.Response:
        for hop in [*response.history, response]:
            headers = "\n".join(f"{k}: {v}" for k, v in hop.headers.items())
            self.responses.append(f"{hop.status_code}\n{headers}\n\n{hop.text}")
        return response


def command(
    collected: Collected, env: dict[str, str], *argv: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(VENV_BIN / argv[0]), *argv[1:]],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    collected.outputs += [result.stdout, result.stderr]
    return result


def occurrences(texts: list[str], needles: set[str]) -> list[str]:
    """Each needle found in a text (shown by its first six characters only)."""
    return [needle[:6] + "…" for text in texts for needle in needles if needle in text]


def every_token(sandbox: SandboxHandle) -> set[str]:
    """Every access and refresh token the provider ever issued (its own record)."""
    assert sandbox.app is not None
    tokens = sandbox.app.extensions["sandbox"].tokens
    return set(tokens.access) | set(tokens.refresh)


def connect_through_the_browser(
    collected: Collected, gateway: Service, browser: requests.Session
) -> str:
    """The admin's browser: /connect -> the sandbox's consent (auto-approved) -> /callback."""
    start = collected.keep(browser.get(f"{gateway.url}/connect/strava", allow_redirects=False))
    assert start.status_code == 302, start.text
    consent = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    callback = consent.headers["Location"]
    code = dict(parse_qsl(urlsplit(callback).query))["code"]
    collected.codes.append(code)
    done = collected.keep(browser.get(callback, timeout=30))
    assert done.status_code == 200, done.text
    # the same callback replayed, a forged code, and a denied consent
    collected.keep(browser.get(callback, timeout=30))
    forged = re.sub(r"code=[^&]+", f"code={FORGED_CODE}", callback)
    collected.keep(browser.get(forged, timeout=30))
    denied = re.sub(r"code=[^&]+", "error=access_denied", callback)
    collected.keep(browser.get(denied, timeout=30))
    return code


def test_no_secret_reaches_a_log_line_a_metric_or_a_response(
    sandbox_factory: SandboxFactory,
    redis_server: RedisServer,
    redis_client: redis.Redis,
    services: Callable[..., Service],
    tmp_path: Path,
    fault_report: Recorder,
) -> None:
    sandbox = sandbox_factory(
        client_secret=CLIENT_SECRET,
        auto_approve=True,
        rotation="always-single-use",
        rate_limit_read="100000,1000000",
        rate_limit_overall="100000,1000000",
    )
    collected = Collected()
    gateway_port, api_port = free_port(), free_port()
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    env = service_env(
        redis_server.url,
        sandbox,
        tmp_path / "mirror",
        PACELINE_LOG_LEVEL="DEBUG",
        PACELINE_ENCRYPTION_KEY=ENCRYPTION_KEY,
        PACELINE_WEBHOOK_VERIFY_TOKEN=VERIFY_TOKEN,
        PACELINE_SESSION_SECRET=SESSION_SECRET,
        PACELINE_ADMIN_PASSWORD_HASH=generate_password_hash(ADMIN_PASSWORD, "pbkdf2:sha256:1000"),
        PACELINE_PUBLIC_URL=gateway_url,
        PACELINE_STRAVA_SCOPES="read,activity:read_all",
    )
    gateway = services("auth-gateway", env, port=gateway_port)
    api = services("activity-api", env, port=api_port)
    browser = requests.Session()
    browser.auth = ("admin", ADMIN_PASSWORD)

    # --- connect, status, import (HTTP and CLI) --------------------------------------------
    connect_through_the_browser(collected, gateway, browser)
    collected.keep(browser.get(f"{gateway.url}/", timeout=10))
    collected.keep(browser.get(f"{gateway.url}/accounts", timeout=10))
    collected.keep(requests.get(f"{gateway.url}/", auth=("admin", "wrong-password"), timeout=10))
    second = sandbox.add_athlete(firstname="Imported", lastname="Over HTTP")
    issued = sandbox.issue_tokens(int(second["id"]), "read,activity:read_all")
    imported = collected.keep(
        browser.post(
            f"{gateway.url}/import/strava",
            json={"refresh_token": issued["refresh_token"]},
            headers={"Origin": gateway_url},
            timeout=30,
        )
    )
    assert imported.status_code == 201, imported.text
    refused = collected.keep(
        browser.post(
            f"{gateway.url}/import/strava", json={"refresh_token": REFUSED_TOKEN}, timeout=30
        )
    )
    assert refused.status_code == 422
    third = sandbox.add_athlete(firstname="Imported", lastname="From the CLI")
    issued = sandbox.issue_tokens(int(third["id"]), "read,activity:read_all")
    assert (
        command(
            collected, env, "paceline", "import", "strava", stdin=issued["refresh_token"] + "\n"
        ).returncode
        == 0
    )
    assert (
        command(
            collected, env, "paceline", "import", "strava", stdin=REFUSED_TOKEN + "\n"
        ).returncode
        != 0
    )
    assert command(collected, env, "paceline", "status").returncode == 0
    accounts = [
        str(a["account_id"]) for a in browser.get(f"{gateway.url}/accounts").json()["accounts"]
    ]
    assert len(accounts) == 3, accounts

    # --- refresh with rotation, provider 500s, a refused refresh token -----------------------
    for _ in range(2):
        assert command(collected, env, "token-refresher", "--force").returncode == 0
    fault = sandbox.fault("/oauth/token", status=500)
    assert command(collected, env, "token-refresher", "--force").returncode == 1
    sandbox.control("DELETE", f"/faults/{fault}")
    sandbox.fault("/oauth/token", status=400, times=1)
    command(
        collected,
        env,
        "token-refresher",
        "--force",
        "--account",
        accounts[2],
        "--provider",
        "strava",
    )
    sandbox.clear_faults()

    # --- webhooks: handshake, subscription, events, deauthorization --------------------------
    hook = f"{api.url}/webhooks/strava"
    for given in (VERIFY_TOKEN, "wrong-verify-token"):
        collected.keep(
            requests.get(
                hook,
                params={
                    "hub.mode": "subscribe",
                    "hub.challenge": "c-123",
                    "hub.verify_token": given,
                },
                timeout=10,
            )
        )
    subscribed = command(collected, env, "paceline", "webhook", "subscribe", "--callback-url", hook)
    assert subscribed.returncode == 0, subscribed.stderr
    command(collected, env, "paceline", "webhook", "list")

    # --- reads: fresh builds, a 401 that makes activity-api refresh, provider 500s -------------
    sandbox.fault("/api/v3/athlete", status=401, times=1)
    for account in accounts:
        for path in (
            "/v1/strava/summary",
            f"/v1/strava/athletes/{account}/summary",
            f"/v1/strava/athletes/{account}/activities?limit=3",
            f"/v1/strava/athletes/{account}/activities?limit=nope",
        ):
            collected.keep(requests.get(api.url + path, timeout=30))
    sandbox.add_activity(int(accounts[0]), name="Event run", emit_webhook=True)
    sandbox.deliveries(wait=5)
    sandbox.fault("/api/v3/*", status=500)
    fourth = sandbox.add_athlete(firstname="Never", lastname="Built")
    issued = sandbox.issue_tokens(int(fourth["id"]), "read,activity:read_all")
    command(collected, env, "paceline", "import", "strava", stdin=issued["refresh_token"] + "\n")
    collected.keep(requests.get(f"{api.url}/v1/strava/athletes/{fourth['id']}/summary", timeout=30))
    sandbox.clear_faults()
    for path in (
        "/v1/strava/athletes/1/summary",
        "/healthz",
        "/readyz",
        "/openapi.json",
        "/widget.js",
        "/widget/demo",
    ):
        collected.keep(requests.get(api.url + path, timeout=10))
    sandbox.emit_webhook(
        "athlete", "update", owner_id=int(accounts[1]), updates={"authorized": "false"}
    )
    time.sleep(1.0)

    # --- disconnect through the gateway ------------------------------------------------------
    page = collected.keep(browser.get(f"{gateway.url}/", timeout=10)).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf is not None
    collected.keep(
        browser.post(
            f"{gateway.url}/disconnect/strava/{accounts[0]}",
            data={"csrf_token": csrf.group(1)},
            headers={"Origin": gateway_url},
            timeout=30,
        )
    )
    for path in ("/healthz", "/readyz", "/openapi.json"):
        collected.keep(browser.get(gateway.url + path, timeout=10))
    metrics = [
        collected.keep(requests.get(f"{service.metrics_url}/metrics", timeout=10)).text
        for service in (gateway, api)
    ]
    time.sleep(0.5)  # the last log lines flushed

    # --- the scan -----------------------------------------------------------------------------
    tokens = every_token(sandbox) | set(collected.codes)
    known = sorted(tokens | set(CONFIGURED) | {REFUSED_TOKEN, FORGED_CODE})
    needles = set(known) | {value[:16] for value in known if len(value) >= 24}
    log_lines = [
        line
        for text in [gateway.log_text(), api.log_text(), *collected.outputs]
        for line in text.splitlines()
        if line.strip()
    ]
    samples = [line for text in metrics for line in text.splitlines() if line and line[0] != "#"]
    bodies = collected.responses
    found = [
        (kind, hit)
        for kind, texts in (("log", log_lines), ("metric", samples), ("response", bodies))
        for hit in occurrences(texts, needles)
    ]
    # The scanner itself sees a value when one is there (a planted token, whole and cut short).
    planted = sorted(tokens)[0]
    assert occurrences([f"...{planted}..."], needles) and occurrences([planted[:16]], needles)
    figure = (
        f"{len(known)} known values ({len(tokens)} tokens/codes) in {len(log_lines)} log lines, "
        f"{len(samples)} metric samples, {len(bodies)} responses: {len(found)} occurrences"
    )
    passed = not found and len(tokens) >= 12 and len(log_lines) >= 100 and len(samples) >= 50
    fault_report.add("secret-leak scan", figure, passed)

    assert not found, f"secrets found: {sorted(set(found))}"
    assert len(tokens) >= 12, "fewer tokens than the flows should have issued"
    assert len(log_lines) >= 100 and len(samples) >= 50 and len(bodies) >= 30
    flows = " ".join(log_lines)
    for evidence in (
        "credential stored",
        "refresher pass finished",
        "webhook event processed",
        "access token refused",
    ):
        assert evidence in flows, f"the flows never logged {evidence!r}"
    assert any(re.search(r"\b500\b", line) for line in log_lines)
