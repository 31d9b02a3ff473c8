"""Log redaction stays correct and cheap with the tokens of 10,000 accounts registered.

A pass over 10,000 accounts registers about 30,000 token values; scrubbing each log line must
not grow with that number (one big regular expression of every token did: >1 s per line).
"""

from __future__ import annotations

import secrets
from functools import partial

import pytest
from paceline.log import REDACTED, SecretRegistry

from tests.fixtures.work import lines_executed


def _registry(count: int) -> tuple[SecretRegistry, list[str]]:
    registry = SecretRegistry(find_each=0)  # the run scan, whatever the count
    tokens = [secrets.token_hex(20) for _ in range(count)]
    for token in tokens:
        registry.add(token)
    return registry, tokens


def test_thirty_thousand_registered_tokens_are_masked_with_no_more_work_than_thirty() -> None:
    # Counted, not timed: the Python lines run to scrub a line (re's compiler included, so a
    # regular expression rebuilt from every token would show) are the same with 30 tokens
    # registered as with 30,000.
    line = '{"msg": "credential handled", "account": "42", "detail": "echo %s and %s"}'
    work = {}
    for count in (30, 30_000):
        registry, tokens = _registry(count)
        lines = []
        for i in range(10):
            registry.add(secrets.token_hex(20))  # a refresh registers new tokens between lines
            text = line % (tokens[i], tokens[-i - 1])
            scrubbed, executed = lines_executed(partial(registry.scrub, text))
            assert scrubbed.count(REDACTED) == 2 and tokens[i] not in scrubbed
            lines.append(executed)
        work[count] = max(lines)

    assert work[30_000] == work[30]
    assert work[30] < 5_000


@pytest.mark.parametrize("find_each", [32, 0], ids=["each value found", "runs scanned"])
def test_embedded_overlapping_and_odd_secrets_are_masked(find_each: int) -> None:
    registry = SecretRegistry(find_each=find_each)
    token = secrets.token_urlsafe(30)
    registry.add(token)
    registry.add(token[5:25])  # a secret inside another
    registry.add("pass phrase with spaces")
    text = f"x{token}y Bearer {token[5:25]} / pass phrase with spaces!"
    scrubbed = registry.scrub(text)
    assert token not in scrubbed and token[5:25] not in scrubbed
    assert "pass phrase" not in scrubbed
    assert scrubbed == f"x{REDACTED}y Bearer {REDACTED} / {REDACTED}!"


@pytest.mark.parametrize("find_each", [32, 0], ids=["each value found", "runs scanned"])
def test_the_oldest_secrets_are_forgotten_beyond_capacity(find_each: int) -> None:
    registry = SecretRegistry(capacity=2, find_each=find_each)
    for value in ("first-secret", "second-secret", "third-secret"):
        registry.add(value)
    assert registry.scrub("first-secret second-secret third-secret") == (
        f"first-secret {REDACTED} {REDACTED}"
    )


def test_both_ways_of_looking_mask_the_same_text() -> None:
    """A registry of a few values looks for each; past ``find_each`` it scans runs: the same
    values in the same lines come out the same either way (repeats, overlaps, adjacency)."""
    values = [secrets.token_urlsafe(24) for _ in range(5)]
    values += [values[0][3:15], "odd secret: with spaces", "tok-" + "a" * 8]
    lines = [
        f"{values[0]}{values[0]}",
        f"x{values[1]}/{values[2]} and {values[0][3:15]} again {values[0]}",
        f'"{values[3]}","{values[4]}" odd secret: with spaces tok-{"a" * 8}',
        "nothing secret here",
    ]
    by_each, by_runs = SecretRegistry(find_each=32), SecretRegistry(find_each=0)
    for value in values:
        by_each.add(value)
        by_runs.add(value)
    for line in lines:
        scrubbed = by_each.scrub(line)
        assert scrubbed == by_runs.scrub(line)
        assert not any(value in scrubbed for value in values)
