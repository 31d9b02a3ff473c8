"""Redaction provably keeps tokens, secrets, codes and Authorization headers out of log lines,
and leaves ordinary messages alone. Output is captured from the real setup (stderr, JSON lines).
"""

from __future__ import annotations

import json
import logging
import secrets
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from paceline.log import REDACTED, RedactionFilter, redact, register_secret, setup_logging

Lines = Callable[[], list[dict[str, Any]]]


class CurrentStderr:
    """Whatever ``sys.stderr`` is at write time (pytest swaps it between test phases)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def paceline_logging(level: str = "DEBUG", fmt: str = "json") -> None:
    setup_logging(level, fmt, service="test")
    (handler,) = logging.getLogger().handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(CurrentStderr())  # type: ignore[arg-type]


@pytest.fixture
def json_lines(capsys: pytest.CaptureFixture[str]) -> Iterator[Lines]:
    """The real logging setup writing to the captured stderr; returns a reader of JSON lines."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    paceline_logging()

    def read() -> list[dict[str, Any]]:
        err = capsys.readouterr().err
        return [json.loads(line) for line in err.splitlines() if line.strip()]

    yield read
    root.handlers[:], level = saved
    root.setLevel(level)


def fresh(prefix: str = "tok") -> str:
    """A token-shaped value no other test has registered."""
    return f"{prefix}{secrets.token_hex(16)}"


log = logging.getLogger("paceline.test")


def test_registered_value_is_removed_everywhere_in_the_line(json_lines: Lines) -> None:
    token = fresh()
    register_secret(token)
    try:
        raise RuntimeError(f"provider echoed {token}")
    except RuntimeError:
        log.exception(
            "refresh answered %s for %s",
            token,
            "strava:42",
            extra={"detail": f"body was {token}", "nested": {"deep": [f"x{token}y"]}},
        )
    (line,) = json_lines()
    assert token not in json.dumps(line)
    assert line["msg"] == f"refresh answered {REDACTED} for strava:42"
    assert line["detail"] == f"body was {REDACTED}"
    assert line["nested"] == {"deep": [f"x{REDACTED}y"]}
    assert REDACTED in line["exc"] and "RuntimeError" in line["exc"]


@pytest.mark.parametrize(
    "template",
    [
        "sent Authorization: Bearer {t}",
        "sent authorization=Bearer {t}",
        "headers {{'Authorization': 'Bearer {t}', 'Accept': 'application/json'}}",
        'headers {{"Authorization": "Basic {t}"}}',
        "GET /callback?state=abc&code={t}&scope=read",
        "POST /oauth/token?access_token={t}",
        "body grant_type=refresh_token&refresh_token={t}&client_id=1&client_secret={t}",
        '{{"access_token": "{t}", "refresh_token": "{t}", "expires_at": 1}}',
        '{{"client_secret":"{t}","code":"{t}"}}',
        "PreparedRequest body=b'grant_type=authorization_code&code={t}&redirect_uri=x'",
        "cookie: session={t}",
    ],
)
def test_unregistered_secrets_are_masked_by_shape(json_lines: Lines, template: str) -> None:
    token = fresh("Zq")  # never registered: only the patterns can catch it
    log.warning(template.format(t=token))
    log.warning("in an argument: %s", template.format(t=token))
    log.warning("in a field", extra={"context": template.format(t=token)})
    try:
        raise ValueError(template.format(t=token))
    except ValueError:
        log.exception("in a traceback")
    lines = json_lines()
    assert len(lines) == 4
    for line in lines:
        assert token not in json.dumps(line), line
    assert REDACTED in lines[0]["msg"]


def test_secret_named_fields_are_masked_whatever_they_hold(json_lines: Lines) -> None:
    log.info(
        "stored",
        extra={
            "refresh_token": "short",
            "client_secret": "x",
            "headers": {"Authorization": "whatever", "Accept": "application/json"},
            "body": {"access_token": "abc", "athlete": {"id": 42}},
        },
    )
    (line,) = json_lines()
    assert line["refresh_token"] == REDACTED
    assert line["client_secret"] == REDACTED
    assert line["headers"] == {"Authorization": REDACTED, "Accept": "application/json"}
    assert line["body"] == {"access_token": REDACTED, "athlete": {"id": 42}}


def test_a_real_requests_prepared_request_logs_nothing_secret(json_lines: Lines) -> None:
    token, secret = fresh(), fresh("cs")
    prepared = requests.Request(
        "POST",
        "https://www.strava.com/oauth/token",
        headers={"Authorization": f"Bearer {token}"},
        data={"grant_type": "refresh_token", "refresh_token": token, "client_secret": secret},
    ).prepare()
    log.debug("request %s headers=%s body=%r", prepared, prepared.headers, prepared.body)
    (line,) = json_lines()
    text = json.dumps(line)
    assert token not in text and secret not in text
    assert "grant_type=refresh_token" in line["msg"]


