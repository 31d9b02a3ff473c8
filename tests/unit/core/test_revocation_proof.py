"""What counts as the provider confirming a dead grant (a pure reading of its answer)."""

from __future__ import annotations

import pytest
from paceline.revocation import AccessAnswer, access_answer

REVOKED_TOKEN = {
    "message": "Authorization Error",
    "errors": [{"resource": "Athlete", "field": "access_token", "code": "invalid"}],
}


def test_stravas_invalid_access_token_answer_confirms_a_dead_grant() -> None:
    assert access_answer(401, REVOKED_TOKEN) is AccessAnswer.REFUSED


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, {"id": 1}),
        (401, None),  # a proxy's page, not Strava's answer
        (401, "<html>Unauthorized</html>"),
        (401, {"message": "Authorization Error"}),  # no errors list
        (
            401,
            {
                "message": "Authorization Error",
                "errors": [{"resource": "Application", "field": "", "code": "invalid"}],
            },
        ),
        (
            401,
            {
                "message": "Authorization Error",
                "errors": [
                    {
                        "resource": "AccessToken",
                        "field": "activity:read_permission",
                        "code": "missing",
                    }
                ],
            },
        ),
        (
            401,
            {
                "message": "Unauthorized",
                "errors": [{"resource": "Sandbox", "field": "fault", "code": "injected"}],
            },
        ),
        (429, REVOKED_TOKEN),
        (503, REVOKED_TOKEN),
    ],
    ids=[
        "ok",
        "no-body",
        "html",
        "no-errors",
        "application",
        "missing-scope",
        "other-401",
        "429",
        "503",
    ],
)
def test_anything_else_is_not_proof_of_revocation(status: int, body: object) -> None:
    assert access_answer(status, body) is not AccessAnswer.REFUSED
