"""Log redaction stays correct and fast with the tokens of 10,000 accounts registered.

A pass over 10,000 accounts registers about 30,000 token values; scrubbing each log line must
not grow with that number (one big regular expression of every token did: >1 s per line).
"""

from __future__ import annotations

import secrets
import time

from paceline.log import REDACTED, SecretRegistry


def test_thirty_thousand_registered_tokens_are_masked_quickly() -> None:
    registry = SecretRegistry()
    tokens = [secrets.token_hex(20) for _ in range(30_000)]
    for token in tokens:
        registry.add(token)
    line = '{"msg": "credential handled", "account": "42", "detail": "echo %s and %s"}'

    started = time.perf_counter()
    for i in range(1000):
        registry.add(secrets.token_hex(20))  # a refresh registers new tokens between lines
        scrubbed = registry.scrub(line % (tokens[i], tokens[-i - 1]))
    per_line = (time.perf_counter() - started) / 1000

    assert scrubbed.count(REDACTED) == 2 and tokens[999] not in scrubbed
    assert per_line < 0.002


def test_embedded_overlapping_and_odd_secrets_are_masked() -> None:
    registry = SecretRegistry()
    token = secrets.token_urlsafe(30)
    registry.add(token)
    registry.add(token[5:25])  # a secret inside another
    registry.add("pass phrase with spaces")
    text = f"x{token}y Bearer {token[5:25]} / pass phrase with spaces!"
    scrubbed = registry.scrub(text)
    assert token not in scrubbed and token[5:25] not in scrubbed
    assert "pass phrase" not in scrubbed
    assert scrubbed == f"x{REDACTED}y Bearer {REDACTED} / {REDACTED}!"


def test_the_oldest_secrets_are_forgotten_beyond_capacity() -> None:
    registry = SecretRegistry(capacity=2)
    for value in ("first-secret", "second-secret", "third-secret"):
        registry.add(value)
    assert registry.scrub("first-secret second-secret third-secret") == (
        f"first-secret {REDACTED} {REDACTED}"
    )
