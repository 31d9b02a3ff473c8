"""The credential model: tokens never printed, records round-trip, refresh is due on time."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest
from paceline.credential import Credential, CredentialState, refresh_due

ACCESS = "acc-7f3a9c1e5b2d4f6a8c0e"
REFRESH = "ref-1b3d5f7a9c2e4a6c8e0f"


def credential(**changes: object) -> Credential:
    base = Credential(
        provider="strava",
        account_id="42",
        access_token=ACCESS,
        refresh_token=REFRESH,
        expires_at=1_767_247_200.0,
        scopes=("activity:read", "read"),
        version=3,
        created_at=1_767_225_600.0,
        updated_at=1_767_229_200.0,
        last_refresh_at=1_767_229_200.0,
        display_name="Ada Lovelace",
    )
    return base.replace(**changes)


@pytest.mark.parametrize("render", [repr, str, "{}".format, "{!r}".format, "%s".__mod__])
def test_no_token_in_any_rendering(render: object) -> None:
    text = render(credential())  # type: ignore[operator]
    assert ACCESS not in text and REFRESH not in text
    assert "strava" in text and "42" in text  # still useful to read


def test_no_token_in_a_logged_credential(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("saved %s", credential())
    assert ACCESS not in caplog.text and REFRESH not in caplog.text


def test_record_round_trip_keeps_every_field() -> None:
    original = credential(state=CredentialState.NEEDS_REAUTH, last_error="refused")
    assert Credential.from_record(original.to_record()) == original
    assert Credential.from_json(original.to_json()) == original
    assert Credential.from_json(original.to_json().encode()) == original


def test_record_is_plain_json_data() -> None:
    record = json.loads(credential().to_json())
    assert record["state"] == "active"
    assert record["scopes"] == ["activity:read", "read"]
    assert record["version"] == 3


def test_record_tokens_pass_through_the_codec() -> None:
    class Reverse:
        def seal(self, plaintext: str) -> str:
            return plaintext[::-1]

        def open(self, stored: str) -> str:
            return stored[::-1]

    sealed = credential().to_json(Reverse())
    assert ACCESS not in sealed and REFRESH not in sealed
    assert Credential.from_json(sealed, Reverse()) == credential()


def test_old_records_without_optional_fields_still_load() -> None:
    minimal = {
        "provider": "strava",
        "account_id": 42,
        "access_token": "a",
        "refresh_token": "r",
        "expires_at": 10,
    }
    loaded = Credential.from_record(minimal)
    assert loaded.account_id == "42"
    assert loaded.state is CredentialState.ACTIVE
    assert loaded.version == 0 and loaded.last_refresh_at is None and loaded.scopes == ()


def test_credential_is_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        credential().access_token = "x"  # type: ignore[misc]


def test_key_is_provider_and_account() -> None:
    assert credential().key == "strava:42"


EXPIRES = 10_000.0
LEAD = 600.0


@pytest.mark.parametrize(
    ("now", "due"),
    [
        (EXPIRES - LEAD - 1, False),  # one second before the lead window
        (EXPIRES - LEAD, True),  # exactly at the lead window
        (EXPIRES - 1, True),
        (EXPIRES + 3600, True),  # already expired
    ],
)
def test_refresh_due_at_the_lead_boundary(now: float, due: bool) -> None:
    assert refresh_due(credential(expires_at=EXPIRES), now, LEAD) is due


@pytest.mark.parametrize("state", [CredentialState.NEEDS_REAUTH, CredentialState.REVOKED])
def test_refresh_never_due_for_credentials_that_cannot_refresh(state: CredentialState) -> None:
    assert not refresh_due(credential(expires_at=EXPIRES, state=state), EXPIRES + 1, LEAD)


def test_expires_in_counts_down() -> None:
    assert credential(expires_at=EXPIRES).expires_in(EXPIRES - 60) == 60
