"""The credential model: one connected account's OAuth2 tokens and what we know about them.

Tokens never appear in ``repr`` (so a stray log of a credential leaks nothing); they leave this
module only through :meth:`Credential.to_record`, whose callers are the store and the mirror.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class CredentialState(enum.StrEnum):
    ACTIVE = "active"
    NEEDS_REAUTH = "needs_reauth"
    REVOKED = "revoked"


class TokenCodec(Protocol):
    """How token strings are stored: plain, or encrypted (see :mod:`paceline.crypto`)."""

    def seal(self, plaintext: str) -> str: ...

    def open(self, stored: str) -> str: ...


class PlainCodec:
    def seal(self, plaintext: str) -> str:
        return plaintext

    def open(self, stored: str) -> str:
        return stored


PLAIN = PlainCodec()


@dataclass(frozen=True)
class Credential:
    provider: str
    account_id: str
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: float
    scopes: tuple[str, ...] = ()
    state: CredentialState = CredentialState.ACTIVE
    version: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0
    last_refresh_at: float | None = None
    display_name: str | None = None
    last_error: str | None = None

    @property
    def key(self) -> str:
        """``provider:account`` — the identity used in indexes and the mirror."""
        return f"{self.provider}:{self.account_id}"

    def replace(self, **changes: Any) -> Credential:
        return dataclasses.replace(self, **changes)

    def expires_in(self, now: float) -> float:
        return self.expires_at - now

    def to_record(self, codec: TokenCodec = PLAIN) -> dict[str, Any]:
        """Plain data for storage; tokens pass through ``codec``."""
        return {
            "provider": self.provider,
            "account_id": self.account_id,
            "access_token": codec.seal(self.access_token),
            "refresh_token": codec.seal(self.refresh_token),
            "expires_at": self.expires_at,
            "scopes": list(self.scopes),
            "state": self.state.value,
            "version": self.version,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "last_refresh_at": self.last_refresh_at,
            "display_name": self.display_name,
            "last_error": self.last_error,
        }

    def to_json(self, codec: TokenCodec = PLAIN) -> str:
        return json.dumps(self.to_record(codec), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_record(cls, record: Mapping[str, Any], codec: TokenCodec = PLAIN) -> Credential:
        return cls(
            provider=str(record["provider"]),
            account_id=str(record["account_id"]),
            access_token=codec.open(record["access_token"]),
            refresh_token=codec.open(record["refresh_token"]),
            expires_at=float(record["expires_at"]),
            scopes=tuple(record.get("scopes") or ()),
            state=CredentialState(record.get("state", "active")),
            version=int(record.get("version", 0)),
            created_at=float(record.get("created_at") or 0.0),
            updated_at=float(record.get("updated_at") or 0.0),
            last_refresh_at=(
                float(record["last_refresh_at"])
                if record.get("last_refresh_at") is not None
                else None
            ),
            display_name=record.get("display_name"),
            last_error=record.get("last_error"),
        )

    @classmethod
    def from_json(cls, raw: str | bytes, codec: TokenCodec = PLAIN) -> Credential:
        return cls.from_record(json.loads(raw), codec)


def refresh_due(credential: Credential, now: float, lead_seconds: float) -> bool:
    """True when an active credential's expiry is within ``lead_seconds`` of ``now``."""
    if credential.state is not CredentialState.ACTIVE:
        return False
    return credential.expires_at - lead_seconds <= now
