"""The WSGI edge: which port a connection came in on (asked of real sockets), the timing it
reports, and ``nosniff`` on every answer."""

from __future__ import annotations

import gc
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from paceline.web.edge import Edge, LocalPorts
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response


@pytest.fixture
def listeners() -> Iterator[list[socket.socket]]:
    opened = []
    for _ in range(2):
        listener = socket.create_server(("127.0.0.1", 0))
        opened.append(listener)
    yield opened
    for listener in opened:
        listener.close()


def accepted(listener: socket.socket) -> tuple[socket.socket, socket.socket]:
    client = socket.create_connection(listener.getsockname())
    server_side, _ = listener.accept()
    return client, server_side


def test_each_connection_reports_the_port_it_came_in_on(listeners: list[socket.socket]) -> None:
    ports = LocalPorts()
    first, second = (accepted(listener) for listener in listeners)
    try:
        for (_, conn), listener in zip((first, second), listeners, strict=True):
            for _ in range(3):  # keep-alive: several requests on one connection
                environ = {"gunicorn.socket": conn, "SERVER_PORT": "1"}  # the client's claim
                assert ports(environ) == listener.getsockname()[1]
    finally:
        for pair in (first, second):
            for end in pair:
                end.close()


def test_a_closed_connection_is_forgotten(listeners: list[socket.socket]) -> None:
    ports = LocalPorts()
    client, conn = accepted(listeners[0])
    ports({"gunicorn.socket": conn})
    assert len(ports._ports) == 1
    client.close()
    conn.close()
    del conn
    gc.collect()
    assert len(ports._ports) == 0


def test_without_a_server_socket_the_servers_own_port_is_used() -> None:
    ports = LocalPorts()
    assert ports({"SERVER_PORT": "9100"}) == 9100
    assert ports({"SERVER_PORT": ""}) is None


class Timings:
    def __init__(self) -> None:
        self.seen: list[tuple[str | None, str, int]] = []

    def observe(self, rule: str | None, method: str, status: int, seconds: float) -> None:
        assert seconds >= 0
        self.seen.append((rule, method, status))


def app(environ: dict[str, Any], start_response: Any) -> Any:
    request = Request(environ)
    if request.path == "/teapot":
        return Response(b"no", status=418)(environ, start_response)
    return Response(b"{}", mimetype="application/json")(environ, start_response)


def test_every_answer_is_timed_and_marked_nosniff_but_metrics_stay_on_their_port() -> None:
    timings = Timings()
    edge = Edge(app, metrics_port=9100, collectors=[], prefix="/api", timer=timings)  # type: ignore[arg-type]
    client = Client(edge)
    teapot = client.post("/api/teapot")
    assert teapot.status_code == 418
    assert teapot.headers["X-Content-Type-Options"] == "nosniff"
    # No Flask here: no matched rule, so the route is unknown (never the raw path).
    assert timings.seen == [(None, "POST", 418)]
    elsewhere = Client(edge).get("/api/anything", base_url="http://localhost:9100")
    assert elsewhere.status_code == 404 and elsewhere.json == {
        "error": "not_found",
        "message": "no such resource",
    }
    assert elsewhere.headers["X-Content-Type-Options"] == "nosniff"
    assert len(timings.seen) == 1  # the metrics port is not the service's traffic


def test_any_method_a_client_invents_is_one_series() -> None:
    from paceline import metrics
    from paceline.web.metrics import RequestTimer

    timer = RequestTimer("edge-test")
    for method in ("GET", "BREW", "PROPFIND", "X" * 20):
        timer.observe(None, method, 405, 0.001)
    metrics.PER_REQUEST.flush()
    methods = {
        sample.labels["method"]
        for family in metrics.HTTP_DURATION.collect()
        for sample in family.samples
        if sample.labels.get("service") == "edge-test"
    }
    assert methods == {"GET", "other"}


def hot_app(environ: dict[str, Any], start_response: Any) -> Any:
    return Response(b"from memory", mimetype="text/plain")(environ, start_response)


def test_a_hot_path_answers_before_the_app_and_is_timed_by_its_route() -> None:
    timings = Timings()
    asked: list[str] = []

    def hot(environ: dict[str, Any]) -> Any:
        asked.append(environ["PATH_INFO"])  # the path without the prefix, like the app's
        return ("/cached/<id>", hot_app) if environ["PATH_INFO"] == "/cached/1" else None

    edge = Edge(app, metrics_port=9100, collectors=[], prefix="/api", timer=timings, hot=hot)  # type: ignore[arg-type]
    client = Client(edge)
    answered = client.get("/api/cached/1")
    assert answered.get_data() == b"from memory"
    assert answered.headers["X-Content-Type-Options"] == "nosniff"
    declined = client.get("/cached/2")
    assert declined.get_data() == b"{}"  # the app's answer
    assert asked == ["/cached/1", "/cached/2"]
    assert timings.seen == [("/cached/<id>", "GET", 200), (None, "GET", 200)]


def test_a_hot_path_that_fails_leaves_the_request_to_the_app() -> None:
    def hot(environ: dict[str, Any]) -> Any:
        raise ConnectionError("the store went away")

    from paceline import metrics

    def failures() -> float:
        return sum(
            sample.value
            for family in metrics.HOT_PATH_ERRORS.collect()
            for sample in family.samples
            if sample.name.endswith("_total") and sample.labels == {"service": "edge-hot-test"}
        )

    edge = Edge(app, metrics_port=9100, collectors=[], hot=hot, service="edge-hot-test")
    before = failures()
    answered = Client(edge).get("/anything")
    assert answered.status_code == 200 and answered.get_data() == b"{}"
    assert failures() == before + 1  # counted: a failing hot path shows as more than lost speed
