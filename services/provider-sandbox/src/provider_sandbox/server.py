"""Serving the sandbox with werkzeug's threaded server, in the foreground or a thread.

Shared by the ``provider-sandbox`` command and the pytest fixture so both run the sandbox
the same way. Request logs drop query strings: they carry tokens and client secrets.
"""

from __future__ import annotations

import contextlib
import ipaddress
import threading

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .state import EXTENSION_KEY


class RedactingRequestHandler(WSGIRequestHandler):
    """Logs ``METHOD /path status`` without the query string."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = self.path.split("?", 1)[0] if hasattr(self, "path") else "-"
        self.log("info", '"%s %s" %s %s', getattr(self, "command", "-"), path, code, size)


class SandboxServer:
    """A threaded HTTP server for one sandbox app.

    ``port=0`` picks a free port (read it back from ``port``), which is what tests want.
    """

    def __init__(self, app: Flask, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self._server: BaseWSGIServer = make_server(
            host, port, app, threaded=True, request_handler=RedactingRequestHandler
        )
        # Do not wait for idle keep-alive connections (or hung fault requests) on close.
        self._server.block_on_close = False  # type: ignore[attr-defined]
        self.host = host
        self.port: int = self._server.server_port
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Where a client on this machine reaches the server (wildcard binds map to loopback)."""
        host = self.host or "127.0.0.1"
        with contextlib.suppress(ValueError):
            address = ipaddress.ip_address(host)
            if address.is_unspecified:
                host = "::1" if address.version == 6 else "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.1)

    def start(self) -> SandboxServer:
        """Serve in a daemon thread; returns self for chaining."""
        self._thread = threading.Thread(
            target=self.serve_forever, name=f"provider-sandbox:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release hung fault requests, stop accepting, close the socket."""
        sandbox = self.app.extensions.get(EXTENSION_KEY)
        if sandbox is not None:
            sandbox.faults.clear()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
