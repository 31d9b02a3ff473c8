"""A gthread worker that gives a thread a connection only once its request has arrived.

gunicorn's gthread worker hands each new (or kept-alive, readable) connection to a pool thread,
which then reads the request head with blocking reads. A client that sends a header line a
second ("slowloris") holds that thread for as long as it likes; a few dozen such clients hold
every thread of every worker, and ``/healthz`` stops answering (measured: with 2 workers x 4
threads, 64 slow clients left 0 of 4 polls answered in 20 s).

:class:`HeadFirstWorker` reads in the worker's poller (its main thread, non-blocking) until the
request head is complete (and a small ``Content-Length`` body with it), then passes the bytes to
gunicorn's own parser and the connection to the pool: a slow client costs a socket and a
buffer, never a thread. A request that has not arrived within ``GUNICORN_HEAD_TIMEOUT`` seconds
is closed. Larger or chunked bodies are still read by the thread: the ingress must buffer
request bodies (ingress-nginx does by default), which the chart's NetworkPolicy makes the only
way in.

Used with ``worker_class = "paceline.web.worker.HeadFirstWorker"`` (the default of
:func:`paceline.web.gunicorn.config`). Not for TLS or HTTP/2 listeners (paceline has neither:
the ingress terminates TLS); there it behaves exactly like gthread.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import selectors
import time
from collections import deque
from functools import partial
from typing import Any

from gunicorn.workers.gthread import (  # type: ignore[import-untyped]
    STOP_KEEPALIVE_LINGER,
    TConn,
    ThreadWorker,
)

HEAD_END = b"\r\n\r\n"
# Read ahead in the poller at most this much: the app refuses bodies over 64 KiB anyway, and a
# request that does not fit is handed over whole to gunicorn's parser, which enforces its limits.
MAX_PREFETCH = 128 * 1024
_CONTENT_LENGTH = re.compile(rb"^content-length:[ \t]*([0-9]{1,9})[ \t]*$", re.I | re.M)
_NEEDS_THREAD = re.compile(rb"^(?:transfer-encoding|expect):", re.I | re.M)


def head_timeout() -> float:
    raw = os.environ.get("GUNICORN_HEAD_TIMEOUT", "")
    try:
        value = float(raw) if raw else 10.0
    except ValueError:
        raise SystemExit(
            f"GUNICORN_HEAD_TIMEOUT: must be a number of seconds (got {raw!r})"
        ) from None
    if value <= 0:
        raise SystemExit(f"GUNICORN_HEAD_TIMEOUT: must be positive (got {value})")
    return value


def request_complete(buffer: bytes) -> bool:
    """Whether ``buffer`` holds a whole request head, and its body when it is a small
    ``Content-Length`` one; True too when the rest is better read by a thread (chunked bodies,
    ``Expect: 100-continue``, anything over :data:`MAX_PREFETCH`)."""
    if len(buffer) >= MAX_PREFETCH:
        return True
    end = buffer.find(HEAD_END)
    if end < 0:
        return False
    head = buffer[:end]
    if _NEEDS_THREAD.search(head):
        return True
    match = _CONTENT_LENGTH.search(head)
    length = int(match.group(1)) if match else 0
    return length > MAX_PREFETCH or len(buffer) >= end + len(HEAD_END) + length


class PrefetchedConn(TConn):  # type: ignore[misc]
    """A connection whose first bytes were read by the poller; the parser gets them first."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.prefetched = bytearray()
        self.deadline = 0.0

    def init(self) -> None:
        fresh = not self.initialized
        super().init()
        if fresh and self.prefetched and self.parser is not None:
            self.parser.unreader.unread(bytes(self.prefetched))
            self.prefetched = bytearray()


class HeadFirstWorker(ThreadWorker):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_timeout = head_timeout()
        self.reading: deque[PrefetchedConn] = deque()  # ordered by deadline

    # --- new connections -------------------------------------------------------------------
    def accept(self, listener: Any) -> None:
        if self.cfg.is_ssl:
            super().accept(listener)
            return
        try:
            client_sock, client_addr = listener.accept()
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = PrefetchedConn(self.cfg, client_sock, client_addr, listener.getsockname())
        self._read_in_poller(conn)

    # --- kept-alive connections: the next request is read the same way ---------------------
    def on_client_socket_readable(self, conn: Any, client: Any) -> None:
        if not isinstance(conn, PrefetchedConn) or conn.parser.unreader.buf.getvalue():
            super().on_client_socket_readable(conn, client)
            return
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._read_in_poller(conn)
        self._on_readable(conn, client)  # it was readable: read now

    # --- the head-reading phase ------------------------------------------------------------
    def _read_in_poller(self, conn: PrefetchedConn) -> None:
        conn.sock.setblocking(False)
        conn.deadline = time.monotonic() + self.head_timeout
        self.reading.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))

    def _on_readable(self, conn: PrefetchedConn, client: Any) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away before sending a request
            self._drop(conn)
            return
        conn.prefetched += data
        if not request_complete(bytes(conn.prefetched)):
            return
        self._stop_reading(conn)
        if conn.initialized:  # a kept-alive connection: its parser exists already
            conn.parser.unreader.unread(bytes(conn.prefetched))
            conn.prefetched = bytearray()
        conn.data_ready = True
        self.enqueue_req(conn)

    def _stop_reading(self, conn: PrefetchedConn) -> None:
        self.reading.remove(conn)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)

    def _drop(self, conn: PrefetchedConn) -> None:
        self._stop_reading(conn)
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self) -> None:
        """Also close connections whose request has not arrived in time. A stopping worker
        gives them what gthread gives its kept-alive connections: a short linger, in which a
        request that arrives is still answered (with ``Connection: close``)."""
        super().murder_pending()
        now = time.monotonic()
        if not self.alive:  # capping every deadline at once keeps the deque in order
            for conn in self.reading:
                conn.deadline = min(conn.deadline, now + STOP_KEEPALIVE_LINGER)
        while self.reading and self.reading[0].deadline <= now:
            self._drop(self.reading[0])
