"""``CurrentUser``: who a REST request acts for, from ``Authorization: Bearer <token>``.

The token is either a JWT from ``POST /api/auth/token`` or an API key made in Settings
(``af_…``). Anything else, including a missing header, answers 401 with a
``WWW-Authenticate`` header saying why, as RFC 6750 asks.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from agentflow_app.auth import api_keys as keys
from agentflow_app.auth.tokens import InvalidToken
from agentflow_app.services import api_keys, users
from agentflow_app.services.users import Actor

_bearer = HTTPBearer(
    auto_error=False,
    description="A JWT from POST /api/auth/token, or an API key made in Settings.",
)


def _unauthorized(message: str, error: str | None = None) -> HTTPException:
    challenge = f'Bearer error="{error}"' if error else "Bearer"
    return HTTPException(status_code=401, detail=message, headers={"WWW-Authenticate": challenge})


def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The raw bearer token of the request.

    Raises:
        HTTPException: 401 when there is none.
    """
    if credentials is None or not credentials.credentials.strip():
        raise _unauthorized(
            "not signed in: send Authorization: Bearer <token>, with a token from "
            "POST /api/auth/token or an API key from Settings"
        )
    return credentials.credentials.strip()


def current_user(token: Annotated[str, Depends(bearer_token)]) -> Actor:
    """The account the bearer token belongs to.

    Raises:
        HTTPException: 401 for a malformed, forged, expired or revoked token or key.
    """
    try:
        if keys.looks_like_key(token):
            return api_keys.authenticate_key(token)
        return users.authenticate_token(token)
    except InvalidToken as exc:
        raise _unauthorized(str(exc), "invalid_token") from None


CurrentUser = Annotated[Actor, Depends(current_user)]
BearerToken = Annotated[str, Depends(bearer_token)]
