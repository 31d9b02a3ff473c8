"""Run `make demo` as a user would, in a subprocess, and read the URLs it prints."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from paceline_dev.launch import free_port

ROOT = Path(__file__).resolve().parents[2]
URL_LINE = re.compile(r"^\s+([A-Za-z -]+?)\s*:\s+(http://\S+)")


@dataclass
class DemoStack:
    process: subprocess.Popen[str]
    state_dir: Path
    output: list[str] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)
    password: str = ""
    sandbox_url: str = ""
    redis_url: str = ""

    def read_until_running(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                if self.process.poll() is not None:
                    raise AssertionError("make demo exited early:\n" + "".join(self.output))
                continue
            self.output.append(line)
            match = URL_LINE.match(line)
            if match:
                self.urls[match.group(1).strip()] = match.group(2)
            password = re.search(r"password (\S+)\)", line)
            if password:
                self.password = password.group(1)
            sandbox = re.search(r"provider sandbox .* on (http://\S+)", line)
            if sandbox:
                self.sandbox_url = sandbox.group(1)
            redis_line = re.search(r"[Rr]edis[- ]server on (127\.0\.0\.1:\d+)", line)
            if redis_line:
                self.redis_url = f"redis://{redis_line.group(1)}/0"
            if "running; press Ctrl-C" in line:
                return
        raise AssertionError("make demo did not come up in time:\n" + "".join(self.output))

    def child_pids(self) -> list[int]:
        pids_file = self.state_dir / "pids"
        if not pids_file.exists():
            return []
        return [int(line.split()[0]) for line in pids_file.read_text().splitlines() if line]

    def interrupt(self, timeout: float = 60.0) -> int:
        """Ctrl-C as a terminal sends it: SIGINT to the whole foreground process group."""
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            rest, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            raise
        self.output.append(rest or "")
        return self.process.returncode


def start_demo(state_dir: Path, target: str = "demo") -> DemoStack:
    names = ["api", "gateway", "sandbox", "redis"]
    if target == "demo-monitoring":
        names.append("prometheus")
    ports = {name: free_port() for name in names}
    args = " ".join(f"--{name}-port {port}" for name, port in ports.items())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PACELINE_", "SANDBOX_"))}
    env["PACELINE_DEMO_DIR"] = str(state_dir)
    env["PACELINE_LOG_FORMAT"] = "json"
    process = subprocess.Popen(
        ["make", "--no-print-directory", target, f"DEMO_ARGS={args}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    stack = DemoStack(process, state_dir)
    try:
        stack.read_until_running()
    except BaseException:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(30)
        raise
    return stack


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes (its parent has not reaped it yet).
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid``."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state != "Z":
            members.append(int(stat.parent.name))
    return members
