"""``paceline connect strava`` end to end: a real process, a real loopback port, the sandbox.

The test plays the browser: it reads the printed authorize URL and follows it with ``requests``
(the sandbox auto-approves and redirects to the command's loopback listener).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests
from paceline.mirror import FileMirror
from paceline.settings import load_settings
from paceline.store import TokenStore

from tests.fixtures.redis import RedisServer
from tests.fixtures.sandbox import SandboxHandle
from tests.integration.auth_gateway.gateway import query

PACELINE = str(Path(sys.executable).parent / "paceline")


@pytest.fixture
def connect_env(
    redis_server: RedisServer, redis_client: redis.Redis, sandbox: SandboxHandle, mirror_dir: Path
) -> dict[str, str]:
    sandbox.configure(auto_approve=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACELINE_")}
    env.update(
        PACELINE_REDIS_URL=redis_server.url,
        PACELINE_STRAVA_CLIENT_ID=sandbox.client_id,
        PACELINE_STRAVA_CLIENT_SECRET=sandbox.client_secret,
        PACELINE_STRAVA_BASE_URL=sandbox.url,
        PACELINE_SECRET_BACKEND="file",
        PACELINE_SECRET_DIR=str(mirror_dir),
        PACELINE_LOG_LEVEL="DEBUG",
    )
    return env


@pytest.fixture
def run_connect(connect_env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [PACELINE, "connect", "strava", "--port", "0", "--timeout", "30"],
        env=connect_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield process
    if process.poll() is None:
        process.kill()
    process.wait(10)


def token_posts(sandbox: SandboxHandle) -> int:
    return int(sandbox.calls()["by_endpoint"].get("POST /oauth/token", 0))


def stored(redis_client: redis.Redis) -> list[str]:
    return [c.account_id for c in TokenStore(redis_client).list()]


def test_connect_command_stores_the_account_with_the_same_state_checks(
    run_connect: subprocess.Popen[str],
    sandbox: SandboxHandle,
    redis_client: redis.Redis,
    mirror_dir: Path,
) -> None:
    assert run_connect.stdout is not None
    url = run_connect.stdout.readline().strip()
    assert url.startswith(f"{sandbox.url}/oauth/authorize?")
    redirect_uri = query(url)["redirect_uri"]
    assert redirect_uri.startswith("http://127.0.0.1:") and redirect_uri.endswith(
        "/callback/strava"
    )

    forged = requests.get(
        redirect_uri, params={"state": "f" * 43, "code": "stolen-code"}, timeout=10
    )
    assert forged.status_code == 400  # not the connection this command started: keep waiting
    assert token_posts(sandbox) == 0 and stored(redis_client) == []

    browser = requests.get(url, timeout=20)  # sandbox approves, redirects to the loopback port

    assert browser.status_code == 200
    assert "Connected strava account" in browser.text
    out, err = run_connect.communicate(timeout=20)
    assert run_connect.returncode == 0, err
    athlete = str(sandbox.default_athlete_id)
    assert f"connected strava account {athlete}" in out
    assert "the token-refresher renews it from" in out
    assert stored(redis_client) == [athlete]
    assert [c.account_id for c in FileMirror(mirror_dir).load_all()] == [athlete]
    assert "stolen-code" not in err and "code=" not in err  # nothing of the callback is printed


def test_connect_command_refuses_a_narrow_grant_and_stores_nothing(
    run_connect: subprocess.Popen[str], sandbox: SandboxHandle, redis_client: redis.Redis
) -> None:
    sandbox.configure(grant_scope="read")
    assert run_connect.stdout is not None
    url = run_connect.stdout.readline().strip()
    browser = requests.get(url, timeout=20)
    assert browser.status_code == 400
    _, err = run_connect.communicate(timeout=20)
    assert run_connect.returncode == 1
    assert "insufficient_scope" in err
    assert "keep ticked: View data about your activities (activity:read)" in err
    assert token_posts(sandbox) == 0 and stored(redis_client) == []


def test_connect_command_gives_up_after_its_timeout(connect_env: dict[str, str]) -> None:
    done = subprocess.run(
        [PACELINE, "connect", "strava", "--port", "0", "--timeout", "0.5"],
        env=connect_env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert "no callback within 0.5 s; nothing stored" in done.stderr


def test_hash_password_reads_stdin_and_prints_a_hash_settings_accept() -> None:
    from werkzeug.security import check_password_hash

    done = subprocess.run(
        [PACELINE, "hash-password"],
        input="a long enough password\n",
        capture_output=True,
        text=True,
        timeout=30,
        env={k: v for k, v in os.environ.items() if not k.startswith("PACELINE_")},
    )
    assert done.returncode == 0, done.stderr
    hashed = done.stdout.strip()
    assert hashed.startswith("scrypt:")
    assert check_password_hash(hashed, "a long enough password")
    assert load_settings(admin_password_hash=hashed).admin_password_hash is not None
