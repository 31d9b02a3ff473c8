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
import re
import sys
import threading
from collections import OrderedDict
from typing import Any

REDACTED = "[REDACTED]"

_SENSITIVE_NAMES = (
    "access_token|refresh_token|id_token|client_secret|code_verifier|verify_token|"
    "hub\\.verify_token|password|passwd|secret|token|code|authorization|cookie|set-cookie|api_key"
)
_PATTERNS = [
    # Authorization: Bearer xyz / Authorization: Basic xyz / "Authorization": "Bearer xyz"
    re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(?:bearer|basic)?\s*[^\s\"',;&}]+"),
    re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    # name=value, name: value, "name": "value"  (query strings, form bodies, JSON, repr)
    re.compile(
        rf"(?i)(?<![A-Za-z0-9_])((?:{_SENSITIVE_NAMES})[\"']?\s*[:=]\s*[\"']?)([^\"'&\s,;}}\]]+)"
    ),
]
_SENSITIVE_FIELD = re.compile(rf"(?i)^(?:{_SENSITIVE_NAMES})$|token|secret|password")

_STANDARD_ATTRS = set(
    logging.LogRecord("x", 0, "x", 0, "x", None, None).__dict__
) | {"message", "asctime", "taskName"}


class SecretRegistry:
    """Bounded set of secret values to scrub (most recent kept)."""

    def __init__(self, capacity: int = 50_000) -> None:
        self._values: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str | None) -> None:
        if not value or len(value) < 6:  # too short to be a credential, too likely a word
            return
        with self._lock:
            if value in self._values:
                self._values.move_to_end(value)
                return
            self._values[value] = None
            if len(self._values) > self._capacity:
                self._values.popitem(last=False)
            self._pattern = None

    def scrub(self, text: str) -> str:
        with self._lock:
            if not self._values:
                return text
            if self._pattern is None:
                ordered = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
            pattern = self._pattern
        return pattern.sub(REDACTED, text)


SECRETS = SecretRegistry()


def register_secret(*values: str | None) -> None:
    """Make sure these values never appear in a log line."""
    for value in values:
        SECRETS.add(value)


def redact(text: str) -> str:
    """Mask registered secrets and secret-shaped substrings in ``text``."""
    text = SECRETS.scrub(text)
    text = _PATTERNS[0].sub(lambda m: m.group(1) + REDACTED, text)
    text = _PATTERNS[1].sub(lambda m: m.group(1) + REDACTED, text)
    return _PATTERNS[2].sub(lambda m: m.group(1) + REDACTED, text)


def _clean_field(name: str, value: Any) -> Any:
    if isinstance(value, str) and _SENSITIVE_FIELD.search(name):
        return REDACTED
    if isinstance(value, dict):
        return {str(k): _clean_field(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_field(name, v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


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
            "msg": record.getMessage(),
        }
        if self.service:
            payload["service"] = self.service
        for name, value in record.__dict__.items():
            if name not in _STANDARD_ATTRS and not name.startswith("_"):
                payload[name] = _clean_field(name, value)
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(payload, default=str))


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class RedactionFilter(logging.Filter):
    """For handlers we do not own: scrub the message in place before any formatter sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


def make_formatter(fmt: str = "json", service: str | None = None) -> logging.Formatter:
    if fmt == "text":
        return TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    return JsonFormatter(service)


def setup_logging(level: str = "INFO", fmt: str = "json", service: str | None = None) -> None:
    """Configure the root logger once per process: one stream handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(make_formatter(fmt, service))
    handler.addFilter(RedactionFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # urllib3 logs full URLs at DEBUG; our own upstream client logs what matters.
    logging.getLogger("urllib3").setLevel(max(logging.INFO, root.level))
