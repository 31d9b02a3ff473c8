"""Redis key names and mirror entry names: namespaced, and safe from hostile identifiers."""

from __future__ import annotations

import pytest
from paceline import keys
from paceline.mirror import entry_name


def test_keys_are_namespaced_by_kind_provider_and_account() -> None:
    assert keys.credential_key("strava", "42") == "paceline:credential:strava:42"
    assert keys.lock_key("strava", "42") == "paceline:lock:strava:42"
    assert keys.member("strava", "42") == "strava:42"
    assert keys.split_member(b"strava:42") == ("strava", "42")
    assert entry_name("strava", "42") == "strava.42"


@pytest.mark.parametrize(
    "account", ["", "../../etc/passwd", "a:b", "a b", "x" * 65, "-leading", "a/b", "42\n"]
)
def test_hostile_account_ids_never_become_key_or_file_names(account: str) -> None:
    with pytest.raises(keys.InvalidIdentifier):
        keys.credential_key("strava", account)
    with pytest.raises(keys.InvalidIdentifier):
        entry_name("strava", account)


def test_hostile_provider_names_are_refused() -> None:
    with pytest.raises(keys.InvalidIdentifier):
        keys.member("stra:va", "42")
