"""``/api/workspaces``: workspaces, their members and invitations; ``/api/invitations``:
accepting one (``services.workspaces``, ``services.members``).

A workspace named in the path is found among the caller's own (another one answers 404,
like one that does not exist); what the caller's role there does not allow answers 403.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field

from agentflow_app.api.deps import CurrentUser, ObjectId
from agentflow_app.api.errors import ErrorDetail
from agentflow_app.models import WorkspaceRole
from agentflow_app.services import members, workspaces
from agentflow_app.services.members import (
    MAX_TOKEN_LENGTH,
    CreatedInvitation,
    InvitationView,
    MemberView,
)
from agentflow_app.services.users import EMAIL_PATTERN, MAX_EMAIL_LENGTH, SPACE_CHARS
from agentflow_app.services.workspaces import MAX_NAME_LENGTH, WorkspaceView

router = APIRouter(prefix="/workspaces", tags=["workspaces"])
invitations = APIRouter(prefix="/invitations", tags=["workspaces"])

#: An invitation link's token (43 URL-safe characters when made here).
Token = Annotated[
    str, Path(min_length=16, max_length=MAX_TOKEN_LENGTH, pattern=r"^[A-Za-z0-9_\-]+$")
]

_FORBIDDEN = {403: {"model": ErrorDetail, "description": "your role there does not allow it"}}
_LAST_OWNER = {
    **_FORBIDDEN,
    409: {"model": ErrorDetail, "description": "the last owner, or a personal workspace"},
}


class WorkspaceName(BaseModel):
    name: str = Field(
        max_length=MAX_NAME_LENGTH,
        # Not only spaces (checked by the service, which says so in its own words).
        json_schema_extra={"pattern": f"[^{SPACE_CHARS}]"},
    )


class RoleChange(BaseModel):
    role: WorkspaceRole


class NewInvitation(BaseModel):
    email: str = Field(max_length=MAX_EMAIL_LENGTH, pattern=EMAIL_PATTERN)
    role: WorkspaceRole


@router.get("", response_model=list[WorkspaceView])
def list_workspaces(actor: CurrentUser) -> list[WorkspaceView]:
    """Yours, the personal one first, each with your role there."""
    return workspaces.list_workspaces(actor)


@router.post("", status_code=201, response_model=WorkspaceView)
def create_workspace(actor: CurrentUser, body: WorkspaceName) -> WorkspaceView:
    """A shared workspace, which you own."""
    return workspaces.create_workspace(actor, body.name)


@router.get("/{workspace_id:int}", response_model=WorkspaceView)
def get_workspace(actor: CurrentUser, workspace_id: ObjectId) -> WorkspaceView:
    return workspaces.get_workspace(actor, workspace_id)


@router.patch("/{workspace_id:int}", response_model=WorkspaceView, responses=_FORBIDDEN)
def rename_workspace(
    actor: CurrentUser, workspace_id: ObjectId, body: WorkspaceName
) -> WorkspaceView:
    return members.rename_workspace(actor, workspace_id, body.name)


@router.delete(
    "/{workspace_id:int}", status_code=204, response_class=Response, responses=_LAST_OWNER
)
def delete_workspace(actor: CurrentUser, workspace_id: ObjectId) -> Response:
    """Delete a shared workspace and everything in it; a personal one cannot be (409)."""
    members.delete_workspace(actor, workspace_id)
    return Response(status_code=204)


@router.get("/{workspace_id:int}/members", response_model=list[MemberView])
def list_members(actor: CurrentUser, workspace_id: ObjectId) -> list[MemberView]:
    """Owners first, then by email."""
    return members.list_members(actor, workspace_id)


@router.patch(
    "/{workspace_id:int}/members/{user_id:int}", response_model=MemberView, responses=_LAST_OWNER
)
def change_role(
    actor: CurrentUser, workspace_id: ObjectId, user_id: ObjectId, body: RoleChange
) -> MemberView:
    """Owners only; the last owner cannot be demoted (409)."""
    return members.change_role(actor, workspace_id, user_id, body.role)


@router.delete(
    "/{workspace_id:int}/members/{user_id:int}",
    status_code=204,
    response_class=Response,
    responses=_LAST_OWNER,
)
def remove_member(actor: CurrentUser, workspace_id: ObjectId, user_id: ObjectId) -> Response:
    """Owners remove anyone; any member removes themself (leaves). The last owner cannot
    leave (409)."""
    members.remove_member(actor, workspace_id, user_id)
    return Response(status_code=204)


@router.get(
    "/{workspace_id:int}/invitations", response_model=list[InvitationView], responses=_FORBIDDEN
)
def list_invitations(actor: CurrentUser, workspace_id: ObjectId) -> list[InvitationView]:
    """Those not accepted yet (expired ones too), newest first."""
    return members.list_invitations(actor, workspace_id)


@router.post(
    "/{workspace_id:int}/invitations",
    status_code=201,
    response_model=CreatedInvitation,
    responses={
        **_FORBIDDEN,
        409: {"model": ErrorDetail, "description": "a member already, or a personal workspace"},
    },
)
def invite(actor: CurrentUser, workspace_id: ObjectId, body: NewInvitation) -> CreatedInvitation:
    """An invitation link for one email, valid for 7 days; ``url`` is shown in this answer
    only, and ``emailed`` says whether it was also sent to them (the server's mail
    setting). Inviting the same email again replaces its pending invitation."""
    return members.invite(actor, workspace_id, body.email, body.role)


@router.delete(
    "/{workspace_id:int}/invitations/{invitation_id:int}",
    status_code=204,
    response_class=Response,
    responses=_FORBIDDEN,
)
def revoke_invitation(
    actor: CurrentUser, workspace_id: ObjectId, invitation_id: ObjectId
) -> Response:
    members.revoke_invitation(actor, workspace_id, invitation_id)
    return Response(status_code=204)


@invitations.post(
    "/{token}/accept",
    response_model=WorkspaceView,
    responses={
        403: {"model": ErrorDetail, "description": "the invitation is for another email"},
        409: {"model": ErrorDetail, "description": "used, expired, or a member already"},
    },
)
def accept_invitation(actor: CurrentUser, token: Token) -> WorkspaceView:
    """Join the workspace with the invitation's role (signed in with the invited email)."""
    return members.accept_invitation(actor, token)
