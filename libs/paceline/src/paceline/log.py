"""Logging: JSON lines, and a redaction that keeps secrets out of them.

Three layers, because each alone has holes:
1. known values: every token, secret and code paceline handles is registered with
   :func:`register_secret` and replaced wherever it appears in the final line;
2. patterns: ``Authorization: Bearer ...``, ``access_token=...``, ``"client_secret": "..."`` and
   the like are masked even for values never registered (a token echoed by a provider);
3. field names: structured ``extra`` fields named like secrets are masked whatever they hold.
The check runs on the fully formatted line (message, fields and traceback), so nothing reaches
a handler unscrubbed. Gunicorn's access and error logs go through the same formatter.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import select
import sys
import threading
from collections import OrderedDict
from typing import Any

REDACTED = "[REDACTED]"

_SENSITIVE_NAMES = (
    "access_token|refresh_token|id_token|client_secret|code_verifier|verify_token|"
    "hub\\.verify_token|password|passwd|secret|token|code|authorization|cookie|set-cookie|api_key"
)
# A quote, possibly JSON-escaped (the patterns also run on the final, already-encoded line).
_Q = r"""\\?["']"""
# A value ends at a quote, a backslash (start of an escape), a separator or a closing bracket,
# so a replacement never eats part of a JSON escape; ``[REDACTED]`` is never masked again.
_VALUE = r"""(?!\[REDACTED\])[^\s"'\\,;&}\])]+"""
_AUTHORIZATION = re.compile(
    rf"(?i)(authorization{_Q}?\s*[:=]\s*{_Q}?)(?:(?:bearer|basic)\s+)?{_VALUE}"
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
# name=value, name: value, "name": "value"  (query strings, form bodies, JSON, repr)
_NAMED = re.compile(
    rf"(?i)(?<![A-Za-z0-9_])(?P<name>{_SENSITIVE_NAMES})"
    rf"(?P<sep>{_Q}?\s*(?P<op>[:=])\s*(?P<quote>{_Q})?)(?P<value>{_VALUE})"
)
# Words every match of the three patterns above contains (each sensitive name holds one): a
# line with none of them is not scanned three times for nothing (most lines, access lines too).
_PATTERN_HINTS = ("token", "secret", "code", "passw", "authoriz", "cookie", "api_key", "bearer")
# Below this length an unquoted ``name: value`` reads as prose ("refresh_token:invalid" in an
# error reason, "token: expired"); real tokens are much longer. ``=`` and quoted values are
# always masked.
_PROSE_VALUE_MAX = 7


def _mask_named(match: re.Match[str]) -> str:
    name, value = match["name"], match["value"]
    if name.lower() == "code" and value.isdigit() and len(value) <= 4:
        return match[0]  # an HTTP status or error code, not an OAuth code
    if match["op"] == ":" and not match["quote"] and len(value) <= _PROSE_VALUE_MAX:
        return match[0]
    return name + match["sep"] + REDACTED


_SENSITIVE_FIELD = re.compile(rf"(?i)^(?:{_SENSITIVE_NAMES})$|token|secret|password")

_STANDARD_ATTRS = set(logging.LogRecord("x", 0, "x", 0, "x", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


# Characters of token-shaped secrets (base64url, hex, JWT, Fernet). Secrets made only of these
# are found by looking up windows of runs of these characters in per-length sets, which stays
# fast with tens of thousands registered (a refresher pass over 10,000 accounts registers ~30,000).
_TOKEN_RUN = re.compile(r"[A-Za-z0-9._~+/=-]+")


class SecretRegistry:
    """Bounded set of secret values to scrub (most recent kept)."""

    def __init__(self, capacity: int = 50_000, find_each: int = 32) -> None:
        self._values: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity
        # Up to ``find_each`` values a line is searched for each of them (``str.find``: well
        # under a microsecond per value on an access line, where the run scan below costs
        # about 4 us); beyond, by the runs long enough to hold one. A web service registers a
        # handful (its client secret, a path token), a refresher run thousands.
        self._find_each = find_each
        self._lock = threading.Lock()
        # Token-shaped values by length; the rest (rare: secrets with spaces or punctuation)
        # go into one small regex.
        self._by_length: dict[int, set[str]] = {}
        self._odd: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        # Runs of token characters at least as long as the shortest registered token: the only
        # runs that can hold one, found by the regex engine rather than a Python loop over
        # every word of a line (an access line has about twenty, none long enough).
        self._long_runs: tuple[int, re.Pattern[str]] | None = None

    def add(self, value: str | None) -> None:
        if not value or len(value) < 6:  # too short to be a credential, too likely a word
            return
        with self._lock:
            if value in self._values:
                self._values.move_to_end(value)
                return
            self._values[value] = None
            self._index(value)
            if len(self._values) > self._capacity:
                evicted, _ = self._values.popitem(last=False)
                self._unindex(evicted)

    def _index(self, value: str) -> None:
        if _TOKEN_RUN.fullmatch(value):
            new_length = len(value) not in self._by_length
            self._by_length.setdefault(len(value), set()).add(value)
            if new_length:
                self._bound_runs()
        else:
            self._odd.add(value)
            self._pattern = None

    def _bound_runs(self) -> None:
        """The pattern of runs long enough to hold the shortest registered token, compiled when
        a token length is first registered or last forgotten (never per scrubbed line)."""
        shortest = min(self._by_length, default=None)
        if shortest is None:
            self._long_runs = None
        elif self._long_runs is None or self._long_runs[0] != shortest:
            self._long_runs = (shortest, re.compile(f"{_TOKEN_RUN.pattern[:-1]}{{{shortest},}}"))

    def _unindex(self, value: str) -> None:
        bucket = self._by_length.get(len(value))
        if bucket is not None and value in bucket:
            bucket.discard(value)
            if not bucket:
                del self._by_length[len(value)]
                self._bound_runs()
        elif value in self._odd:
            self._odd.discard(value)
            self._pattern = None

    def _spans(self, text: str) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        if len(self._values) <= self._find_each:  # a few values: look for each one
            for value in self._values:
                start = text.find(value)
                while start >= 0:
                    spans.append((start, start + len(value)))
                    start = text.find(value, start + 1)
            return spans
        if self._long_runs is not None:  # token-shaped secrets are registered
            lengths = sorted(self._by_length, reverse=True)
            for run in self._long_runs[1].finditer(text):
                word, start = run.group(), run.start()
                for length in lengths:
                    bucket = self._by_length[length]
                    for i in range(len(word) - length + 1):
                        if word[i : i + length] in bucket:
                            spans.append((start + i, start + i + length))
        if self._odd:
            if self._pattern is None:
                ordered = sorted(self._odd, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
            spans.extend(m.span() for m in self._pattern.finditer(text))
        return spans

    def scrub(self, text: str) -> str:
        with self._lock:
            if not self._values:
                return text
            spans = self._spans(text)
        if not spans:
            return text
        out: list[str] = []
        cursor = 0
        end = -1
        for start, stop in sorted(spans):
            if start < end:  # overlaps the previous secret: extend the masked region
                end = max(end, stop)
                continue
            if end >= 0:
                out.append(REDACTED)
                cursor = end
            out.append(text[cursor:start])
            cursor, end = start, stop
        out.append(REDACTED)
        out.append(text[end:])
        return "".join(out)


SECRETS = SecretRegistry()


def register_secret(*values: str | None) -> None:
    """Make sure these values never appear in a log line."""
    for value in values:
        SECRETS.add(value)


def redact(text: str) -> str:
    """Mask registered secrets and secret-shaped substrings in ``text`` (idempotent)."""
    text = SECRETS.scrub(text)
    folded = text.casefold()  # as (?i) compares: "SECRET" and "\u017fecret" (long s) are "secret"
    if not any(word in folded for word in _PATTERN_HINTS):  # no pattern can match
        return text
    text = _AUTHORIZATION.sub(lambda m: m.group(1) + REDACTED, text)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    return _NAMED.sub(_mask_named, text)


def _clean_field(name: str, value: Any) -> Any:
    """Structured fields: secret-named ones masked, every string redacted before encoding."""
    if isinstance(value, str) and _SENSITIVE_FIELD.search(name):
        return REDACTED
    if isinstance(value, dict):
        return {str(k): _clean_field(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_field(name, v) for v in value]
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return redact(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, then structured fields."""

    def __init__(self, service: str | None = None) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            # Already scrubbed in place where a RedactionFilter saw the record first.
            "msg": record.msg if _scrubbed(record) else redact(record.getMessage()),
        }
        if self.service:
            payload["service"] = self.service
        for name, value in record.__dict__.items():
            if name not in _STANDARD_ATTRS and not name.startswith("_"):
                payload[name] = _clean_field(name, value)
        if record.exc_info:
            payload["exc"] = redact(self.formatException(record.exc_info))
        # Each part was redacted before encoding (where quotes are not yet escaped); the whole
        # line is checked once more as a safety net.
        return redact(json.dumps(payload, default=str))


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class RedactionFilter(logging.Filter):
    """For handlers we do not own: scrub the message in place before any formatter sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken log call (wrong arguments) must neither raise nor leak
            message = f"{record.msg} (unformatted arguments: {record.args!r})"
        record.msg = redact(message)
        record.args = None
        record._paceline_scrubbed = record.msg
        return True


def _scrubbed(record: logging.LogRecord) -> bool:
    """The record's message is the one :class:`RedactionFilter` scrubbed (not changed since)."""
    scrubbed = getattr(record, "_paceline_scrubbed", None)
    return scrubbed is not None and scrubbed is record.msg and not record.args


class LineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that formats (and so redacts) outside its lock and writes each line
    with one ``write`` to the stream's file descriptor.

    ``logging.StreamHandler`` formats and writes while holding its lock, and the write is a
    system call that lets other threads run: under a gunicorn worker's four threads, each
    logging every request, the lock became a convoy (threads queueing on it, a context switch
    each). A line up to ``PIPE_BUF`` bytes written in one call is never interleaved with
    another (POSIX, for pipes; the kernel keeps one file's writes apart too), so such lines
    need no lock; longer ones (tracebacks) and streams without a descriptor (a test's buffer)
    are written under the lock as before.
    """

    def handle(self, record: logging.LogRecord) -> bool:
        passed = bool(self.filter(record))
        if passed:
            self.emit(record)  # not under the handler's lock, unlike logging.Handler.handle
        return passed

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        self._write(line, record)

    def _write(self, line: str, record: logging.LogRecord) -> None:
        try:
            fd = self.stream.fileno()
        except (AttributeError, OSError, ValueError):  # no descriptor: a buffer, a closed stream
            fd = None
        data = line.encode("utf-8", "replace")
        try:
            if fd is not None and len(data) <= select.PIPE_BUF:
                self.stream.flush()  # nothing written through the stream may come after this
                while data:
                    data = data[os.write(fd, data) :]
                return
            with self.lock:  # type: ignore[union-attr]
                self.stream.write(line)
                self.stream.flush()
        except Exception:
            self.handleError(record)


def make_formatter(fmt: str = "json", service: str | None = None) -> logging.Formatter:
    if fmt == "text":
        return TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    return JsonFormatter(service)


def setup_logging(level: str = "INFO", fmt: str = "json", service: str | None = None) -> None:
    """Configure the root logger once per process: one stream handler on stderr."""
    handler = LineHandler(sys.stderr)
    handler.setFormatter(make_formatter(fmt, service))
    handler.addFilter(RedactionFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # urllib3 logs full URLs at DEBUG; our own upstream client logs what matters.
    logging.getLogger("urllib3").setLevel(max(logging.INFO, root.level))
