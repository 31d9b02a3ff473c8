"""What the benchmarks share: processes on free loopback ports, seeding, wrk, results.

Every benchmark starts its own ``redis-server``, provider sandbox and gunicorn masters as
subprocesses inside a temporary directory, with :mod:`paceline_dev.launch` (as the tests and
``make demo`` do: each in its own session, so stopping one stops its workers too), and stops
them when it ends, whatever happens. Nothing listens beyond 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests
from paceline_dev import launch
from paceline_dev.sandbox import SandboxClient, store_issued

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def wait_until(check: Callable[[], Any], what: str, timeout: float = 30.0) -> None:
    try:
        launch.wait_until(check, what, timeout)
    except launch.LaunchError as error:
        raise SystemExit(f"bench: {error}") from None


def write_result(name: str, result: Mapping[str, Any]) -> Path:
    """``bench/results/<name>.json``; ``result["plot"]`` rows are ``[label, value, target]``."""
    path = RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def finish(
    name: str,
    result: Mapping[str, Any],
    passed: bool,
    summary: str,
    started: float | None = None,
) -> int:
    """Write ``bench/results/<name>.json`` (``result``, whether it passed and, given when it
    ``started``, how long it took), print the verdict line ``bench/run.py`` reads last, and
    return the exit code."""
    extra: dict[str, Any] = {"pass": passed}
    if started is not None:
        extra["seconds"] = round(time.monotonic() - started, 1)
    write_result(name, {**result, **extra})
    print(f"{name} {'PASS' if passed else 'FAIL'}: {summary}", flush=True)
    return 0 if passed else 1


# --- processes ---------------------------------------------------------------------------------
P = TypeVar("P", bound=launch.Process)


@contextmanager
def launched(start: Callable[[], P]) -> Iterator[P]:
    """A process started by :mod:`paceline_dev.launch`, stopped (with its process group) on
    exit whatever happens; a start that fails ends the benchmark."""
    try:
        process = start()
    except launch.LaunchError as error:
        raise SystemExit(f"bench: {error}") from None
    try:
        yield process
    finally:
        process.stop(25)


def child(
    argv: list[str], log: Path, env: Mapping[str, str] | None = None
) -> AbstractContextManager[launch.Process]:
    """A subprocess in its own session, logging to ``log``."""
    return launched(lambda: launch.spawn(Path(argv[0]).name, argv, log, env))


@contextmanager
def redis_server(directory: Path) -> Iterator[str]:
    """``redis-server`` (room for many clients); yields its URL."""
    extra = ("--maxclients", "2000")
    with launched(lambda: launch.start_redis(directory, extra_args=extra)) as server:
        yield server.url


@contextmanager
def sandbox_server(directory: Path, **config: str) -> Iterator[SandboxClient]:
    """``provider-sandbox`` with ``SANDBOX_<KEY>`` settings; rate limits out of the way unless
    ``rate_limit_overall`` / ``rate_limit_read`` are given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")}
    env.update(
        SANDBOX_RATE_LIMIT_OVERALL="100000000,100000000",
        SANDBOX_RATE_LIMIT_READ="100000000,100000000",
        SANDBOX_SEED_ATHLETES="1",
    )
    env.update({f"SANDBOX_{key.upper()}": value for key, value in config.items()})
    quiet = ("--log-level", "WARNING")
    with launched(lambda: launch.start_sandbox(directory, env, extra_args=quiet)) as process:
        yield SandboxClient.connect(process.url)


def paceline_env(redis_url: str, sandbox: SandboxClient, **settings: str) -> dict[str, str]:
    """The environment of a paceline process wired to this Redis and sandbox."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PACELINE_", "GUNICORN_"))}
    env.update(
        PACELINE_REDIS_URL=redis_url,
        PACELINE_STRAVA_BASE_URL=sandbox.url,
        PACELINE_STRAVA_CLIENT_ID=sandbox.client_id,
        PACELINE_STRAVA_CLIENT_SECRET=sandbox.client_secret,
        PACELINE_SECRET_BACKEND="none",
        PACELINE_LOG_FORMAT="json",
    )
    env.update({f"PACELINE_{key.upper()}": value for key, value in settings.items()})
    return env


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a gunicorn master and its workers, live and exited (gunicorn recycles
    workers after ``max_requests``)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after the name: state ppid ... utime(12) stime(13) cutime(14) cstime(15)
        if int(entry.name) == pid:
            total += sum(int(f) for f in fields[11:15]) / tick
        elif int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def gunicorn(
    name: str,
    app: str,
    env: Mapping[str, str],
    directory: Path,
    *,
    workers: int | None = None,
    pythonpath: Path | None = None,
) -> AbstractContextManager[launch.GunicornServer]:
    """``gunicorn --config python:activity_api.gunicorn_conf <app>`` (the production config,
    configured by environment) on a free port. ``workers=None`` keeps the config's default."""
    return launched(
        lambda: launch.start_gunicorn(
            name,
            env,
            directory,
            app=app,
            config="activity_api",
            workers=workers,
            pythonpath=pythonpath,
        )
    )


ACTIVITY_API = "activity_api.app:create_app()"


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """A WSGI app on werkzeug's threaded server in this process (for apps driven by a manual
    clock, which only an in-process app can share); yields its URL."""
    served = launch.serve_in_thread(app)
    try:
        yield served.url
    finally:
        served.stop()


