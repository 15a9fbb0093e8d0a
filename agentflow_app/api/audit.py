"""``/api/audit``: the audit log (admins: all of it; workspace owners: their workspaces'),
a page at a time or streamed as JSON lines."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import iterate_in_threadpool, run_in_threadpool
from fastapi.responses import StreamingResponse

from agentflow_app.api.deps import CurrentUser, QueryTime
from agentflow_app.api.errors import ErrorDetail
from agentflow_app.db import MAX_ID
from agentflow_app.services import audit
from agentflow_app.services.audit import MAX_PAGE, AuditAction, AuditPage

router = APIRouter(prefix="/audit", tags=["audit"])

_FORBIDDEN = {403: {"model": ErrorDetail, "description": "neither an administrator nor the owner"}}
Workspace = Annotated[
    int | None,
    Query(ge=1, le=MAX_ID, description="only this workspace's rows (its owners may read them)"),
]
Action = Annotated[AuditAction | None, Query(description="only this action")]
ActorFilter = Annotated[
    str | None,
    Query(alias="actor", max_length=320, description="only actors whose email contains this"),
]


@router.get("", response_model=AuditPage, responses=_FORBIDDEN)
def search(
    actor: CurrentUser,
    action: Action = None,
    actor_email: ActorFilter = None,
    since: QueryTime = None,
    until: QueryTime = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: Annotated[str | None, Query(max_length=18, pattern=r"^[0-9]+$")] = None,
    workspace: Workspace = None,
) -> AuditPage:
    """Newest first; pass ``next_cursor`` as ``cursor`` for older rows."""
    return audit.search(
        actor,
        action=action,
        actor_filter=actor_email,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
        workspace_id=workspace,
    )


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}}, **_FORBIDDEN},
)
async def export(
    actor: CurrentUser,
    action: Action = None,
    actor_email: ActorFilter = None,
    since: QueryTime = None,
    until: QueryTime = None,
    workspace: Workspace = None,
) -> StreamingResponse:
    """Every matching row, oldest first, one JSON object per line."""
    lines = await run_in_threadpool(
        audit.export,
        actor,
        action=action,
        actor_filter=actor_email,
        since=since,
        until=until,
        workspace_id=workspace,
    )
    return StreamingResponse(
        iterate_in_threadpool(lines),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="audit.jsonl"'},
    )
