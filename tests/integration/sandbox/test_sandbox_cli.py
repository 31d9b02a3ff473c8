"""The ``provider-sandbox`` command: announces its address, serves, stops on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import requests

COMMAND = [sys.executable, "-m", "provider_sandbox"]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")}
    env.update(extra)
    return env


def test_serves_until_sigterm_and_exits_cleanly() -> None:
    process = subprocess.Popen(
        [*COMMAND, "--host", "127.0.0.1", "--port", "0", "--auto-approve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        match = re.fullmatch(r"provider-sandbox listening on http://127\.0\.0\.1:(\d+)", line)
        assert match, line
        base = f"http://127.0.0.1:{match.group(1)}"

        assert requests.get(f"{base}/_sandbox/healthz", timeout=5).json() == {"status": "ok"}
        assert requests.get(f"{base}/_sandbox/config", timeout=5).json()["auto_approve"] is True
        session = requests.Session()  # an idle keep-alive connection must not block shutdown
        session.get(f"{base}/_sandbox/healthz", timeout=5)

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_bad_configuration_stops_the_start_with_one_line() -> None:
    result = subprocess.run(
        [*COMMAND, "--port", "0"],
        capture_output=True,
        text=True,
        env=clean_env(SANDBOX_ROTATION="sometimes-maybe"),
        timeout=30,
        check=False,
    )

    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "SANDBOX_ROTATION" in result.stderr
