"""The grant-is-dead decision: both tokens refused, in the provider's own words."""

from __future__ import annotations

import pytest
from paceline.refresh import RefreshResult
from paceline.revocation import (
    AccessAnswer,
    RefreshAnswer,
    access_answer,
    judge,
    refresh_answer,
)

ATHLETE_401 = {
    "message": "Authorization Error",
    "errors": [{"resource": "Athlete", "field": "access_token", "code": "invalid"}],
}
APPLICATION_401 = {
    "message": "Authorization Error",
    "errors": [{"resource": "Application", "field": "client_id", "code": "invalid"}],
}


def test_only_a_401_naming_the_athletes_token_counts_as_refused() -> None:
    assert access_answer(200, {"id": 1}) is AccessAnswer.ACCEPTED
    assert access_answer(401, ATHLETE_401) is AccessAnswer.REFUSED
    # a wrong client secret is the application's problem, never a sign the athlete left
    assert access_answer(401, APPLICATION_401) is AccessAnswer.UNKNOWN
    assert access_answer(401, {"message": "nope"}) is AccessAnswer.UNKNOWN
    assert access_answer(401, None) is AccessAnswer.UNKNOWN
    assert access_answer(503, ATHLETE_401) is AccessAnswer.UNKNOWN
    assert access_answer(429, None) is AccessAnswer.UNKNOWN


def test_a_refused_refresh_is_a_refusal_unless_the_application_was_refused() -> None:
    assert refresh_answer(RefreshResult.REFRESHED) is RefreshAnswer.ACCEPTED
    assert (
        refresh_answer(RefreshResult.NEEDS_REAUTH, "refused (RefreshToken/refresh_token/invalid)")
        is RefreshAnswer.REFUSED
    )
    assert refresh_answer(RefreshResult.LOST_CHAIN) is RefreshAnswer.REFUSED
    assert (
        refresh_answer(RefreshResult.NEEDS_REAUTH, "refused (Application/client_id/invalid)")
        is RefreshAnswer.UNKNOWN
    )
    assert refresh_answer(RefreshResult.TRANSIENT_ERROR) is RefreshAnswer.UNKNOWN
    assert refresh_answer(RefreshResult.BUSY) is RefreshAnswer.UNKNOWN


@pytest.mark.parametrize(
    ("access", "refresh", "dead"),
    [
        (AccessAnswer.REFUSED, RefreshAnswer.REFUSED, True),
        (AccessAnswer.ACCEPTED, RefreshAnswer.REFUSED, False),  # a refresh fault, grant alive
        (AccessAnswer.REFUSED, RefreshAnswer.ACCEPTED, False),  # an expired access token
        (AccessAnswer.UNKNOWN, RefreshAnswer.REFUSED, None),
        (AccessAnswer.REFUSED, RefreshAnswer.UNKNOWN, None),
    ],
)
def test_a_grant_is_dead_only_when_both_tokens_are_refused(
    access: AccessAnswer, refresh: RefreshAnswer, dead: bool | None
) -> None:
    assert judge(access, refresh) is dead
