"""Workflows: list, create, read, save (a new version each time), delete, versions, restore.

Every function takes the acting user and goes through :func:`owned_workflow`, which
applies the one permission check (``services.workspaces``): a workflow of a workspace the
actor is no member of is reported as NotFound, exactly like a missing one, so ids cannot
be probed; a role that may not do the action is Forbidden. Other services reuse it.

Documents are validated by the engine before they are stored (:func:`check_document`), so
what is saved can be queued as it is.
"""

from __future__ import annotations

import contextlib
import secrets
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlmodel import Session, select

from agentflow_app.catalog import default_registry
from agentflow_app.db import session_scope
from agentflow_app.engine.document import WorkflowDocument
from agentflow_app.engine.errors import InvalidWorkflow
from agentflow_app.engine.validate import validate
from agentflow_app.errors import NotFound
from agentflow_app.models import Workflow, WorkflowVersion
from agentflow_app.routes import API_PREFIX
from agentflow_app.services import audit, workspaces
from agentflow_app.services.audit import AuditAction
from agentflow_app.services.users import Actor
from agentflow_app.services.workflow_calls import call_problems
from agentflow_app.services.workspaces import Can

WEBHOOK_TRIGGER = "trigger.webhook"
SCHEDULE_TRIGGER = "trigger.schedule"
#: Keys the server adds to answers; dropped from documents sent back, never stored.
SERVER_KEYS = frozenset({"id", "version", "webhook_url", "created_at", "updated_at"})


class WorkflowSummary(BaseModel):
    """A row of the workflow list."""

    id: int
    name: str
    description: str
    version: int
    created_at: datetime
    updated_at: datetime
    #: The workspace it belongs to, and who created it (None once that account is gone).
    workspace_id: int
    created_by: int | None = None
    #: ``/api/hooks/<token>`` when the document has a webhook trigger.
    webhook_path: str | None = None


class WorkflowDetail(WorkflowSummary):
    """A workflow with its newest document."""

    document: dict[str, Any]


class VersionSummary(BaseModel):
    version: int
    name: str
    created_at: datetime
    created_by: int | None


def hook_path(hook_token: str) -> str:
    return f"{API_PREFIX}/hooks/{hook_token}"


# -- validation: the single place a document is checked before it is stored ----------------


def check_document(
    document: Any,
    *,
    draft: bool = False,
    workspace_id: int | None = None,
    workflow_id: int | None = None,
) -> dict[str, Any]:
    """Validate ``document`` with the engine and return it as it will be stored.

    The one rule for every save, the editor's and the REST API's alike: a save stores a
    valid document, or, when it says it is a ``draft``, any well-formed one (nodes and
    edges of the right shapes, however half-built the graph); :func:`problems` then says
    what stops it from running, and every run is refused until they are fixed (SPEC §7).
    The editor's saves are drafts; REST saves are drafts with ``?draft=true``.

    Server-added keys (``id``, ``version``, ``webhook_url``...) are dropped first, so a
    document fetched from the API can be sent back as it is. Calls to other workflows are
    checked in the workspace (``workflow_calls``): each must exist and none may loop back to
    ``workflow_id``.

    Raises:
        InvalidWorkflow: (an InvalidInput, 422) listing every ``{node_id, field, message}``.
    """
    if isinstance(document, dict):
        document = {k: v for k, v in document.items() if k not in SERVER_KEYS}
    if draft:
        with contextlib.suppress(ValidationError):
            return WorkflowDocument.model_validate(document).to_json()
    found = problems(document, workspace_id=workspace_id, workflow_id=workflow_id)
    if found:
        raise InvalidWorkflow(found)
    return WorkflowDocument.model_validate(document).to_json()


def problems(
    document: dict[str, Any], *, workspace_id: int | None = None, workflow_id: int | None = None
) -> list[dict[str, Any]]:
    """What stops a stored document from running (empty when it can run)."""
    found = [problem.model_dump() for problem in validate(document, default_registry())]
    return found + call_problems(workspace_id, document, workflow_id)


# -- the ownership check ---------------------------------------------------------------------


def owned_workflow(
    session: Session, actor: Actor, workflow_id: int, can: Can = Can.READ
) -> Workflow:
    """Workflow ``workflow_id``, when the actor's role in its workspace allows ``can``.

    Raises:
        NotFound: it does not exist or is in a workspace the actor is no member of
            (indistinguishable).
        Forbidden: the actor's role there does not allow ``can``.
    """
    workflow = session.get(Workflow, workflow_id)
    missing = f"workflow {workflow_id} not found"
    workspaces.visible(actor, workflow.workspace_id if workflow else None, missing)
    workspaces.require(actor, workflow.workspace_id, can, _DOING[can])
    return workflow


