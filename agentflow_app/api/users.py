"""``/api/users/me``: who am I, and change my password."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from agentflow_app.api.auth import TokenAnswer, UserAnswer
from agentflow_app.api.deps import CurrentUser
from agentflow_app.auth import passwords
from agentflow_app.services import users

router = APIRouter(prefix="/users", tags=["users"])


class PasswordChange(BaseModel):
    current_password: str = Field(max_length=1000)
    new_password: str = Field(min_length=passwords.MIN_LENGTH, max_length=passwords.MAX_LENGTH)


@router.get("/me", response_model=UserAnswer)
def me(actor: CurrentUser) -> UserAnswer:
    return UserAnswer(id=actor.id, email=actor.email, name=actor.name)


@router.post("/me/password", response_model=TokenAnswer)
def change_password(actor: CurrentUser, body: PasswordChange) -> TokenAnswer:
    """Set a new password. Every earlier token stops working; the answer holds a new one."""
    issued = users.change_password(actor, body.current_password, body.new_password)
    return TokenAnswer(access_token=issued.access_token, expires_in=issued.expires_in)
