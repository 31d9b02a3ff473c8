"""The refresh decision (paceline.refresh), backoff arithmetic and outcome log fields: pure, no
Redis, no HTTP."""

from __future__ import annotations

import json

import pytest
from paceline.credential import Credential, CredentialState
from paceline.refresh import (
    Backoff,
    Decision,
    RefreshOutcome,
    RefreshResult,
    backoff_delay,
    decide,
    fingerprint,
)

NOW = 1_800_000_000.0
LEAD = 70 * 60


def credential(expires_in: float, **changes: object) -> Credential:
    base = Credential(
        provider="strava",
        account_id="42",
        access_token="access-token-value",
        refresh_token="refresh-token-value",
        expires_at=NOW + expires_in,
        version=3,
    )
    return base.replace(**changes)


def inflight_for(cred: Credential) -> dict[str, object]:
    return {"version": cred.version, "presented": fingerprint(cred.refresh_token)}


@pytest.mark.parametrize(
    ("expires_in", "expected"),
    [
        (3 * 3600, Decision.NOT_DUE),
        (71 * 60, Decision.NOT_DUE),
        (70 * 60, Decision.REFRESH),
        (50 * 60, Decision.REFRESH),
        (-600, Decision.REFRESH),
    ],
    ids=["3h", "71min", "70min", "50min", "expired"],
)
def test_due_means_expiry_minus_the_lead(expires_in: float, expected: Decision) -> None:
    assert decide(credential(expires_in), NOW, LEAD) is expected


def test_force_refreshes_what_is_not_due() -> None:
    assert decide(credential(5 * 3600), NOW, LEAD, force=True) is Decision.REFRESH


def test_only_active_credentials_are_refreshed_even_when_forced() -> None:
    for state in (CredentialState.NEEDS_REAUTH, CredentialState.REVOKED):
        assert decide(credential(-1, state=state), NOW, LEAD, force=True) is Decision.INACTIVE


def test_an_unfinished_refresh_makes_a_credential_due_at_once() -> None:
    cred = credential(5 * 3600)
    assert decide(cred, NOW, LEAD, inflight=inflight_for(cred)) is Decision.RECOVER


def test_a_stale_inflight_record_does_not_count() -> None:
    cred = credential(5 * 3600)
    older = {**inflight_for(cred), "version": cred.version - 1}
    other_token = {**inflight_for(cred), "presented": fingerprint("another-token")}
    assert decide(cred, NOW, LEAD, inflight=older) is Decision.NOT_DUE
    assert decide(cred, NOW, LEAD, inflight=other_token) is Decision.NOT_DUE


def test_backoff_defers_a_due_credential_until_its_time_unless_forced() -> None:
    cred = credential(10 * 60)
    waiting = Backoff(attempts=2, next_attempt_at=NOW + 30, last_error="HTTP 500")
    assert decide(cred, NOW, LEAD, backoff=waiting) is Decision.DEFER
    assert decide(cred, NOW + 30, LEAD, backoff=waiting) is Decision.REFRESH
    assert decide(cred, NOW, LEAD, backoff=waiting, force=True) is Decision.REFRESH
    assert decide(credential(5 * 3600), NOW, LEAD, backoff=waiting) is Decision.NOT_DUE


def test_a_rejected_access_token_is_refreshed_only_while_still_stored() -> None:
    cred = credential(5 * 3600)
    assert decide(cred, NOW, LEAD, rejected_access_token=cred.access_token) is Decision.REFRESH
    assert decide(cred, NOW, LEAD, rejected_access_token="an-older-one") is Decision.NOT_DUE


@pytest.mark.parametrize(
    ("attempts", "retry_after", "expected"),
    [
        (1, None, 60),
        (2, None, 120),
        (3, None, 240),
        (7, None, 3600),
        (20, None, 3600),
        (1, 900, 900),
        (1, 10, 60),
        (1, 99_999, 3600),
    ],
)
def test_backoff_doubles_up_to_a_cap_and_honours_retry_after(
    attempts: int, retry_after: float | None, expected: float
) -> None:
    assert backoff_delay(attempts, 60, 3600, retry_after) == expected


def test_backoff_record_survives_garbage() -> None:
    assert Backoff.parse(None) is None
    assert Backoff.parse(b"not json") is None
    assert Backoff.parse(json.dumps({"attempts": "x"})) is None
    parsed = Backoff.parse(json.dumps({"attempts": 2, "next_attempt_at": NOW, "error": "e"}))
    assert parsed == Backoff(2, NOW, "e")


def test_outcome_log_fields_carry_no_token() -> None:
    cred = credential(60)
    outcome = RefreshOutcome(
        "strava",
        "42",
        RefreshResult.REFRESHED,
        "",
        cred,
        answer_to_save_seconds=0.0012,
        provider_seconds=0.2,
        rotated=True,
        mirrored=True,
    )
    fields = outcome.log_fields()
    assert fields["answer_to_save_ms"] == 1.2 and fields["provider_ms"] == 200.0
    text = json.dumps(fields)
    assert cred.access_token not in text and cred.refresh_token not in text