#: What each permission does to a workflow, for the Forbidden message.
_DOING = {
    Can.READ: "read workflows",
    Can.RUN: "run workflows",
    Can.EDIT: "change workflows",
    Can.MANAGE: "manage this workspace",
}


# -- use cases -------------------------------------------------------------------------------


def list_workflows(actor: Actor) -> list[WorkflowSummary]:
    """The workflows of the workspace the actor acts in, most recently changed first."""
    workspaces.require_here(actor, Can.READ, _DOING[Can.READ])
    with session_scope() as session:
        rows = session.exec(
            select(Workflow)
            .where(Workflow.workspace_id == actor.workspace_id)
            .order_by(Workflow.updated_at.desc(), Workflow.id.desc())
        ).all()
        return [_summary(row) for row in rows]


def create(actor: Actor, document: Any, *, draft: bool = False) -> WorkflowDetail:
    """Store a new workflow (version 1) in the workspace the actor acts in.

    Raises:
        Forbidden: the actor's role there cannot change workflows.
        InvalidWorkflow: the document is not valid (for a draft: not well-formed).
    """
    workspaces.require_here(actor, Can.EDIT, _DOING[Can.EDIT])
    checked = check_document(document, draft=draft, workspace_id=actor.workspace_id)
    with session_scope() as session:
        workflow = Workflow(
            workspace_id=actor.workspace_id, owner_id=actor.id, name=checked["name"], version=1
        )
        _apply(workflow, checked)
        session.add(workflow)
        session.flush()
        session.add(
            WorkflowVersion(
                workflow_id=workflow.id, version=1, document=checked, created_by=actor.id
            )
        )
        return _detail(workflow, checked)


def get(actor: Actor, workflow_id: int) -> WorkflowDetail:
    """The workflow with its newest document.

    Raises:
        NotFound: not the actor's workflow.
    """
    with session_scope() as session:
        workflow = owned_workflow(session, actor, workflow_id)
        return _detail(workflow, _document(session, workflow.id, workflow.version))


def update(actor: Actor, workflow_id: int, document: Any, *, draft: bool = False) -> WorkflowDetail:
    """Save ``document`` as the workflow's next version (older versions are kept).

    Raises:
        NotFound: not the actor's workflow.
        InvalidWorkflow: the document is not valid.
    """
    with session_scope() as session:
        workspace_id = owned_workflow(session, actor, workflow_id, Can.EDIT).workspace_id
    checked = check_document(
        document, draft=draft, workspace_id=workspace_id, workflow_id=workflow_id
    )
    with session_scope() as session:
        workflow = owned_workflow(session, actor, workflow_id, Can.EDIT)
        return _save_version(session, actor, workflow, checked)


def delete(actor: Actor, workflow_id: int) -> None:
    """Delete the workflow, its versions and its executions.

    Raises:
        NotFound: not the actor's workflow.
    """
    with session_scope() as session:
        # Versions and executions go with it (ON DELETE CASCADE; db.py enables it on SQLite).
        workflow = owned_workflow(session, actor, workflow_id, Can.EDIT)
        audit.record(
            AuditAction.WORKFLOW_DELETED,
            actor=actor,
            target_type="workflow",
            target_id=workflow.id,
            workspace_id=workflow.workspace_id,
            detail={"name": workflow.name},
            session=session,
        )
        session.delete(workflow)


def versions(actor: Actor, workflow_id: int) -> list[VersionSummary]:
    """The saved versions, newest first.

    Raises:
        NotFound: not the actor's workflow.
    """
    with session_scope() as session:
        workflow = owned_workflow(session, actor, workflow_id)
        rows = session.exec(
            select(WorkflowVersion)
            .where(WorkflowVersion.workflow_id == workflow.id)
            .order_by(WorkflowVersion.version.desc())
        ).all()
        return [
            VersionSummary(
                version=row.version,
                name=str(row.document.get("name", "")),
                created_at=row.created_at,
                created_by=row.created_by,
            )
            for row in rows
        ]


