"""``/api/auth``: register, get a token (OAuth2 password form or JSON), sign out (SPEC §9)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from agentflow_app.api.deps import BearerToken
from agentflow_app.api.errors import ErrorDetail
from agentflow_app.auth import api_keys as keys
from agentflow_app.auth import passwords
from agentflow_app.auth.throttle import Throttled
from agentflow_app.auth.tokens import InvalidToken
from agentflow_app.errors import InvalidInput
from agentflow_app.services import api_keys, users
from agentflow_app.services.users import EMAIL_PATTERN, MAX_EMAIL_LENGTH, MAX_NAME_LENGTH

router = APIRouter(prefix="/auth", tags=["auth"])


class RegisterRequest(BaseModel):
    """The account to make, with the rules ``services.users`` applies (surrounding spaces
    are trimmed from the email), so the schema refuses exactly what the service would."""

    email: str = Field(max_length=MAX_EMAIL_LENGTH, pattern=EMAIL_PATTERN)
    password: str = Field(min_length=passwords.MIN_LENGTH, max_length=passwords.MAX_LENGTH)
    name: str | None = Field(default=None, max_length=MAX_NAME_LENGTH)
    #: The token of an admin's invitation link (``/register?invite=…``): needed when
    #: signup is invite-only.
    invite: str | None = Field(default=None, max_length=4000)


class PasswordReset(BaseModel):
    """A new password set through an admin's reset link (``/reset-password?token=…``)."""

    token: str = Field(max_length=4000)
    new_password: str = Field(min_length=passwords.MIN_LENGTH, max_length=passwords.MAX_LENGTH)


class UserAnswer(BaseModel):
    id: int
    email: str
    name: str


class TokenRequest(BaseModel):
    email: str = Field(max_length=1000)
    password: str = Field(max_length=1000)


class TokenAnswer(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


@router.post(
    "/register",
    status_code=201,
    response_model=UserAnswer,
    responses={
        403: {"model": ErrorDetail, "description": "signup is closed"},
        409: {"model": ErrorDetail, "description": "the email is taken"},
    },
)
def register(body: RegisterRequest) -> UserAnswer:
    """Create an account; 409 when the email is taken, 403 when signup is closed (or
    invite-only and no invitation is given)."""
    actor = users.register(body.email, body.password, body.name or "", body.invite)
    return UserAnswer(id=actor.id, email=actor.email, name=actor.name)


_TOKEN_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["username", "password"],
                    "properties": {
                        "username": {"type": "string", "description": "the account's email"},
                        "password": {"type": "string", "format": "password"},
                    },
                }
            },
            "application/json": {"schema": TokenRequest.model_json_schema()},
        },
    }
}


async def _credentials(request: Request) -> TokenRequest:
    """Email and password from an OAuth2 password form or a JSON body."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type == "application/json":
            return TokenRequest.model_validate(await request.json())
        if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.form()
            return TokenRequest(
                email=str(form.get("username") or form.get("email") or ""),
                password=str(form.get("password") or ""),
            )
    except ValidationError as exc:  # answered as every 422 is (api/errors.py)
        raise RequestValidationError(exc.errors()) from None
    except ValueError:
        message = "the body is not valid JSON"
        raise InvalidInput(message, [{"field": "body", "message": message}]) from None
    raise HTTPException(
        status_code=415,
        detail="send the OAuth2 form (username, password) or JSON {email, password}",
    )


@router.post(
    "/token",
    response_model=TokenAnswer,
    openapi_extra=_TOKEN_BODY,
    responses={
        401: {"model": ErrorDetail, "description": "wrong email or password"},
        415: {"model": ErrorDetail, "description": "neither a form nor JSON"},
        429: {"model": ErrorDetail, "description": "throttled; see Retry-After"},
    },
)
async def token(request: Request) -> Any:
    """Exchange email and password for an access token; 429 with Retry-After when throttled."""
    body = await _credentials(request)
    address = request.client.host if request.client else "unknown"
    try:
        issued = await run_in_threadpool(users.login, body.email, body.password, address)
    except Throttled as exc:
        raise HTTPException(
            status_code=429, detail=str(exc), headers={"Retry-After": str(exc.retry_after)}
        ) from None
    except users.InvalidCredentials as exc:
        raise HTTPException(
            status_code=401, detail=str(exc), headers={"WWW-Authenticate": "Bearer"}
        ) from None
    return TokenAnswer(access_token=issued.access_token, expires_in=issued.expires_in)


@router.post("/reset-password", status_code=204, response_class=Response)
def reset_password(body: PasswordReset) -> Response:
    """Set a new password with an admin's reset link; the link then stops working, and so
    does every token issued before."""
    users.reset_password(body.token, body.new_password)
    return Response(status_code=204)


@router.post("/logout", status_code=204, response_class=Response)
def logout(token: BearerToken) -> Response:
    """Revoke the token this request was made with."""
    try:
        if keys.looks_like_key(token):
            api_keys.authenticate_key(token)  # a dead key is told so (401) first
            raise InvalidInput(
                "an API key cannot sign out: "
                "revoke it in Settings or with DELETE /api/api-keys/{id}"
            )
        users.authenticate_token(token)
        users.logout(token)
    except InvalidToken as exc:
        raise HTTPException(
            status_code=401,
            detail=str(exc),
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        ) from None
    return Response(status_code=204)
