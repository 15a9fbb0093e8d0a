"""``/api/api-keys``: list, create (the key is in this answer only) and revoke API keys."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from agentflow_app.api.deps import CurrentUser, ObjectId
from agentflow_app.models import WorkspaceRole
from agentflow_app.services import api_keys
from agentflow_app.services.api_keys import MAX_NAME_LENGTH, ApiKeyView, CreatedApiKey
from agentflow_app.services.users import SPACE_CHARS

router = APIRouter(prefix="/api-keys", tags=["api keys"])


class NewApiKey(BaseModel):
    name: str = Field(
        max_length=MAX_NAME_LENGTH,
        # Not only spaces (checked by the service, which says so in its own words).
        json_schema_extra={"pattern": f"[^{SPACE_CHARS}]"},
        description="what the key is for, e.g. 'CI deploy'",
    )
    role: WorkspaceRole | None = Field(
        default=None,
        description="the key's role in the workspace it is made in (X-Workspace): at most "
        "yours, which is the default",
    )


@router.get("", response_model=list[ApiKeyView])
def list_keys(actor: CurrentUser) -> list[ApiKeyView]:
    return api_keys.list_keys(actor)


@router.post("", status_code=201, response_model=CreatedApiKey)
def create_key(actor: CurrentUser, body: NewApiKey) -> CreatedApiKey:
    """Make a key acting in this workspace (``X-Workspace``) with ``role``; ``key`` is
    shown in this answer and never again."""
    return api_keys.create_key(actor, body.name, body.role)


@router.delete("/{key_id:int}", status_code=204, response_class=Response)
def revoke_key(actor: CurrentUser, key_id: ObjectId) -> Response:
    api_keys.revoke_key(actor, key_id)
    return Response(status_code=204)
