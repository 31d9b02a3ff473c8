"""Processes on loopback: a free port, redis-server, the provider sandbox, a service under
gunicorn; waiting until each answers and stopping it with everything it started.

The tests, the benchmarks and ``make demo`` all start their processes here, so there is one
way to do it. Every process runs in its own session (its own process group), logs to a file
of its own, and :meth:`Process.stop` signals the whole group: a gunicorn master goes with its
workers. Nothing listens beyond 127.0.0.1. A process that exits early or does not answer in
time raises :class:`LaunchError` with the tail of its log; callers turn it into their own
failure (``pytest.fail``, ``SystemExit``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Self, cast

import redis
import requests
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

# The console scripts of the virtualenv running us (gunicorn, provider-sandbox, paceline, ...).
VENV_BIN = Path(sys.executable).parent
LOOPBACK = "127.0.0.1"


class LaunchError(Exception):
    """A process exited at start or did not answer in time; the message says which."""


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def pick_port(preferred: int) -> int:
    """``preferred`` when it is free, else any free port."""
    with socket.socket() as sock:
        try:
            sock.bind((LOOPBACK, preferred))
        except OSError:
            return free_port()
    return preferred


def process_children(parent: int) -> set[int]:
    """Live (non-zombie) processes whose parent is ``parent``, from /proc."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent and fields[0] != "Z":
            pids.add(int(entry.name))
    return pids


@dataclass
class Process:
    """A child process in its own session, logging to ``log_path``."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def check_alive(self) -> None:
        """Raise :class:`LaunchError` (with the log's tail) if the process has exited."""
        if self.popen.poll() is not None:
            raise LaunchError(
                f"{self.name} exited with {self.popen.returncode} (log {self.log_path}):\n"
                f"{self.log_text()[-3000:]}"
            )

    def children(self) -> set[int]:
        return process_children(self.pid)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to the process group, then SIGKILL after ``timeout`` seconds."""
        if self.popen.poll() is None:
            self._signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL to the process group, as a crash would end it."""
        self._signal(signal.SIGKILL)
        self.popen.wait()

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signum)


