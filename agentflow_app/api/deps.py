"""``CurrentUser``: who a REST request acts for, from ``Authorization: Bearer <token>``.

The token is either a JWT from ``POST /api/auth/token`` or an API key made in Settings
(``af_…``). Anything else, including a missing header, answers 401 with a
``WWW-Authenticate`` header saying why, as RFC 6750 asks.

The workspace a request acts in (where lists read and new objects go) is named by the
``X-Workspace`` header, a workspace id; without it, the account's personal workspace (so
every route works as before workspaces for one person), and for an API key, the key's
own workspace (a key names no other). Objects named by id are found in any workspace the
caller belongs to, with the caller's role there.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Path, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BeforeValidator

from agentflow_app.auth import api_keys as keys
from agentflow_app.auth.tokens import InvalidToken
from agentflow_app.db import MAX_ID
from agentflow_app.routes import WORKSPACE_HEADER
from agentflow_app.services import api_keys, users, workspaces
from agentflow_app.services.users import Actor

_bearer = HTTPBearer(
    auto_error=False,
    description="A JWT from POST /api/auth/token, or an API key made in Settings.",
)


def _unauthorized(message: str, error: str | None = None) -> HTTPException:
    challenge = f'Bearer error="{error}"' if error else "Bearer"
    return HTTPException(status_code=401, detail=message, headers={"WWW-Authenticate": challenge})


async def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The raw bearer token of the request (``async``: FastAPI runs a plain function
    dependency in the thread pool, a trip per request for a string check).

    Raises:
        HTTPException: 401 when there is none.
    """
    if credentials is None or not credentials.credentials.strip():
        raise _unauthorized(
            "not signed in: send Authorization: Bearer <token>, with a token from "
            "POST /api/auth/token or an API key from Settings"
        )
    return credentials.credentials.strip()


async def current_user(
    token: Annotated[str, Depends(bearer_token)],
    # Typed ``int`` so the schema says integer: a header is never null, only absent.
    workspace: Annotated[
        int,  # noqa: RUF013
        Header(
            alias=WORKSPACE_HEADER,
            ge=1,
            le=MAX_ID,
            description="the id of the workspace to act in (default: your personal one)",
        ),
    ] = None,
) -> Actor:
    """The account the bearer token belongs to, acting in the ``X-Workspace`` workspace.

    Answered in the event loop when the process already knows the token (the common
    case), in a thread when the database must say.

    Raises:
        HTTPException: 401 for a malformed, forged, expired or revoked token or key.
        NotFound: (404) the caller is no member of the ``X-Workspace`` workspace.
    """
    try:
        if keys.looks_like_key(token):
            actor = await api_keys.authenticate_key_in_loop(token)
        else:
            actor = await users.authenticate_token_in_loop(token)
    except InvalidToken as exc:
        raise _unauthorized(str(exc), "invalid_token") from None
    return actor if workspace is None else workspaces.act_in(actor, workspace)


CurrentUser = Annotated[Actor, Depends(current_user)]
BearerToken = Annotated[str, Depends(bearer_token)]

#: An object's id in a path; beyond ``MAX_ID`` it is refused (422) before any query.
ObjectId = Annotated[int, Path(ge=1, le=MAX_ID, description="the object's id")]
#: A workflow version number in a path.
VersionNumber = Annotated[int, Path(ge=1, le=MAX_ID, description="a version number")]

_RFC3339 = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)


def _rfc3339(value: object) -> object:
    """Only what OpenAPI's ``date-time`` means (RFC 3339, with an offset): pydantic alone
    would also read ``0.5`` as a Unix time and ``2026-12-01`` as midnight."""
    if isinstance(value, str) and not _RFC3339.match(value):
        raise ValueError("use an RFC 3339 time with its offset, e.g. 2026-12-01T00:00:00Z")
    return value


#: A time in a query string (OpenAPI ``date-time``).
QueryTime = Annotated[datetime | None, BeforeValidator(_rfc3339), Query()]