@pytest.mark.parametrize(
    "message",
    [
        "token refresh failed for strava:42",
        "token refresh: 3 refreshed, 0 failed",
        "upstream answered status code: 503",
        "HTTP 429 code=429 retry in 900 s",
        "provider refused the refresh token (RefreshToken:refresh_token:invalid)",
        "POST /oauth/token (refresh): refused (invalid_grant)",
        "Secret paceline/paceline-tokens not found: the Helm chart pre-creates it",
        "Authorization header missing",
        "secret backend is file; 2 accounts restored",
        "GET /api/v3/athlete/activities?page=2&per_page=30 200",
    ],
)
def test_ordinary_messages_pass_unchanged(json_lines: Lines, message: str) -> None:
    log.info(message)
    (line,) = json_lines()
    assert line["msg"] == message


def test_lines_are_json_with_the_expected_fields(json_lines: Lines) -> None:
    log.warning("restored %d credentials", 2, extra={"count": 2, "provider": "strava"})
    (line,) = json_lines()
    assert line["level"] == "warning"
    assert line["logger"] == "paceline.test"
    assert line["service"] == "test"
    assert line["msg"] == "restored 2 credentials"
    assert line["count"] == 2 and line["provider"] == "strava"
    assert line["ts"].endswith("+00:00")


def test_redaction_is_idempotent() -> None:
    token = fresh()
    once = redact(f"access_token={token}&code={token} Authorization: Bearer {token}")
    assert redact(once) == once
    assert once == f"access_token={REDACTED}&code={REDACTED} Authorization: {REDACTED}"


def test_a_broken_log_call_is_logged_redacted_instead_of_failing(json_lines: Lines) -> None:
    token = fresh("Zq")
    record = logging.LogRecord(
        "paceline.test", logging.INFO, __file__, 1, "got %s and %s", (f"code={token}",), None
    )
    (handler,) = [
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, RedactionFilter) for f in h.filters)
    ]
    handler.handle(record)  # straight to our handler: pytest's own would re-raise
    (line,) = json_lines()
    assert line["msg"].startswith("got %s and %s")
    assert token not in json.dumps(line)


def test_filter_scrubs_records_for_handlers_we_do_not_own() -> None:
    token = fresh()
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "Authorization: Bearer %s", (token,), None
    )
    assert RedactionFilter().filter(record)
    assert token not in record.getMessage()


def test_text_format_is_redacted_too(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        paceline_logging("INFO", "text")
        token = fresh()
        log.info("refresh_token=%s", token)
        err = capsys.readouterr().err
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    assert token not in err and f"refresh_token={REDACTED}" in err


def test_short_values_are_not_registered_as_secrets() -> None:
    register_secret("read", "", None)
    assert redact("read the activity") == "read the activity"


def test_every_secret_name_pattern_is_still_checked_when_lines_are_prefiltered() -> None:
    """Lines without a hint word skip the three patterns; every sensitive name must hold one,
    in any case and in the Unicode spellings a case-insensitive regex matches."""
    from paceline.log import _SENSITIVE_NAMES

    for name in _SENSITIVE_NAMES.replace("\\.", ".").split("|"):
        for spelled in (name, name.upper(), name.title()):
            masked = redact(f"{spelled}=Zq81opaquevalue")
            assert "Zq81opaquevalue" not in masked, spelled
    assert "Zq81opaquevalue" not in redact("\u017fecret=Zq81opaquevalue")  # long s: (?i) matches it
    assert "Zq81opaquevalue" not in redact("Authorization: Bearer Zq81opaquevalue")


def test_registered_secrets_of_every_length_are_found_as_lengths_come_and_go() -> None:
    """Only runs as long as the shortest registered token are looked at; registering a shorter
    one, or evicting the shortest, moves that bound."""
    from paceline.log import SecretRegistry

    registry = SecretRegistry(capacity=2, find_each=0)  # scan runs even for two values
    long_one, short_one, middle = "L" * 30 + "x1", "s2" + "S" * 8, "m3" + "M" * 18
    registry.add(long_one)
    assert registry.scrub(f"a/{long_one}/b") == f"a/{REDACTED}/b"
    assert registry.scrub(f"a/{short_one}/b") == f"a/{short_one}/b"  # not registered yet
    registry.add(short_one)
    assert registry.scrub(f"a/{short_one}/b {long_one}") == f"a/{REDACTED}/b {REDACTED}"
    assert registry.scrub(f"prefix{short_one}suffix") == f"prefix{REDACTED}suffix"  # inside a word
    registry.add(middle)  # capacity 2: the long one is evicted
    assert registry.scrub(long_one) == long_one
    assert registry.scrub(f"{middle} {short_one}") == f"{REDACTED} {REDACTED}"


def test_a_record_the_filter_scrubbed_is_formatted_from_its_scrubbed_message(
    json_lines: Lines,
) -> None:
    """The formatter does not scrub a message twice, but a message changed after the filter ran
    is scrubbed again."""
    from paceline.log import make_formatter

    token = secrets.token_urlsafe(32)
    register_secret(token)
    record = logging.LogRecord("gunicorn.access", logging.INFO, "x", 1, f"GET /{token}", None, None)
    RedactionFilter().filter(record)
    formatter = make_formatter("json", "test")
    assert token not in formatter.format(record)
    record.msg = f"changed {token}"
    assert json.loads(formatter.format(record))["msg"] == f"changed {REDACTED}"
