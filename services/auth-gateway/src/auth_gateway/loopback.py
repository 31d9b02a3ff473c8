"""A one-shot HTTP listener on a loopback port that waits for the provider's callback.

Used by ``paceline connect`` (RFC 8252's loopback redirect for native apps). It answers only
``GET /callback/<provider>`` with *its own* state; anything else gets a 400/404 and the wait goes
on, so a stray or forged request cannot end (or hijack) the connection. Nothing it receives is
logged: the request line carries the authorization code.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class Page:
    status: int
    title: str
    text: str

    def render(self) -> bytes:
        return (
            "<!doctype html><html lang=en><meta charset=utf-8>"
            f"<title>{html.escape(self.title)}</title>"
            f"<h1>{html.escape(self.title)}</h1><p>{html.escape(self.text)}</p></html>"
        ).encode()


# Given the callback's query parameters, decide: a page to show and whether the wait is over.
CallbackHandler = Callable[[dict[str, str]], tuple[Page, bool]]


class LoopbackReceiver:
    def __init__(self, host: str, port: int, path: str) -> None:
        if host not in LOOPBACK_HOSTS:
            raise ValueError(f"{host!r} is not a loopback address (use 127.0.0.1 or ::1)")
        self.path = path
        self._handler: CallbackHandler | None = None
        self._done = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "paceline-connect"
            sys_version = ""

            def do_GET(self) -> None:
                receiver._serve(self)

            def log_message(self, format: str, *args: Any) -> None:
                return  # the request line holds the code: never print it

        address = "localhost" if host == "localhost" else host
        self.server = HTTPServer((address, port), Handler)
        self.server.timeout = 0.2

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        if parts.path != self.path or self._handler is None:
            page, done = Page(404, "Not found", "Nothing here."), False
        else:
            params = dict(parse_qsl(parts.query, keep_blank_values=True))
            page, done = self._handler(params)
        body = page.render()
        request.send_response(page.status)
        request.send_header("Content-Type", "text/html; charset=utf-8")
        request.send_header("Content-Length", str(len(body)))
        request.send_header("Cache-Control", "no-store")
        request.send_header("Referrer-Policy", "no-referrer")
        request.send_header("Content-Security-Policy", "default-src 'none'")
        request.end_headers()
        request.wfile.write(body)
        if done:
            self._done.set()

    def wait(self, handler: CallbackHandler, timeout_seconds: float) -> bool:
        """Serve until ``handler`` says done (True) or the time is up (False)."""
        self._handler = handler
        deadline = time.monotonic() + timeout_seconds
        try:
            while not self._done.is_set() and time.monotonic() < deadline:
                self.server.handle_request()
        finally:
            self.server.server_close()
        return self._done.is_set()
