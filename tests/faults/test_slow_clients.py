"""Slow clients cannot starve the workers (slowloris, on loopback, bounded in time).

activity-api runs under gunicorn with the chart's settings (2 workers, gthread). 64 connections
each send a request line and then one header line a second, never finishing their request head,
while a client polls ``/healthz`` and a cached summary. Every poll must be answered: a worker
thread is given a connection only once its whole request head has arrived (see
:mod:`paceline.web.worker`), so the slow connections wait in the workers' pollers, not in
their threads.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
import requests

from tests.faults.conftest import Recorder
from tests.faults.stack import Service, service_env
from tests.faults.test_redis_loss import connect
from tests.fixtures.redis import RedisServer
from tests.fixtures.runtime import RuntimeFactory
from tests.fixtures.sandbox import SandboxHandle

pytestmark = pytest.mark.faults

SLOW_CLIENTS = 64
SLOW_SECONDS = 20.0  # how long the slow clients keep dripping
POLL_TIMEOUT = 5.0


class Slowloris:
    """``count`` connections, each sending a header line a second; stopped by ``close``."""

    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.count = count
        self.sockets: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._drip, daemon=True)
        self.open_seen = 0

    def start(self) -> Slowloris:
        for _ in range(self.count):
            conn = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
            self.sockets.append(conn)
        self.thread.start()
        return self

    def _drip(self) -> None:
        line = 0
        deadline = time.monotonic() + SLOW_SECONDS + 10  # bounded even if never stopped
        while not self.stop.wait(1.0) and time.monotonic() < deadline:
            line += 1
            alive = 0
            for conn in self.sockets:
                try:
                    conn.sendall(f"X-Slow-{line}: {'x' * 16}\r\n".encode())
                    alive += 1
                except OSError:
                    continue
            self.open_seen = max(self.open_seen, alive)

    def still_open(self) -> int:
        """Connections the server has not closed (a closed one reads EOF or fails)."""
        open_count = 0
        for conn in self.sockets:
            conn.setblocking(False)
            try:
                data = conn.recv(1)
                open_count += 0 if data == b"" else 1
            except BlockingIOError:
                open_count += 1
            except OSError:
                pass
        return open_count

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for conn in self.sockets:
            conn.close()


@pytest.fixture
def slow_clients() -> Iterator[Callable[[int], Slowloris]]:
    started: list[Slowloris] = []

    def start(port: int) -> Slowloris:
        loris = Slowloris(port, SLOW_CLIENTS).start()
        started.append(loris)
        return loris

    yield start
    for loris in started:
        loris.close()


def test_health_and_cached_reads_answer_while_64_slow_clients_drip_headers(
    redis_server: RedisServer,
    redis_client: redis.Redis,
    make_runtime: RuntimeFactory,
    sandbox: SandboxHandle,
    services: Callable[..., Service],
    slow_clients: Callable[[int], Slowloris],
    tmp_path: Path,
    fault_report: Recorder,
) -> None:
    runtime = make_runtime(
        strava_base_url=sandbox.url,
        strava_client_id=sandbox.client_id,
        strava_client_secret=sandbox.client_secret,
    )
    account = connect(runtime, sandbox)
    summary = f"/v1/strava/athletes/{account}/summary"
    env = service_env(
        redis_server.url,
        sandbox,
        tmp_path / "mirror",
        GUNICORN_THREADS="4",  # the chart's activity-api: 2 workers x 4 threads
        GUNICORN_ACCESS_LOG="0",
    )
    api = services("activity-api", env, workers=2)
    assert requests.get(api.url + summary, timeout=15).status_code == 200  # cached from now on
    port = int(api.url.rsplit(":", 1)[1])
    loris = slow_clients(port)
    time.sleep(2.0)  # every slow connection has been accepted and has dripped

    answered, failed, slowest = 0, 0, 0.0
    deadline = time.monotonic() + SLOW_SECONDS
    session = requests.Session()
    while time.monotonic() < deadline:
        for path in ("/healthz", summary):
            started = time.monotonic()
            try:
                status = session.get(api.url + path, timeout=POLL_TIMEOUT).status_code
            except requests.RequestException:
                status = 0
            slowest = max(slowest, time.monotonic() - started)
            if status == 200:
                answered += 1
            else:
                failed += 1
        time.sleep(0.25)
    still_open = loris.still_open()

    assert fault_report.add(
        "healthz and reads answered while 64 slow clients drip headers",
        f"{answered} answered, {failed} unanswered, slowest {slowest:.2f} s; "
        f"{loris.open_seen} slow connections open while dripping, {still_open} still open",
        failed == 0 and answered > 20,
    )


def test_requests_of_every_shape_are_served_by_the_head_first_worker(
    redis_server: RedisServer,
    sandbox: SandboxHandle,
    services: Callable[..., Service],
    tmp_path: Path,
    fault_report: Recorder,
) -> None:
    env = service_env(redis_server.url, sandbox, tmp_path / "mirror", GUNICORN_ACCESS_LOG="0")
    api = services("activity-api", env, workers=1)
    session = requests.Session()  # kept-alive: every later request is read by the poller too
    kept_alive = [session.get(f"{api.url}/healthz", timeout=5).status_code for _ in range(5)]
    event = {"object_type": "activity", "aspect_type": "create", "object_id": 1, "owner_id": 1}
    posted = session.post(f"{api.url}/webhooks/strava", json=event, timeout=5).status_code
    chunked = session.post(
        f"{api.url}/webhooks/strava",
        data=iter([b'{"object_type": ', b'"activity"}']),
        headers={"Content-Type": "application/json"},
        timeout=5,
    ).status_code
    expect = session.post(
        f"{api.url}/webhooks/strava",
        json=event,
        headers={"Expect": "100-continue"},
        timeout=5,
    ).status_code
    port = int(api.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        one = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        conn.sendall(one + one.replace(b"Host: x", b"Host: x\r\nConnection: close"))
        pipelined = b""
        while chunk := conn.recv(65536):
            pipelined += chunk
    answers = pipelined.count(b"HTTP/1.1 200")
    shapes = f"keep-alive {kept_alive}, POST {posted}, chunked {chunked}, expect {expect}"
    assert fault_report.add(
        "the head-first worker serves every request shape",
        f"{shapes}, pipelined 200s: {answers}",
        kept_alive == [200] * 5
        and posted < 500
        and chunked < 500
        and expect < 500
        and answers == 2,
    )
