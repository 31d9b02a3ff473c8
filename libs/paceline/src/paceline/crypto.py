"""Encryption of tokens at rest in Redis (optional, Fernet).

Sealed values carry a ``fernet:`` prefix so a store can hold both kinds while encryption is
being switched on, and a value sealed with a key we no longer have fails loudly instead of
being sent to a provider as a token.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

from paceline.credential import PLAIN, TokenCodec

PREFIX = "fernet:"


class TokenDecryptError(Exception):
    """A stored token cannot be decrypted with the configured key (or no key is configured)."""


class FernetCodec:
    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode())

    def seal(self, plaintext: str) -> str:
        return PREFIX + self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            return stored
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise TokenDecryptError(
                "a stored token does not decrypt with PACELINE_ENCRYPTION_KEY (key changed?)"
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
