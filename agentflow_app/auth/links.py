"""Signed links an admin hands out: a password reset and an instance invitation.

A link is a JWT (HS256 pinned, like access tokens) whose ``aud`` names its purpose, so a
reset link cannot be used as an invitation or as an access token (those carry no ``aud``
and PyJWT refuses an ``aud`` it was not asked for). What makes each single-use lives in
its claims and is checked by ``services.users``: a reset link carries the account's
token version, bumped by the reset; an invitation names an email, taken by the signup.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import jwt

from agentflow_app.auth.tokens import ALGORITHM
from agentflow_app.errors import InvalidInput
from agentflow_app.settings import get_settings

Purpose = Literal["password-reset", "invite"]


def sign(purpose: Purpose, claims: dict[str, Any], ttl: timedelta) -> str:
    """A token for ``purpose`` holding ``claims``, valid for ``ttl``."""
    now = datetime.now(UTC)
    payload = {
        **claims,
        "aud": purpose,
        "jti": secrets.token_urlsafe(8),
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    return jwt.encode(payload, get_settings().secret_key(), algorithm=ALGORITHM)


def read(purpose: Purpose, token: str) -> dict[str, Any]:
    """The claims of a link made for ``purpose``.

    Raises:
        InvalidInput: forged, for another purpose, or expired (the message says which).
    """
    field = "token"
    try:
        return jwt.decode(
            token or "",
            get_settings().secret_key(),
            algorithms=[ALGORITHM],
            audience=purpose,
            options={"require": ["exp", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        why = "this link has expired: ask an administrator for a new one"
    except jwt.InvalidTokenError:
        why = "this link is not valid: ask an administrator for a new one"
    raise InvalidInput(why, [{"field": field, "message": why}])
