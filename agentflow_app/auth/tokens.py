"""Access tokens: JWT HS256 with the algorithm pinned (SPEC §11).

Claims: ``sub`` (user id), ``tv`` (the user's token version when issued: bumping it revokes
every older token at once), ``jti`` (a single token's id, for logout), ``iat`` and ``exp``.
Only the signature and the claims' shape are checked here; whether the token was revoked
is a database question answered in ``services.users``.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import jwt

from agentflow_app.errors import AgentFlowError
from agentflow_app.settings import get_settings

ALGORITHM = "HS256"
_REQUIRED_CLAIMS = ["exp", "iat", "sub", "jti", "tv"]


class InvalidToken(AgentFlowError):
    """The token is missing, malformed, forged, expired or revoked: sign in again."""


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    jti: str
    expires_at: datetime
    expires_in: int


@dataclass(frozen=True)
class Claims:
    user_id: int
    token_version: int
    jti: str
    expires_at: datetime


def issue(user_id: int, token_version: int, *, ttl_s: int | None = None) -> IssuedToken:
    """Sign a token for ``user_id`` valid for ``ttl_s`` (default AGENTFLOW_TOKEN_TTL_S)."""
    settings = get_settings()
    ttl = ttl_s if ttl_s is not None else settings.agentflow_token_ttl_s
    now = datetime.now(UTC)
    expires_at = now + timedelta(seconds=ttl)
    jti = secrets.token_urlsafe(16)
    claims = {
        "sub": str(user_id),
        "tv": token_version,
        "jti": jti,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
    }
    token = jwt.encode(claims, settings.secret_key(), algorithm=ALGORITHM)
    return IssuedToken(access_token=token, jti=jti, expires_at=expires_at, expires_in=ttl)


def decode(token: str) -> Claims:
    """Check the signature (HS256 only: ``none`` and every other ``alg`` are refused) and exp.

    Raises:
        InvalidToken: saying what was wrong, in words safe to show the caller.
    """
    claims = _check(token, get_settings().secret_key())
    if time.time() >= claims.expires_at.timestamp():  # checked again at every use
        raise InvalidToken("the token has expired: sign in again")
    return claims


@lru_cache(maxsize=10_000)
def _check(token: str, secret: str) -> Claims:
    """The signature and the claims' shape, checked once per token and secret: the same
    string checks the same way every time, and decoding was a twentieth of the web
    process's CPU per REST request. A refusal raises, so it is never remembered."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": _REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("the token has expired: sign in again") from None
    except jwt.InvalidTokenError:
        raise InvalidToken("the token is not valid: sign in again") from None
    try:
        user_id = int(claims["sub"])
        version = claims["tv"]
        if not isinstance(version, int) or not isinstance(claims["jti"], str):
            raise TypeError
    except (TypeError, ValueError):
        raise InvalidToken("the token is not valid: sign in again") from None
    return Claims(
        user_id=user_id,
        token_version=version,
        jti=claims["jti"],
        expires_at=datetime.fromtimestamp(claims["exp"], UTC),
    )
