"""Refresher tests: a real redis-server, the provider sandbox, and credentials seeded in both.

``strava_setup`` wires a runtime (and an environment for subprocesses) to one sandbox. Seeded
credentials get a real token pair from the sandbox, with the sandbox-side expiry matching the
one paceline stores, so "due" means the same thing on both sides.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from paceline.clock import ManualClock
from paceline.credential import Credential
from paceline.crypto import codec_from_settings
from paceline.log import RedactionFilter, make_formatter
from paceline.mirror import FileMirror, SecretMirror
from paceline.runtime import Runtime, build_runtime
from paceline.settings import load_settings
from token_refresher import main as refresher_main

from tests.fixtures.kube_api import kube_api  # noqa: F401  (fixture)
from tests.fixtures.redis import RedisServer
from tests.fixtures.sandbox import SandboxFactory, SandboxHandle

VENV_BIN = Path(sys.executable).parent
_names = itertools.count(1)


@dataclass
class StravaSetup:
    """One sandbox, one Redis, a file mirror and a clock, plus helpers around them."""

    sandbox: SandboxHandle
    redis_server: RedisServer
    mirror_dir: Path
    clock: ManualClock
    overrides: dict[str, Any] = field(default_factory=dict)
    runtimes: list[Runtime] = field(default_factory=list)

    def settings_overrides(self, **extra: Any) -> dict[str, Any]:
        return {
            "redis_url": self.redis_server.url,
            "strava_base_url": self.sandbox.url,
            "strava_client_id": self.sandbox.client_id,
            "strava_client_secret": self.sandbox.client_secret,
            "secret_backend": "file",
            "secret_dir": str(self.mirror_dir),
            "http_timeout_seconds": 1.0,
            **self.overrides,
            **extra,
        }

    def runtime(self, *, mirror: SecretMirror | None = None, **extra: Any) -> Runtime:
        """A runtime with its own Redis client (as a separate process would have)."""
        kube = extra.pop("kube_api_client", None)
        settings = load_settings(**self.settings_overrides(**extra))
        runtime = build_runtime(
            settings,
            redis_client=self.redis_server.client(),
            mirror=mirror
            if mirror is not None
            else (None if kube else FileMirror(self.mirror_dir, codec_from_settings(settings))),
            clock=self.clock,
            kube_api=kube,
        )
        self.runtimes.append(runtime)
        return runtime

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a refresher subprocess (same settings, real clock)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PACELINE_")}
        for name, value in self.settings_overrides().items():
            env[f"PACELINE_{name.upper()}"] = str(value)
        env["PACELINE_LOG_FORMAT"] = "json"
        env.update(extra)
        return env

    def seed(
        self,
        runtime: Runtime,
        expires_in: float,
        *,
        athlete_id: int | None = None,
        stored_expires_in: float | None = None,
    ) -> Credential:
        """A connected athlete: a sandbox token pair expiring in ``expires_in`` seconds, stored."""
        if athlete_id is None:
            athlete_id = int(
                self.sandbox.add_athlete(firstname="Test", lastname=f"Athlete{next(_names)}")["id"]
            )
        tokens = self.sandbox.issue_tokens(athlete_id, expires_in=max(1, int(expires_in)))
        now = self.clock.now()
        credential = Credential(
            provider="strava",
            account_id=str(athlete_id),
            access_token=tokens["access_token"],
            refresh_token=tokens["refresh_token"],
            expires_at=now + (expires_in if stored_expires_in is None else stored_expires_in),
            scopes=tuple(tokens["scope"].split(",")),
        )
        return runtime.store.save(credential, expected_version=0).credential

    def token_posts(self) -> int:
        return int(self.sandbox.calls()["by_endpoint"].get("POST /oauth/token", 0))


@pytest.fixture
def strava_setup(
    sandbox_factory: SandboxFactory,
    redis_server: RedisServer,
    redis_client: redis.Redis,
    tmp_path: Path,
    clean_env: None,
) -> Iterator[Callable[..., StravaSetup]]:
    """Build a StravaSetup; keyword arguments configure the sandbox."""
    setups: list[StravaSetup] = []

    def build(**sandbox_config: Any) -> StravaSetup:
        sandbox = sandbox_factory(**sandbox_config)
        setup = StravaSetup(
            sandbox, redis_server, tmp_path / f"mirror{len(setups)}", ManualClock(time.time())
        )
        setups.append(setup)
        return setup

    yield build
    for setup in setups:
        for runtime in setup.runtimes:
            runtime.redis.close()


@dataclass
class CliRun:
    code: int
    stdout: str
    stderr: str

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stderr.splitlines() if line.startswith("{")]

    def pass_summary(self) -> dict[str, Any]:
        """The run's closing ``refresher pass finished`` line (looked for, not taken as the
        last line: the capture is the root logger's, which a thread another test left behind
        may write to meanwhile)."""
        (summary,) = [line for line in self.log_lines() if line["msg"] == "refresher pass finished"]
        return summary


def run_cli(runtime: Runtime, *argv: str) -> CliRun:
    """``token-refresher ARGV`` in this process, against ``runtime``: exit code and output."""
    parser = argparse.ArgumentParser()
    refresher_main.add_arguments(parser)
    args = parser.parse_args(list(argv))
    out, err = io.StringIO(), io.StringIO()
    # What setup_logging does in the real command, onto a buffer instead of stderr.
    handler = logging.StreamHandler(err)
    handler.setFormatter(make_formatter("json", service="token-refresher"))
    handler.addFilter(RedactionFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        with contextlib.redirect_stdout(out):
            code = refresher_main.run(args, runtime)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    return CliRun(code, out.getvalue(), err.getvalue())


def scrape_metrics(runtime: Runtime) -> str:
    """``/metrics`` of a web service built on the same runtime (what Prometheus would see)."""
    from paceline.web.app import create_base_app

    app = create_base_app(__name__, "refresher-test", runtime)
    response = app.test_client().get(
        "/metrics", base_url=f"http://localhost:{runtime.settings.metrics_port}"
    )
    assert response.status_code == 200
    return response.get_data(as_text=True)


def wait_for_unlocked(runtime: Runtime, accounts: list[str], timeout: float = 5.0) -> None:
    """Wait until the locks of killed holders have expired (their TTL is short in tests)."""
    names = [f"paceline:lock:strava:{account}" for account in accounts]
    deadline = time.monotonic() + timeout
    while runtime.redis.exists(*names):
        assert time.monotonic() < deadline, "locks of killed refreshers never expired"
        time.sleep(0.05)


def spawn(
    env: dict[str, str], *argv: str, command: str = "token-refresher"
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(VENV_BIN / command), *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 30) -> CliRun:
    stdout, stderr = process.communicate(timeout=timeout)
    return CliRun(process.returncode, stdout, stderr)
