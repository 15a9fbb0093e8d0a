"""Workflows as MCP tools: which of a user's workflows ``/api/mcp`` offers, and running one.

A workflow is offered when its newest version has a manual trigger and sets
``expose_mcp: true`` ("available to MCP clients"). The tool is named from the workflow's
name (lower-case words joined by ``_``; the id is appended when two names would collide),
described by its description, and takes the trigger's inputs as its input schema. Only
the caller's own workflows are listed or runnable: a name that is not one of theirs is
simply unknown.

A call queues a run through :func:`~agentflow_app.services.executions.queue_run`, the
same as the API's execute, with trigger ``mcp``; progress and outputs are read back with
the executions service (the caller of :func:`start_tool` follows the run's events).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select

from agentflow_app.db import get_engine
from agentflow_app.engine.document import WorkflowDocument
from agentflow_app.errors import NotFound
from agentflow_app.models import Workflow, WorkflowVersion
from agentflow_app.services import workspaces
from agentflow_app.services.executions import queue_run
from agentflow_app.services.users import Actor
from agentflow_app.services.workspaces import Can

MANUAL_TRIGGER = "trigger.manual"
MCP_TRIGGER = "mcp"
_WORD = re.compile(r"[^a-z0-9]+")
_SCHEMA_TYPES = {"string", "number", "integer", "boolean", "object", "array"}


class ExposedWorkflow(BaseModel):
    """One workflow as an MCP tool."""

    tool_name: str
    workflow_id: int
    version: int
    title: str
    description: str
    input_schema: dict[str, Any]
    #: How many steps a run has, its trigger included (the progress total).
    steps: int


def exposed_workflows(actor: Actor) -> list[ExposedWorkflow]:
    """The workflows of the actor's workspace offered to MCP clients, by tool name."""
    workspaces.require_here(actor, Can.READ, "see workflows")
    with get_engine().connect() as conn:
        rows = conn.execute(
            select(Workflow.id, Workflow.name, Workflow.version, WorkflowVersion.document)
            .join(
                WorkflowVersion,
                (WorkflowVersion.workflow_id == Workflow.id)
                & (WorkflowVersion.version == Workflow.version),
            )
            .where(Workflow.workspace_id == actor.workspace_id)
            .order_by(Workflow.id)
        ).all()
    offered: list[ExposedWorkflow] = []
    taken: set[str] = set()
    for workflow_id, name, version, document in rows:
        trigger = _manual_trigger(document)
        if trigger is None or not (document or {}).get("expose_mcp"):
            continue
        tool_name = slug(name) or f"workflow_{workflow_id}"
        if tool_name in taken:
            tool_name = f"{tool_name}_{workflow_id}"
        taken.add(tool_name)
        offered.append(
            ExposedWorkflow(
                tool_name=tool_name,
                workflow_id=workflow_id,
                version=version,
                title=name,
                description=str(document.get("description") or "") or f"Run the workflow {name}",
                input_schema=input_schema(trigger),
                steps=max(len(document.get("nodes") or []), 1),
            )
        )
    return offered


def find_tool(actor: Actor, tool_name: str) -> ExposedWorkflow:
    """The actor's exposed workflow named ``tool_name``.

    Raises:
        NotFound: no such tool for this user (another user's workflow is just as unknown).
    """
    for workflow in exposed_workflows(actor):
        if workflow.tool_name == tool_name:
            return workflow
    raise NotFound(f"there is no workflow tool named {tool_name!r} for this API key")


def start_tool(actor: Actor, workflow: ExposedWorkflow, arguments: dict[str, Any] | None) -> int:
    """Queue a run of ``workflow`` (as :func:`find_tool` found it for ``actor``) with
    ``arguments`` as its inputs.

    Raises:
        InputsError: the arguments do not match the trigger's inputs (names each one).
        InvalidWorkflow: the workflow does not validate (or lacks a credential).
        Forbidden: the actor's role cannot run workflows.
    """
    workspaces.require_here(actor, Can.RUN, "run workflows")
    with get_engine().connect() as conn:
        document = conn.execute(
            select(WorkflowVersion.document).where(
                WorkflowVersion.workflow_id == workflow.workflow_id,
                WorkflowVersion.version == workflow.version,
            )
        ).scalar_one()
    return queue_run(
        document,
        arguments or {},
        owner_id=actor.id,
        workspace_id=actor.workspace_id,
        trigger=MCP_TRIGGER,
        workflow_id=workflow.workflow_id,
        version=workflow.version,
    )


def slug(name: str) -> str:
    """``Lead research`` → ``lead_research``: what MCP clients show and models call."""
    return _WORD.sub("_", name.lower()).strip("_")[:64]


def input_schema(trigger: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema of a manual trigger's declared inputs."""
    inputs = ((trigger.get("data") or {}).get("config") or {}).get("inputs") or []
    properties: dict[str, Any] = {}
    required: list[str] = []
    for spec in inputs if isinstance(inputs, list) else []:
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            continue
        kind = spec.get("type") if spec.get("type") in _SCHEMA_TYPES else "string"
        prop: dict[str, Any] = {"type": kind}
        if spec.get("description"):
            prop["description"] = str(spec["description"])
        if spec.get("default") is not None:
            prop["default"] = spec["default"]
        properties[spec["name"]] = prop
        if spec.get("required"):
            required.append(spec["name"])
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _manual_trigger(document: Any) -> dict[str, Any] | None:
    try:
        parsed = WorkflowDocument.model_validate(document)
    except ValueError:
        return None
    for node in parsed.nodes:
        if node.type == MANUAL_TRIGGER:
            return node.model_dump(mode="json")
    return None
