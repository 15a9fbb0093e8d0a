"""API keys for scripts: random, shown once, stored as a SHA-256 hash (SPEC §9, §11).

A key is ``af_`` plus 43 URL-safe characters (256 random bits), so a plain hash is enough:
there is nothing to brute-force, and lookup by hash is one indexed query. The ``af_``
prefix lets the API tell a key from a JWT without trying both.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

KEY_PREFIX = "af_"
#: How many leading characters are kept in clear and listed, so people can tell keys apart.
SHOWN_PREFIX_LENGTH = 11


@dataclass(frozen=True)
class NewKey:
    """A freshly made key: ``key`` is shown once; only ``prefix`` and ``key_hash`` are kept."""

    key: str
    prefix: str
    key_hash: str


def looks_like_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


def digest(key: str) -> str:
    """The stored form of ``key``."""
    return hashlib.sha256(key.encode()).hexdigest()


def create() -> NewKey:
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return NewKey(key=key, prefix=key[:SHOWN_PREFIX_LENGTH], key_hash=digest(key))
