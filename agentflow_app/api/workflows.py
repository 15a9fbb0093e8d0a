"""``/api/workflows``: the SPEC §9 workflow rows (execution rows live with executions).

Thin: parse, call ``services.workflows`` (which checks ownership), serialize. A workflow
answer is its document plus ``id``, ``version``, timestamps and, when the document has a
webhook trigger, the absolute ``webhook_url``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import BaseModel

from agentflow_app.api.deps import CurrentUser, ObjectId, VersionNumber
from agentflow_app.services import workflows
from agentflow_app.services.workflows import VersionSummary, WorkflowDetail, WorkflowSummary

router = APIRouter(prefix="/workflows", tags=["workflows"])

_EXAMPLE = {
    "schema_version": 1,
    "name": "Lead research",
    "description": "",
    "nodes": [
        {
            "id": "start",
            "type": "trigger.manual",
            "position": {"x": 0, "y": 0},
            "data": {"label": "Start", "config": {"inputs": []}},
        }
    ],
    "edges": [],
}
#: Any JSON object: the service validates it and answers every problem (SPEC §7), in words
#: a pydantic model of the document would not give.
Document = Annotated[
    Any,
    Body(
        description="A workflow document (SPEC §5).",
        examples=[_EXAMPLE],
        json_schema_extra={"type": "object"},
    ),
]


class WorkflowListItem(BaseModel):
    id: int
    name: str
    description: str
    version: int
    created_at: datetime
    updated_at: datetime
    workspace_id: int
    #: Who created it (null once that account is deleted).
    created_by: int | None = None
    webhook_url: str | None = None


def _webhook_url(request: Request, summary: WorkflowSummary) -> str | None:
    if summary.webhook_path is None:
        return None
    return str(request.base_url).rstrip("/") + summary.webhook_path


def _item(request: Request, summary: WorkflowSummary) -> WorkflowListItem:
    return WorkflowListItem(
        **summary.model_dump(exclude={"webhook_path"}), webhook_url=_webhook_url(request, summary)
    )


def _answer(request: Request, detail: WorkflowDetail, *, draft: bool = False) -> dict[str, Any]:
    """The document with the server's fields on top (they win over same-named keys); a
    draft's answer adds ``problems``, what must be fixed before it can run."""
    answer = {**detail.document, **_item(request, detail).model_dump(mode="json")}
    if draft:
        answer["problems"] = workflows.problems(
            detail.document, workspace_id=detail.workspace_id, workflow_id=detail.id
        )
    return answer


#: ``?draft=true``: store a half-built workflow, as the editor does (services.workflows).
Draft = Annotated[
    bool,
    Query(
        description="Store a well-formed document even if it cannot run yet; the answer "
        "lists its `problems`, and executing it is refused until they are fixed."
    ),
]


@router.get("", response_model=list[WorkflowListItem])
def list_workflows(actor: CurrentUser, request: Request) -> list[WorkflowListItem]:
    """The workspace's workflows (``X-Workspace``), most recently changed first."""
    return [_item(request, row) for row in workflows.list_workflows(actor)]


@router.post("", status_code=201)
def create_workflow(
    actor: CurrentUser, request: Request, document: Document, draft: Draft = False
) -> dict[str, Any]:
    """Store a document; 422 ``{detail: [{node_id, field, message}]}`` when it is not valid
    (with ``?draft=true``: when it is not well-formed)."""
    created = workflows.create(actor, document, draft=draft)
    return _answer(request, created, draft=draft)


@router.get("/{workflow_id:int}")
def get_workflow(actor: CurrentUser, request: Request, workflow_id: ObjectId) -> dict[str, Any]:
    return _answer(request, workflows.get(actor, workflow_id))


@router.put("/{workflow_id:int}")
def update_workflow(
    actor: CurrentUser,
    request: Request,
    workflow_id: ObjectId,
    document: Document,
    draft: Draft = False,
) -> dict[str, Any]:
    """Save the document as the next version (``?draft=true`` as for POST)."""
    saved = workflows.update(actor, workflow_id, document, draft=draft)
    return _answer(request, saved, draft=draft)


@router.delete("/{workflow_id:int}", status_code=204, response_class=Response)
def delete_workflow(actor: CurrentUser, workflow_id: ObjectId) -> Response:
    workflows.delete(actor, workflow_id)
    return Response(status_code=204)


@router.get("/{workflow_id:int}/versions", response_model=list[VersionSummary])
def list_versions(actor: CurrentUser, workflow_id: ObjectId) -> list[VersionSummary]:
    """Saved versions, newest first."""
    return workflows.versions(actor, workflow_id)


@router.get("/{workflow_id:int}/versions/{version:int}")
def get_version(
    actor: CurrentUser, workflow_id: ObjectId, version: VersionNumber
) -> dict[str, Any]:
    """The document as it was saved at ``version``."""
    return workflows.get_version(actor, workflow_id, version)


@router.post("/{workflow_id:int}/versions/{version:int}/restore")
def restore_version(
    actor: CurrentUser,
    request: Request,
    workflow_id: ObjectId,
    version: VersionNumber,
    draft: Draft = False,
) -> dict[str, Any]:
    """Save the document of ``version`` as a new newest version (a draft version needs
    ``?draft=true``, as when it was saved)."""
    restored = workflows.restore(actor, workflow_id, version, draft=draft)
    return _answer(request, restored, draft=draft)