def spawn(
    name: str, argv: list[str], log_path: Path, env: Mapping[str, str] | None = None
) -> Process:
    """Start ``argv`` in a session of its own, stdout and stderr appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            argv,
            env=dict(env) if env is not None else None,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Process(name, popen, log_path)


def wait_until(
    check: Callable[[], object],
    what: str,
    timeout: float = 30.0,
    *,
    process: Process | None = None,
    interval: float = 0.05,
) -> None:
    """Poll ``check`` until it is true; connection errors count as "not yet". Raises
    :class:`LaunchError` after ``timeout`` seconds, or at once if ``process`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None:
            process.check_alive()
        try:
            if check():
                return
        except (OSError, redis.RedisError, requests.RequestException):
            pass
        time.sleep(interval)
    raise LaunchError(f"{what} was not ready within {timeout:g} s")


def http_ok(url: str) -> bool:
    """``GET url`` answers 200."""
    return requests.get(url, timeout=2).status_code == 200


# --- a WSGI app in this process -----------------------------------------------------------------
@dataclass
class ThreadedServer:
    """A WSGI app on werkzeug's threaded server, in a daemon thread of this process (for apps
    a test or benchmark must share objects with, such as a manual clock or a test double)."""

    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.server.server_port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve_in_thread(
    app: WSGIApplication,
    *,
    request_handler: type[WSGIRequestHandler] | None = None,
    poll_interval: float = 0.05,
) -> ThreadedServer:
    """Serve ``app`` on a free loopback port until :meth:`ThreadedServer.stop`."""
    server = make_server(LOOPBACK, 0, app, threaded=True, request_handler=request_handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": poll_interval}, daemon=True
    )
    thread.start()
    return ThreadedServer(server, thread)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class HttpDouble:
    """Base of a test double that is a WSGI app (``__call__``) serving itself over HTTP on
    loopback: ``start()``, ``url``, ``stop()``; its requests are not logged."""

    _served: ThreadedServer | None = None

    def start(self) -> Self:
        self._served = serve_in_thread(
            cast("WSGIApplication", self), request_handler=_QuietHandler, poll_interval=0.02
        )
        return self

    def stop(self) -> None:
        if self._served is not None:
            self._served.stop()
            self._served = None

    @property
    def url(self) -> str:
        assert self._served is not None, "start() the double first"
        return self._served.url


# --- redis-server ------------------------------------------------------------------------------
@dataclass
class RedisServer(Process):
    """``redis-server`` on loopback with nothing on disk."""

    port: int = 0

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


def start_redis(
    directory: Path, port: int | None = None, *, extra_args: Iterable[str] = ()
) -> RedisServer:
    """Start ``redis-server`` (no persistence, its log in ``directory``) and wait for PING."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise LaunchError(
            "redis-server is not installed: `make system-deps` (or apt-get install redis-server)"
        )
    port = port or free_port()
    directory.mkdir(parents=True, exist_ok=True)
    argv = [binary, "--port", str(port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no"]
    argv += ["--dir", str(directory), "--daemonize", "no", *extra_args]
    started = spawn("redis-server", argv, directory / "redis.log")
    server = RedisServer(started.name, started.popen, started.log_path, port)
    try:
        wait_until(lambda: server.client().ping(), "redis-server", 10, process=server)
    except LaunchError:
        server.stop()
        raise
    return server


# --- the provider sandbox ----------------------------------------------------------------------
@dataclass
class SandboxProcess(Process):
    """``provider-sandbox`` in a process of its own (reach it with
    :class:`paceline_dev.sandbox.SandboxClient`)."""

    url: str = ""


def start_sandbox(
    directory: Path,
    env: Mapping[str, str],
    *,
    port: int | None = None,
    extra_args: Iterable[str] = (),
    timeout: float = 30.0,
) -> SandboxProcess:
    """``provider-sandbox --host 127.0.0.1 --port <port>`` configured by ``env`` (its
    ``SANDBOX_*`` variables), ready once ``/_sandbox/healthz`` answers."""
    port = port or free_port()
    argv = [str(VENV_BIN / "provider-sandbox"), "--host", LOOPBACK, "--port", str(port)]
    started = spawn("provider-sandbox", [*argv, *extra_args], directory / "sandbox.log", env)
    sandbox = SandboxProcess(
        started.name, started.popen, started.log_path, f"http://{LOOPBACK}:{port}"
    )
    try:
        wait_until(
            lambda: http_ok(f"{sandbox.url}/_sandbox/healthz"),
            sandbox.name,
            timeout,
            process=sandbox,
        )
    except LaunchError:
        sandbox.stop()
        raise
    return sandbox


# --- a service under gunicorn ------------------------------------------------------------------
@dataclass
class GunicornServer(Process):
    """A gunicorn master (and its workers) serving one app on loopback."""

    url: str = ""
    metrics_url: str = ""

    def worker_pids(self) -> set[int]:
        return self.children()


def start_gunicorn(
    service: str,
    env: Mapping[str, str],
    directory: Path,
    *,
    app: str | None = None,
    config: str | None = None,
    port: int | None = None,
    workers: int | None = None,
    ready_path: str = "/healthz",
    pythonpath: Path | None = None,
    timeout: float = 40.0,
) -> GunicornServer:
    """``gunicorn --config python:<module>.gunicorn_conf "<module>.app:create_app()"`` for
    ``service`` (``activity-api``, ``auth-gateway``): the production configuration, set by
    environment. ``app``/``config`` serve another app under a service's configuration (the
    benchmarks' bare route); ``workers`` None keeps the configuration's default, else the
    start waits for that many workers. ``PACELINE_METRICS_PORT`` is a free port unless ``env``
    sets one; ``PROMETHEUS_MULTIPROC_DIR`` is a directory of its own under ``directory``."""
    module = service.replace("-", "_")
    port = port or free_port()
    env = dict(env)
    env["GUNICORN_BIND"] = f"{LOOPBACK}:{port}"
    env.setdefault("PACELINE_METRICS_PORT", str(free_port()))
    env["PROMETHEUS_MULTIPROC_DIR"] = str(directory / f"prom-{service}")
    if workers is not None:
        env["GUNICORN_WORKERS"] = str(workers)
    argv = [str(VENV_BIN / "gunicorn"), "--config", f"python:{config or module}.gunicorn_conf"]
    if pythonpath is not None:
        argv += ["--pythonpath", str(pythonpath)]
    argv.append(app or f"{module}.app:create_app()")
    started = spawn(service, argv, directory / f"{service}.log", env)
    server = GunicornServer(
        started.name,
        started.popen,
        started.log_path,
        f"http://{LOOPBACK}:{port}",
        f"http://{LOOPBACK}:{env['PACELINE_METRICS_PORT']}",
    )

    def ready() -> bool:
        if not http_ok(server.url + ready_path):
            return False
        return workers is None or len(server.worker_pids()) >= workers

    try:
        wait_until(ready, service, timeout, process=server, interval=0.1)
    except LaunchError:
        server.stop()
        raise
    return server