def get_version(actor: Actor, workflow_id: int, version: int) -> dict[str, Any]:
    """The document as it was at ``version``.

    Raises:
        NotFound: not the actor's workflow, or no such version.
    """
    with session_scope() as session:
        workflow = owned_workflow(session, actor, workflow_id)
        return _document(session, workflow.id, version)


def restore(actor: Actor, workflow_id: int, version: int, *, draft: bool = False) -> WorkflowDetail:
    """Save an older version's document as the newest version (history is never rewritten).

    Raises:
        NotFound: not the actor's workflow, or no such version.
        InvalidWorkflow: the old document no longer validates (a node type was removed).
    """
    with session_scope() as session:
        workflow = owned_workflow(session, actor, workflow_id, Can.EDIT)
        old = _document(session, workflow.id, version)
        workspace_id = workflow.workspace_id
    checked = check_document(old, draft=draft, workspace_id=workspace_id, workflow_id=workflow_id)
    with session_scope() as session:
        workflow = owned_workflow(session, actor, workflow_id, Can.EDIT)
        saved = _save_version(session, actor, workflow, checked)
        audit.record(
            AuditAction.WORKFLOW_RESTORED,
            actor=actor,
            target_type="workflow",
            target_id=workflow.id,
            workspace_id=workflow.workspace_id,
            detail={"restored_version": version, "new_version": saved.version},
            session=session,
        )
        return saved


def export_document(workflow_id: int) -> dict[str, Any]:
    """The newest document of any workflow, for the operator's ``agentflow export``.

    Not for requests made by users: the CLI runs with the server's own access.

    Raises:
        NotFound: no such workflow.
    """
    with session_scope() as session:
        workflow = session.get(Workflow, workflow_id)
        if workflow is None:
            raise NotFound(f"workflow {workflow_id} not found")
        return _document(session, workflow.id, workflow.version)


# -- helpers ---------------------------------------------------------------------------------


def _save_version(
    session: Session, actor: Actor, workflow: Workflow, checked: dict[str, Any]
) -> WorkflowDetail:
    workflow.version += 1
    workflow.name = checked["name"]
    workflow.updated_at = datetime.now(UTC)
    _apply(workflow, checked)
    session.add(workflow)
    session.add(
        WorkflowVersion(
            workflow_id=workflow.id,
            version=workflow.version,
            document=checked,
            created_by=actor.id,
        )
    )
    session.flush()
    return _detail(workflow, checked)


def _apply(workflow: Workflow, document: dict[str, Any]) -> None:
    """Copy what queries need out of the document: description, hook token, schedule,
    retention."""
    workflow.description = document.get("description", "")
    workflow.retention_days = document.get("retention_days")
    types = {node["type"]: node for node in document["nodes"]}
    if WEBHOOK_TRIGGER in types:
        # Kept across saves, so the URL people configured elsewhere keeps working.
        workflow.hook_token = workflow.hook_token or secrets.token_urlsafe(24)
    else:
        workflow.hook_token = None
    schedule = types.get(SCHEDULE_TRIGGER)
    config = _schedule_config(schedule) if schedule else None
    workflow.schedule_cron = config.cron if config else None
    workflow.schedule_timezone = config.timezone if config else None


def _schedule_config(node: dict[str, Any]) -> Any | None:
    """The schedule trigger's validated config (defaults applied), or None for a draft
    whose config does not validate yet: such a workflow does not fire until it does."""
    config_model = default_registry().node(SCHEDULE_TRIGGER).Config
    try:
        return config_model.model_validate(node.get("data", {}).get("config") or {})
    except ValidationError:
        return None


def _document(session: Session, workflow_id: int, version: int) -> dict[str, Any]:
    row = session.exec(
        select(WorkflowVersion).where(
            WorkflowVersion.workflow_id == workflow_id, WorkflowVersion.version == version
        )
    ).first()
    if row is None:
        raise NotFound(f"workflow {workflow_id} has no version {version}")
    return row.document


def _summary(workflow: Workflow) -> WorkflowSummary:
    return WorkflowSummary(
        id=workflow.id,
        name=workflow.name,
        description=workflow.description,
        version=workflow.version,
        created_at=workflow.created_at,
        updated_at=workflow.updated_at,
        workspace_id=workflow.workspace_id,
        created_by=workflow.owner_id,
        webhook_path=hook_path(workflow.hook_token) if workflow.hook_token else None,
    )


def _detail(workflow: Workflow, document: dict[str, Any]) -> WorkflowDetail:
    return WorkflowDetail(**_summary(workflow).model_dump(), document=document)
