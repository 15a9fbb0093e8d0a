"""Encryption at rest for the database backend: Fernet under ``AGENTFLOW_ENCRYPTION_KEYS``.

``MultiFernet`` encrypts with the first key and decrypts with any, so an operator rotates
by putting a new key first, running ``agentflow rotate-keys`` (which re-encrypts every
value under it) and only then dropping the old key.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from agentflow_app.errors import AgentFlowError, ConfigError
from agentflow_app.settings import get_settings


class UndecryptableError(AgentFlowError):
    """A stored value none of the configured keys opens (its key was removed)."""


class Cipher:
    """Encrypts and decrypts credential values (JSON objects) with a list of keys.

    Args:
        keys: Fernet keys, newest first; the first one encrypts.

    Raises:
        ConfigError: no key, or a key that is not a Fernet key (named by position only:
            the key itself is never printed).
    """

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ConfigError("AGENTFLOW_ENCRYPTION_KEYS holds no key")
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.encode()))
            except ValueError:
                raise ConfigError(
                    f"AGENTFLOW_ENCRYPTION_KEYS: key {position} is not a Fernet key "
                    "(32 url-safe base64-encoded bytes; make one with "
                    "`python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'`)"
                ) from None
        self._multi = MultiFernet(fernets)

    def encrypt(self, value: dict[str, Any]) -> str:
        """The Fernet token of ``value`` under the first key."""
        return self._multi.encrypt(json.dumps(value, separators=(",", ":")).encode()).decode()

    def decrypt(self, token: str, name: str) -> dict[str, Any]:
        """The value inside ``token``.

        Args:
            name: the credential's name, for the error message.

        Raises:
            UndecryptableError: no configured key opens it.
        """
        try:
            return json.loads(self._multi.decrypt(token.encode()))
        except InvalidToken:
            raise UndecryptableError(
                f"credential {name!r} cannot be decrypted with the configured "
                "AGENTFLOW_ENCRYPTION_KEYS (was its key removed?); put the old key back "
                "after the first one, or save the credential's value again"
            ) from None

    def rotate(self, token: str, name: str) -> str:
        """``token`` re-encrypted under the first key.

        Raises:
            UndecryptableError: no configured key opens it.
        """
        try:
            return self._multi.rotate(token.encode()).decode()
        except InvalidToken:
            self.decrypt(token, name)  # raises the message naming the credential
            raise


def cipher() -> Cipher:
    """The cipher of the configured keys (``AGENTFLOW_ENCRYPTION_KEYS`` or generated)."""
    return Cipher(get_settings().encryption_keys())
