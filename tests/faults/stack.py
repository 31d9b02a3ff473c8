"""Real processes for the fault suite: the web services under gunicorn, paced and hammering
clients, and what a test reads back from them (statuses, JSON log lines, RSS).

Everything binds to loopback on free ports; every process a helper starts is stopped by the
fixture that owns it, with its process group (:mod:`paceline_dev.launch` starts them).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from paceline_dev.launch import GunicornServer, LaunchError, start_gunicorn

from tests.fixtures.sandbox import SandboxHandle


def service_env(
    redis_url: str, sandbox: SandboxHandle, mirror_dir: Path, **extra: str
) -> dict[str, str]:
    """Environment of a paceline process wired to one Redis, one sandbox and a file mirror."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PACELINE_", "GUNICORN_", "SANDBOX_", "PROMETHEUS_"))
    }
    env.update(
        {
            "PACELINE_REDIS_URL": redis_url,
            "PACELINE_STRAVA_BASE_URL": sandbox.url,
            "PACELINE_STRAVA_CLIENT_ID": sandbox.client_id,
            "PACELINE_STRAVA_CLIENT_SECRET": sandbox.client_secret,
            "PACELINE_SECRET_BACKEND": "file",
            "PACELINE_SECRET_DIR": str(mirror_dir),
            "PACELINE_LOG_FORMAT": "json",
        }
    )
    env.update(extra)
    return env


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
    return lines


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class Service(GunicornServer):
    """A web service under real gunicorn (the production config module)."""

    def rss_kib(self) -> int:
        """Resident memory of the master and every worker."""
        return rss_kib(self.pid) + sum(rss_kib(pid) for pid in self.worker_pids())

    def log_lines(self) -> list[dict[str, Any]]:
        return json_lines(self.log_text())


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """Start services under gunicorn (``services("activity-api", env)``, keywords as
    :func:`paceline_dev.launch.start_gunicorn`'s, two workers unless told); all stopped after."""
    started: list[Service] = []

    def start(service: str, env: dict[str, str], *, workers: int = 2, **kwargs: Any) -> Service:
        try:
            server = start_gunicorn(service, env, tmp_path / "services", workers=workers, **kwargs)
        except LaunchError as error:
            pytest.fail(str(error))
        handle = Service(**vars(server))
        started.append(handle)
        return handle

    yield start
    for handle in reversed(started):
        handle.stop()


@dataclass(frozen=True)
class Answer:
    """One response a client got (status 0: no HTTP answer at all)."""

    at: float  # monotonic seconds
    path: str
    status: int
    stale: bool | None = None
    age_seconds: float | None = None
    retry_after: str | None = None
    error: str = ""


def ask(session: requests.Session, url: str, path: str, timeout: float = 15.0) -> Answer:
    started = time.monotonic()
    try:
        response = session.get(url + path, timeout=timeout)
    except requests.RequestException as error:
        return Answer(started, path, 0, error=type(error).__name__)
    stale = age = None
    if response.status_code == 200:
        try:
            meta = response.json().get("meta", {})
        except ValueError:
            return Answer(started, path, 200, error="body is not JSON")
        stale, age = meta.get("stale"), meta.get("age_seconds")
    return Answer(
        started,
        path,
        response.status_code,
        stale=stale,
        age_seconds=age,
        retry_after=response.headers.get("Retry-After"),
    )


@dataclass
class Traffic:
    """Widget callers: ``threads`` clients asking for ``paths`` in turn, as fast as answered
    (``rate`` None) or paced to ``rate`` requests per second in total."""

    url: str
    paths: Sequence[str]
    threads: int = 4
    rate: float | None = None
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Traffic:
        for index in range(self.threads):
            thread = threading.Thread(target=self._run, args=(index,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _run(self, index: int) -> None:
        interval = None if self.rate is None else self.threads / self.rate
        next_at = time.monotonic() + (interval or 0) * index / self.threads
        turn = index
        with requests.Session() as session:
            while not self._stop.is_set():
                if interval is not None:
                    delay = next_at - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        return
                    next_at += interval
                path = self.paths[turn % len(self.paths)]
                turn += 1
                answer = ask(session, self.url, path)
                with self._lock:
                    self.answers.append(answer)

    def stop(self) -> list[Answer]:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
        return self.snapshot()

    def snapshot(self) -> list[Answer]:
        with self._lock:
            return list(self.answers)

    def __enter__(self) -> Traffic:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def statuses(answers: Iterable[Answer]) -> Counter[int]:
    return Counter(a.status for a in answers)


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.1) -> float:
    """Seconds until ``check()`` held; fails the test after ``timeout``."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(interval)
    return time.monotonic() - started