# --- seeding -----------------------------------------------------------------------------------
def make_runtime(redis_url: str, sandbox: SandboxClient, clock: Any = None, **settings: Any) -> Any:
    """A paceline runtime in this process, wired to this Redis and sandbox."""
    from paceline.mirror import NullMirror
    from paceline.runtime import build_runtime
    from paceline.settings import load_settings

    config = load_settings(
        redis_url=redis_url,
        strava_base_url=sandbox.url,
        strava_client_id=sandbox.client_id,
        strava_client_secret=sandbox.client_secret,
        secret_backend="none",
        **settings,
    )
    return build_runtime(config, mirror=NullMirror(), clock=clock)


def make_athlete(sandbox: SandboxClient, now: float, days_ago: Iterable[int]) -> int:
    """A new athlete at the sandbox with a run on each of ``days_ago``; its id."""
    athlete = sandbox.control(
        "POST", "/athletes", json={"firstname": "Bench", "lastname": "Runner"}
    )
    athlete_id = int(athlete["id"])
    for days in days_ago:
        sandbox.add_activity(
            athlete_id, name=f"Run {days} days ago", start_date=int(now - days * 86400)
        )
    return athlete_id


T = TypeVar("T")
R = TypeVar("R")


def with_sessions(
    work: Callable[[requests.Session, T], R], items: Iterable[T], threads: int
) -> list[R]:
    """``work(session, item)`` for every item, on ``threads`` threads with an HTTP session
    each (seeding thousands of athletes one connection at a time would take minutes)."""
    local = threading.local()

    def one(item: T) -> R:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        return work(session, item)

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, items))


def connect_athletes(
    runtime: Any, sandbox: SandboxClient, athlete_ids: list[int], threads: int = 4
) -> list[str]:
    """Issue each athlete a token pair at the sandbox and store it (``store_tokens``, the path
    the gateway's callback takes), granted the scopes the gateway asks for by default
    (``activity:read_all``: privacy changes then arrive as events, so a summary may stay fresh
    as long as webhooks allow rather than ``summary_privacy_fresh_seconds``)."""
    scope = runtime.settings.strava_scopes

    def one(session: requests.Session, athlete_id: int) -> str:
        response = session.post(
            f"{sandbox.url}/_sandbox/tokens",
            json={"athlete_id": athlete_id, "scope": scope},
            timeout=30,
        )
        response.raise_for_status()
        return store_issued(runtime, response.json())

    return with_sessions(one, athlete_ids, threads)


@contextmanager
def connected_world(
    directory: Path,
    athletes: Callable[[SandboxClient], list[int]],
    *,
    threads: int = 4,
    **sandbox_config: str,
) -> Iterator[tuple[str, SandboxClient, list[int]]]:
    """``redis-server`` and a sandbox (``sandbox_config`` as :func:`sandbox_server`'s), with
    the athletes ``athletes(sandbox)`` returns connected; yields the Redis URL, the sandbox and
    the athletes' ids."""
    with (
        redis_server(directory) as redis_url,
        sandbox_server(directory, **sandbox_config) as sandbox,
    ):
        ids = athletes(sandbox)
        connect_athletes(make_runtime(redis_url, sandbox), sandbox, ids, threads)
        yield redis_url, sandbox, ids


# --- wrk ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # socket errors (connect, read, write, timeout) and non-2xx/3xx answers

    def as_json(self) -> dict[str, float | int]:
        return {
            "requests_per_second": round(self.requests_per_second, 1),
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "requests": self.requests,
            "errors": self.errors,
        }


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"wrk: cannot read the duration {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    """Requests/s, the 50 % and 99 % lines of ``--latency``, and every kind of error."""
    percentiles = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)\s*$", output, re.MULTILINE))
    rps = re.search(r"^Requests/sec:\s+([0-9.]+)", output, re.MULTILINE)
    total = re.search(r"^\s+([0-9]+) requests in", output, re.MULTILINE)
    if rps is None or total is None or set(percentiles) != {"50", "99"}:
        raise SystemExit(f"bench: could not read wrk's output:\n{output}")
    errors = 0
    socket_errors = re.search(r"Socket errors: (.*)$", output, re.MULTILINE)
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"[a-z]+ ([0-9]+)", socket_errors.group(1)))
    bad = re.search(r"Non-2xx or 3xx responses: ([0-9]+)", output)
    if bad:
        errors += int(bad.group(1))
    return WrkResult(
        float(rps.group(1)),
        _ms(percentiles["50"]),
        _ms(percentiles["99"]),
        int(total.group(1)),
        errors,
    )


def wrk_binary() -> str:
    binary = shutil.which("wrk")
    if binary is None:
        raise SystemExit("bench: wrk is not installed (make bench installs it with apt-get)")
    return binary


def wrk(url: str, connections: int, seconds: float, threads: int = 2) -> WrkResult:
    argv = [wrk_binary(), f"-t{min(threads, connections)}", f"-c{connections}"]
    argv += [f"-d{seconds:g}s", "--timeout", "5s", "--latency", url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench: wrk failed ({done.returncode}): {done.stderr.strip()}")
    return parse_wrk(done.stdout)
