"""``/api/admin``: the instance admin's console over REST (``services.admin``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from agentflow_app.api.deps import CurrentUser, ObjectId
from agentflow_app.api.errors import ErrorDetail
from agentflow_app.services import admin
from agentflow_app.services.admin import MAX_SEARCH, InstanceHealth, SignedLink, UserRow
from agentflow_app.services.users import EMAIL_PATTERN, MAX_EMAIL_LENGTH, SignupMode

router = APIRouter(prefix="/admin", tags=["admin"])

_FORBIDDEN = {403: {"model": ErrorDetail, "description": "not an administrator"}}
_GUARDED = {
    **_FORBIDDEN,
    409: {"model": ErrorDetail, "description": "not to yourself: another admin has to"},
}


class UserChange(BaseModel):
    """What to change; a field left out stays as it is. Strict: ``"yes"`` or ``1`` is not
    taken for true on a switch that locks someone out."""

    model_config = ConfigDict(strict=True)

    disabled: bool | None = None
    is_admin: bool | None = None


class SignupSetting(BaseModel):
    mode: SignupMode


class NewInvite(BaseModel):
    email: str = Field(max_length=MAX_EMAIL_LENGTH, pattern=EMAIL_PATTERN)


@router.get("/users", response_model=list[UserRow], responses=_FORBIDDEN)
def list_users(
    actor: CurrentUser,
    search: Annotated[str, Query(max_length=320, description="part of an email or name")] = "",
    limit: Annotated[int, Query(ge=1, le=MAX_SEARCH)] = 100,
) -> list[UserRow]:
    return admin.list_users(actor, search, limit)


@router.patch("/users/{user_id:int}", response_model=UserRow, responses=_GUARDED)
def change_user(actor: CurrentUser, user_id: ObjectId, body: UserChange) -> UserRow:
    """Disable or enable, promote or demote; a disabled user's tokens and keys stop at once."""
    row = None
    if body.disabled is not None:
        row = admin.set_disabled(actor, user_id, body.disabled)
    if body.is_admin is not None:
        row = admin.set_admin(actor, user_id, body.is_admin)
    return row if row is not None else admin.get_user(actor, user_id)


@router.delete("/users/{user_id:int}", status_code=204, response_class=Response, responses=_GUARDED)
def delete_user(actor: CurrentUser, user_id: ObjectId) -> Response:
    """Delete the account and everything it owns."""
    admin.delete_user(actor, user_id)
    return Response(status_code=204)


@router.post("/users/{user_id:int}/reset-link", response_model=SignedLink, responses=_FORBIDDEN)
def reset_link(actor: CurrentUser, user_id: ObjectId) -> SignedLink:
    """A single-use link, valid for a day, that lets the user choose a new password."""
    return admin.reset_link(actor, user_id)


@router.post(
    "/invites",
    status_code=201,
    response_model=SignedLink,
    responses={**_FORBIDDEN, 409: {"model": ErrorDetail, "description": "the email is taken"}},
)
def invite(actor: CurrentUser, body: NewInvite) -> SignedLink:
    """A signup link for one email (what invite-only signup asks for), valid for a week."""
    return admin.invite(actor, body.email)


@router.get("/signup", response_model=SignupSetting, responses=_FORBIDDEN)
def get_signup(actor: CurrentUser) -> SignupSetting:
    return SignupSetting(mode=admin.get_signup_mode(actor))


@router.put("/signup", response_model=SignupSetting, responses=_FORBIDDEN)
def set_signup(actor: CurrentUser, body: SignupSetting) -> SignupSetting:
    """Open, closed or invite-only; stored, it beats AGENTFLOW_OPEN_SIGNUP."""
    return SignupSetting(mode=admin.set_signup_mode(actor, body.mode))


@router.get("/health", response_model=InstanceHealth, responses=_FORBIDDEN)
async def instance_health(actor: CurrentUser) -> InstanceHealth:
    """Workers, queue depth, waiting runs, storage used."""
    return await admin.instance_health(actor)
