"""The /workflows list: load, create, delete. Thin: every call goes through services."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, TypedDict

import reflex as rx

from agentflow_app import routes
from agentflow_app.errors import AgentFlowError, NotFound
from agentflow_app.services import workflows
from agentflow_app.services.workflows import WorkflowSummary
from agentflow_app.state.auth import signed_in, to_login

NEW_WORKFLOW_NAME = "Untitled workflow"


class WorkflowRow(TypedDict):
    id: int
    name: str
    description: str
    version: int
    updated: str
    href: str
    webhook: bool


def starter_document(name: str = NEW_WORKFLOW_NAME) -> dict[str, Any]:
    """What "New workflow" creates: a manual trigger, ready for nodes to be added."""
    return {
        "schema_version": 1,
        "name": name,
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


def ago(moment: datetime, now: datetime | None = None) -> str:
    """A short "how long ago" for lists ("just now", "5 min ago", "3 h ago", "Nov 3")."""
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    if seconds < 7 * 86400:
        days = int(seconds // 86400)
        return f"{days} day{'s' if days > 1 else ''} ago"
    return f"{moment:%b} {moment.day}, {moment.year}"


def _row(summary: WorkflowSummary) -> WorkflowRow:
    return WorkflowRow(
        id=summary.id,
        name=summary.name,
        description=summary.description,
        version=summary.version,
        updated=ago(summary.updated_at),
        href=routes.workflow_url(summary.id),
        webhook=summary.webhook_path is not None,
    )


class WorkflowsState(rx.State):
    rows: list[WorkflowRow] = []
    loaded: bool = False
    creating: bool = False
    error: str = ""

    @rx.event
    async def load(self) -> Any:
        """``on_load``: the signed-in user's workflows."""
        actor = await signed_in(self)
        if actor is None:
            self.rows, self.loaded = [], False
            return await to_login(self)
        self.rows = [_row(s) for s in workflows.list_workflows(actor)]
        self.loaded, self.error = True, ""
        return None

    @rx.event
    async def create_workflow(self):
        """Create an empty workflow (a manual trigger) and open it in the editor."""
        actor = await signed_in(self)
        if actor is None:
            yield await to_login(self)
            return
        self.creating, self.error = True, ""
        yield
        try:
            created = await asyncio.to_thread(workflows.create, actor, starter_document())
        except AgentFlowError as exc:
            self.error = f"Could not create the workflow: {exc}"
        else:
            self.rows = [_row(created), *self.rows]
            self.creating = False
            yield rx.redirect(routes.workflow_url(created.id))
            return
        self.creating = False

    @rx.event
    async def delete_workflow(self, workflow_id: int) -> Any:
        """Delete one of the user's workflows (after the confirmation dialog)."""
        actor = await signed_in(self)
        if actor is None:
            return await to_login(self)
        try:
            workflows.delete(actor, workflow_id)
        except NotFound:
            self.error = "That workflow no longer exists."
        self.rows = [_row(s) for s in workflows.list_workflows(actor)]
        return None
