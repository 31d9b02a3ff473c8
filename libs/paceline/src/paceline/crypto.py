"""Encryption of tokens at rest (Fernet), in Redis and in the durable mirror alike.

Sealed values carry a ``fernet:`` prefix so a store can hold both kinds while encryption is
being switched on (plain values from before are read as they are and sealed on their next
write), and a value sealed with a key we no longer have fails loudly instead of being sent to a
provider as a token.

Key rotation: ``PACELINE_ENCRYPTION_KEY`` may hold several comma-separated keys
(:class:`cryptography.fernet.MultiFernet`). The first seals every write; every one of them
opens. Put the new key first, keep the old one after it until every credential has been written
again (each refresh does that; ``paceline reencrypt`` does it at once), then drop the old one.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from paceline.credential import PLAIN, TokenCodec
from paceline.settings import Settings

PREFIX = "fernet:"


class TokenDecryptError(Exception):
    """A stored token cannot be decrypted with the configured key (or no key is configured)."""


def split_keys(keys: str) -> list[str]:
    """The keys of a ``PACELINE_ENCRYPTION_KEY`` value, in order (the first one seals)."""
    return [part.strip() for part in keys.split(",") if part.strip()]


class FernetCodec:
    def __init__(self, keys: str) -> None:
        self._fernet = MultiFernet([Fernet(key.encode()) for key in split_keys(keys)])

    def seal(self, plaintext: str) -> str:
        return PREFIX + self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            return stored
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise TokenDecryptError(
                "a stored token does not decrypt with any key in PACELINE_ENCRYPTION_KEY "
                "(key changed? keep the old key after the new one until every record is rewritten)"
            ) from None


class StrictPlainCodec:
    """No key configured: plain values pass, sealed ones are an error, never a token."""

    def seal(self, plaintext: str) -> str:
        return PLAIN.seal(plaintext)

    def open(self, stored: str) -> str:
        if stored.startswith(PREFIX):
            raise TokenDecryptError(
                "stored tokens are encrypted but PACELINE_ENCRYPTION_KEY is not set"
            )
        return stored


def codec_for(key: str | None) -> TokenCodec:
    return FernetCodec(key) if key else StrictPlainCodec()


def codec_from_settings(settings: Settings) -> TokenCodec:
    """The one codec of a process: Redis and the mirror seal with the same keys."""
    key = settings.encryption_key
    return codec_for(key.get_secret_value() if key else None)


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)
