"""Redis key names, in one place: ``paceline:<kind>:<provider>:<account>``."""

from __future__ import annotations

import re

NAMESPACE = "paceline"
_IDENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # fullmatch: "$" would pass "42\n"

CREDENTIAL_INDEX = f"{NAMESPACE}:index:credentials"
MIRROR_PENDING = f"{NAMESPACE}:mirror:pending"
RESTORED_MARKER = f"{NAMESPACE}:meta:restored"
# Credential counts by "provider|state", kept by the store's write scripts (what a scrape
# reads instead of every credential); the field "_built" marks a complete count.
TOKEN_STATES = f"{NAMESPACE}:meta:token-states"


class InvalidIdentifier(ValueError):
    pass


def check_ident(value: str, what: str) -> str:
    """Provider names and account ids become key parts: keep them to a safe alphabet."""
    if not isinstance(value, str) or not _IDENT.fullmatch(value):
        raise InvalidIdentifier(
            f"invalid {what} {value!r}: use 1-64 letters, digits, '.', '_' or '-'"
        )
    return value


def account_key(kind: str, provider: str, account_id: str) -> str:
    check_ident(provider, "provider")
    check_ident(account_id, "account id")
    return f"{NAMESPACE}:{kind}:{provider}:{account_id}"


def credential_key(provider: str, account_id: str) -> str:
    return account_key("credential", provider, account_id)


def lock_key(provider: str, account_id: str) -> str:
    return account_key("lock", provider, account_id)


def member(provider: str, account_id: str) -> str:
    """Index member for a credential: ``provider:account``."""
    return f"{check_ident(provider, 'provider')}:{check_ident(account_id, 'account id')}"


def split_member(value: str | bytes) -> tuple[str, str]:
    text = value.decode() if isinstance(value, bytes) else value
    provider, _, account = text.partition(":")
    return provider, account


REFRESHER_STATUS = f"{NAMESPACE}:refresher:status"
REFRESH_TOTALS = f"{NAMESPACE}:refresher:totals"
