"""The line handler: whole lines from many threads into a real pipe, redacted, none lost."""

from __future__ import annotations

import io
import json
import logging
import os
import select
import threading

from paceline.log import REDACTED, LineHandler, RedactionFilter, make_formatter


def handler_on(stream: object) -> LineHandler:
    handler = LineHandler(stream)  # type: ignore[arg-type]
    handler.setFormatter(make_formatter("json", service="test"))
    handler.addFilter(RedactionFilter())
    return handler


def test_lines_from_four_threads_reach_a_pipe_whole_and_redacted() -> None:
    read_end, write_end = os.pipe()
    received = bytearray()

    def drain() -> None:
        while chunk := os.read(read_end, 65536):
            received.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    stream = os.fdopen(write_end, "w")
    handler = handler_on(stream)
    logger = logging.getLogger("paceline.test.line_handler")
    logger.propagate, logger.handlers = False, [handler]
    logger.setLevel(logging.INFO)
    long_text = "x" * (select.PIPE_BUF * 2)  # past PIPE_BUF: written under the lock

    def work(index: int) -> None:
        for n in range(500):
            logger.info("request %d of %d access_token=abcdefgh12345678", n, index)
        logger.info("long %d %s", index, long_text)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stream.close()
    reader.join()
    os.close(read_end)

    lines = [json.loads(line) for line in received.decode().splitlines()]  # each one whole
    assert len(lines) == 4 * 501
    assert sum(line["msg"].startswith("long") for line in lines) == 4
    assert all("abcdefgh12345678" not in line["msg"] for line in lines)
    assert all(REDACTED in line["msg"] for line in lines if line["msg"].startswith("request"))


def test_a_stream_without_a_descriptor_is_written_as_before() -> None:
    buffer = io.StringIO()
    logger = logging.getLogger("paceline.test.line_handler.buffer")
    logger.propagate, logger.handlers = False, [handler_on(buffer)]
    logger.warning("hello")
    assert json.loads(buffer.getvalue())["msg"] == "hello"
