"""Password hashing: Argon2id at the OWASP parameters (SPEC §11). The only passlib import.

Hashes carry their own parameters, so raising them later needs no migration: a login that
verifies against an older hash gets a fresh hash back (:func:`verify`) to store.
"""

from __future__ import annotations

from dataclasses import dataclass

from passlib.context import CryptContext

#: OWASP Password Storage Cheat Sheet, Argon2id: 19 MiB of memory, 2 iterations, 1 lane.
MEMORY_COST_KIB = 19456
TIME_COST = 2
PARALLELISM = 1
MIN_LENGTH = 8
#: Argon2 accepts longer input, but nobody types this much; it bounds the work per request.
MAX_LENGTH = 1024

_context = CryptContext(
    schemes=["argon2"],
    argon2__type="ID",
    argon2__memory_cost=MEMORY_COST_KIB,
    argon2__rounds=TIME_COST,
    argon2__parallelism=PARALLELISM,
)


@dataclass(frozen=True)
class Verified:
    """The outcome of a check: ``ok``, and the hash to store instead when it is outdated."""

    ok: bool
    new_hash: str | None = None


def check_strength(password: str) -> str | None:
    """Why ``password`` cannot be used, or None when it can."""
    if len(password) < MIN_LENGTH:
        return f"use at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"use at most {MAX_LENGTH} characters"
    return None


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password`` at the current parameters."""
    return _context.hash(password)


def verify(password: str, stored_hash: str) -> Verified:
    """Check ``password`` against ``stored_hash``; rehash when its parameters are outdated.

    A malformed stored hash verifies as False instead of raising, so a damaged row locks
    one account rather than breaking the login endpoint.
    """
    if len(password) > MAX_LENGTH:
        return Verified(ok=False)
    try:
        ok, new_hash = _context.verify_and_update(password, stored_hash)
    except (ValueError, TypeError):
        return Verified(ok=False)
    return Verified(ok=ok, new_hash=new_hash if ok else None)


def dummy_verify() -> None:
    """Spend the time of one verification, so unknown emails answer as slowly as known ones."""
    _context.dummy_verify()
