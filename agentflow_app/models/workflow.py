"""Workflows and their immutable versions (the SPEC §5 document as JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Column, Field, SQLModel

from agentflow_app.models.base import JSONType, UTCDateTime, utcnow


class Workflow(SQLModel, table=True):
    __tablename__ = "workflows"
    __table_args__ = (Index("ix_workflows_workspace_updated", "workspace_id", "updated_at"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspaces.id", ondelete="CASCADE")
    #: Who created it (None once that account is deleted: the workspace keeps it).
    owner_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    name: str = Field(max_length=200)
    description: str = ""
    #: The newest version number; each save appends a WorkflowVersion.
    version: int = 1
    #: Secret path segment of the webhook URL when the document has a webhook trigger.
    hook_token: str | None = Field(default=None, max_length=64, unique=True)
    #: Cron of a schedule trigger, copied out of the document so the scheduler can query it.
    schedule_cron: str | None = Field(default=None, max_length=120)
    schedule_timezone: str | None = Field(default=None, max_length=64)
    #: The document's ``retention_days``, copied out so the pruner can query it; None
    #: keeps runs for ``AGENTFLOW_EXECUTION_RETENTION_DAYS``.
    retention_days: int | None = None
    #: The fire time the scheduler last fired the schedule for: its compare-and-set marker,
    #: so each fire time queues one run however many workers tick at once.
    schedule_fired_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )


class WorkflowVersion(SQLModel, table=True):
    __tablename__ = "workflow_versions"
    __table_args__ = (UniqueConstraint("workflow_id", "version", name="uq_workflow_version"),)

    id: int | None = Field(default=None, primary_key=True)
    workflow_id: int = Field(foreign_key="workflows.id", index=True, ondelete="CASCADE")
    version: int
    document: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    created_by: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
