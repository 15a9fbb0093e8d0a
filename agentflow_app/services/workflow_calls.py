"""Workflows that call workflows: which ones a document calls, and calls that would loop.

``flow.subworkflow`` and ``flow.map`` name another workflow of the same owner by id; a
document may name an ``error_workflow_id``. A save and every execute check that each
named workflow exists and is the owner's, and that no call leads back to the workflow
being saved (A → B → A, directly or through the current saved versions), naming the
path. Runs nested deeper than validation can see (a workflow edited after the check)
meet the run-time depth cap (``AGENTFLOW_MAX_SUBWORKFLOW_DEPTH``).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from sqlalchemy import select

from agentflow_app.db import get_engine
from agentflow_app.models import Workflow, WorkflowVersion

#: Node types whose ``workflow_id`` names a workflow they run.
CALLING_TYPES = ("flow.subworkflow", "flow.map")
#: Workflows looked at at most per check (a guard on a huge web of calls).
MAX_VISITED = 500


def calls(document: Any) -> list[tuple[str, int]]:
    """``(node id, workflow id)`` of every call the document makes."""
    found = []
    for node in (document or {}).get("nodes", []) if isinstance(document, dict) else []:
        if not isinstance(node, dict) or node.get("type") not in CALLING_TYPES:
            continue
        config = (node.get("data") or {}).get("config") or {}
        target = config.get("workflow_id") if isinstance(config, dict) else None
        if isinstance(target, int) and not isinstance(target, bool):
            found.append((str(node.get("id")), target))
    return found


def _in_workspace(workspace_id: int | None) -> dict[int, tuple[str, int]]:
    with get_engine().connect() as conn:
        rows = conn.execute(
            select(Workflow.id, Workflow.name, Workflow.version).where(
                Workflow.workspace_id == workspace_id
            )
        ).all()
    return {row.id: (row.name, row.version) for row in rows}


def _document(workflow_id: int, version: int) -> dict[str, Any]:
    with get_engine().connect() as conn:
        return (
            conn.execute(
                select(WorkflowVersion.document).where(
                    WorkflowVersion.workflow_id == workflow_id, WorkflowVersion.version == version
                )
            ).scalar_one_or_none()
            or {}
        )


def call_problems(
    workspace_id: int | None, document: Any, workflow_id: int | None = None
) -> list[dict[str, Any]]:
    """Problems (``{node_id, field, message}``) with the workflows ``document`` calls.

    Args:
        workspace_id: the workspace whose workflows may be called.
        workflow_id: the workflow ``document`` is (or will be) saved as; None for a new one,
            which nothing can call yet.
    """
    if not isinstance(document, dict):
        return []
    error_target = document.get("error_workflow_id")
    targets = calls(document)
    if error_target is None and not targets:  # most runs: no query at all
        return []
    owned = _in_workspace(workspace_id)
    problems: list[dict[str, Any]] = []
    if isinstance(error_target, int) and not isinstance(error_target, bool):
        if error_target not in owned:
            problems.append(
                _problem(
                    None,
                    "error_workflow_id",
                    f"there is no workflow {error_target} in this workspace",
                )
            )
        elif error_target == workflow_id:
            problems.append(
                _problem(None, "error_workflow_id", "a workflow cannot be its own error workflow")
            )
    own_name = document.get("name") or "this workflow"
    for node_id, target in targets:
        if target not in owned:
            problems.append(
                _problem(
                    node_id,
                    "config.workflow_id",
                    f"there is no workflow {target} in this workspace",
                )
            )
            continue
        if workflow_id is None:
            continue
        path = _path_back(owned, target, workflow_id)
        if path is not None:
            names = [own_name, *(owned[step][0] for step in path)]
            problems.append(
                _problem(
                    node_id,
                    "config.workflow_id",
                    "this call would loop: " + " → ".join(repr(name) for name in names),
                )
            )
    return problems


def _path_back(owned: dict[int, tuple[str, int]], start: int, goal: int) -> list[int] | None:
    """The workflows from ``start`` to ``goal`` through current versions' calls, if any."""
    paths: deque[list[int]] = deque([[start]])
    seen = {start}
    while paths and len(seen) <= MAX_VISITED:
        path = paths.popleft()
        if path[-1] == goal:
            return path
        _, version = owned[path[-1]]
        for _, target in calls(_document(path[-1], version)):
            if target in owned and target not in seen:
                seen.add(target)
                paths.append([*path, target])
    return None


def _problem(node_id: str | None, field: str, message: str) -> dict[str, Any]:
    return {"node_id": node_id, "field": field, "message": message}


def callable_workflows(workspace_id: int, exclude_id: int | None = None) -> list[dict[str, Any]]:
    """The workspace's workflows another may call: ``{id, name, inputs}``, by name.

    ``inputs`` lists the trigger's inputs as ``name: type`` text, so the picker can show
    what the child expects.
    """
    with get_engine().connect() as conn:
        rows = conn.execute(
            select(Workflow.id, Workflow.name, WorkflowVersion.document)
            .join(
                WorkflowVersion,
                (WorkflowVersion.workflow_id == Workflow.id)
                & (WorkflowVersion.version == Workflow.version),
            )
            .where(Workflow.workspace_id == workspace_id)
            .order_by(Workflow.name, Workflow.id)
        ).all()
    return [
        {"id": row.id, "name": row.name, "inputs": _inputs_text(row.document)}
        for row in rows
        if row.id != exclude_id
    ]


def _inputs_text(document: Any) -> str:
    for node in (document or {}).get("nodes", []) if isinstance(document, dict) else []:
        if isinstance(node, dict) and str(node.get("type", "")).startswith("trigger."):
            specs = ((node.get("data") or {}).get("config") or {}).get("inputs") or []
            return ", ".join(
                f"{spec.get('name')}: {spec.get('type', 'string')}"
                for spec in specs
                if isinstance(spec, dict)
            )
    return ""
