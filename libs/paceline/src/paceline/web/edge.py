"""The WSGI edge of every paceline web service: one layer around the Flask app.

What every request meets before Flask, and every response's headers after it:

- **the metrics port**: a request that came in on ``PACELINE_METRICS_PORT`` (the listening
  socket's own port, never a ``Host`` header) gets ``/metrics`` or a 404, nothing else; on the
  service port ``/metrics`` (and ``<prefix>/metrics``) is marked, and the app answers it 404
  from its first ``before_request`` hook (:func:`paceline.web.metrics.init_metrics`);
- **the path prefix**: the app answers both at ``/`` and under the prefix the ingress routes
  (``/api``, ``/auth``); the prefix moves into ``SCRIPT_NAME``, so ``url_for`` builds prefixed
  links for requests that came in with it;
- **request timing** by route template (:class:`~paceline.web.metrics.RequestTimer`), from
  here, so the request and app contexts Flask builds are timed too;
- ``X-Content-Type-Options: nosniff`` on every response (the edge's own 404s and metrics too):
  a browser never reads JSON or text as script or HTML;
- **a service's own headers by path** (``amend``: activity-api's CORS), added to the list the
  server is handed;
- **a hot path** (``hot``: activity-api's cached reads, :mod:`activity_api.hot_reads`): a
  service may answer its commonest request before Flask, from memory; what it declines (None)
  and any error it meets go to the app, which answers as always.

This was four middlewares and an override of Flask's dispatch, each with its own call (and
two with their own ``start_response``) per request; on a cached read, the hot path of every
widget view, the layers showed in the profile.
"""

from __future__ import annotations

import socket
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client.registry import Collector

from paceline import metrics
from paceline.web.metrics import HIDDEN, RequestTimer, metrics_response, not_found

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Header = tuple[str, str]
# Given a request's environ (its path without the prefix), what to do to its response's
# header list, or None to leave it alone.
Amend = Callable[[dict[str, Any]], Callable[[list[Header]], None] | None]
# Given a request's environ (its path without the prefix): the route template it answers as
# and a WSGI app giving the answer, or None for the app to answer.
Hot = Callable[[dict[str, Any]], tuple[str, WSGIApp] | None]

NOSNIFF = ("X-Content-Type-Options", "nosniff")


def _has_nosniff(headers: list[Header]) -> bool:
    # The exact pair is how paceline's own responses carry it; any spelling counts.
    return NOSNIFF in headers or any(n.lower() == "x-content-type-options" for n, _ in headers)


class LocalPorts:
    """The port each connection came in on, asked of its socket once per connection (a
    keep-alive connection carries many requests) rather than by a system call per request."""

    def __init__(self) -> None:
        self._ports: weakref.WeakKeyDictionary[socket.socket, int | None] = (
            weakref.WeakKeyDictionary()
        )

    def __call__(self, environ: dict[str, Any]) -> int | None:
        sock = environ.get("gunicorn.socket")
        if sock is None:  # the Flask test client and werkzeug's server: the server's own address
            try:
                return int(environ.get("SERVER_PORT", ""))
            except ValueError:
                return None
        port = self._ports.get(sock, -1)
        if port == -1:
            port = self._ports[sock] = self._ask(sock)
        return port

    @staticmethod
    def _ask(sock: socket.socket) -> int | None:
        try:
            address = sock.getsockname()
        except OSError:
            return None
        return address[1] if isinstance(address, tuple) else None


class Edge:
    def __init__(
        self,
        app: WSGIApp,
        *,
        metrics_port: int,
        collectors: list[Collector],
        prefix: str = "",
        timer: RequestTimer | None = None,
        amend: Amend | None = None,
        hot: Hot | None = None,
        service: str = "",
    ) -> None:
        self.app = app
        self.metrics_port = metrics_port
        self.collectors = collectors
        self.prefix = prefix.rstrip("/")
        self.hidden = {"/metrics", self.prefix + "/metrics"}
        self.timer = timer
        self.amend = amend
        self.hot = hot
        self.service = service
        self.local_port = LocalPorts()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if self.local_port(environ) == self.metrics_port:
            return self._metrics_port(path, environ, start_response)
        if path in self.hidden:
            environ[HIDDEN] = True
        prefix = self.prefix
        if prefix and (path == prefix or path.startswith(prefix + "/")):
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + prefix
            environ["PATH_INFO"] = path[len(prefix) :] or "/"
        extra = self.amend(environ) if self.amend is not None else None
        answered: tuple[str, Any] | None = None

        def start(status: str, headers: list[Header], exc_info: Any = None) -> Any:
            nonlocal answered
            # Still inside the request: Flask's request (with its matched rule) is at hand.
            answered = (status, environ.get("werkzeug.request"))
            if extra is not None:
                extra(headers)
            if not _has_nosniff(headers):
                headers.append(NOSNIFF)
            return start_response(status, headers, exc_info)

        started = time.perf_counter()
        hot = self._hot(self.hot, environ) if self.hot is not None else None
        if hot is not None:
            route, answer = hot
            body = answer(environ, start)
        else:
            route, body = None, self.app(environ, start)
        if self.timer is not None and answered is not None:
            status, asked = answered
            if route is None:
                rule = getattr(asked, "url_rule", None)
                route = rule.rule if rule is not None else None
            self.timer.observe(
                route,
                environ.get("REQUEST_METHOD", ""),
                int(status[:3]),
                time.perf_counter() - started,
            )
        return body

    def _hot(self, hot: Hot, environ: dict[str, Any]) -> tuple[str, WSGIApp] | None:
        try:
            return hot(environ)
        except Exception:
            # The app answers instead: its error handlers and logs deal with what went wrong
            # (a hot path only reads memory, so nothing is half done). Counted, so a failure of
            # the hot path alone shows as more than lost speed.
            metrics.HOT_PATH_ERRORS.labels(self.service).inc()
            return None

    def _metrics_port(
        self, path: str, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        def start(status: str, headers: list[Header], exc_info: Any = None) -> Any:
            headers.append(NOSNIFF)
            return start_response(status, headers, exc_info)

        if path == "/metrics" and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            return metrics_response(self.collectors)(environ, start)
        return not_found(start)
