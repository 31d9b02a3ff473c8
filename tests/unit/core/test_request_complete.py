"""When the head-first worker hands a connection to a thread: a whole request, not before."""

from __future__ import annotations

from paceline.web.worker import MAX_PREFETCH, request_complete

HEAD = b"POST /webhooks/strava HTTP/1.1\r\nHost: x\r\n"


def test_a_head_is_complete_only_at_its_blank_line() -> None:
    assert not request_complete(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    assert not request_complete(b"GET /healthz HTTP/1.1\r\nX-Slow-1: xxxx\r\n")
    assert request_complete(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")


def test_a_small_body_is_waited_for_in_full() -> None:
    head = HEAD + b"Content-Length: 10\r\n\r\n"
    assert not request_complete(head)
    assert not request_complete(head + b"12345")
    assert request_complete(head + b"1234567890")
    assert request_complete(HEAD.replace(b"Host", b"content-LENGTH:  3\r\nHost") + b"\r\nabc")


def test_what_a_thread_reads_better_is_handed_over_after_the_head() -> None:
    assert request_complete(HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
    assert request_complete(HEAD + b"Expect: 100-continue\r\nContent-Length: 9\r\n\r\n")
    assert request_complete(HEAD + f"Content-Length: {MAX_PREFETCH + 1}\r\n\r\n".encode())
    assert request_complete(b"GET / HTTP/1.1\r\n" + b"X: " + b"y" * MAX_PREFETCH)
