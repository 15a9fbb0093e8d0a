"""Executions, their steps and their event log (SPEC §7–8)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Enum as SAEnum
from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Column, Field, SQLModel

from agentflow_app.engine.status import ExecutionStatus, StepStatus
from agentflow_app.models.base import JSONType, UTCDateTime, utcnow


def _status_column(enum: type) -> Column:
    # Stored as plain strings (native_enum=False) so adding a status is not a DDL change.
    return Column(
        SAEnum(enum, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        nullable=False,
    )


class Execution(SQLModel, table=True):
    __tablename__ = "executions"
    __table_args__ = (
        Index("ix_executions_owner_created", "owner_id", "created_at"),
        #: A claim counts the owner's running runs and takes their oldest queued one.
        Index("ix_executions_owner_status", "owner_id", "status"),
        #: The oldest queued run of an owner in one index entry, however deep their queue.
        Index(
            "ix_executions_owner_queued",
            "owner_id",
            "id",
            postgresql_where=text("status = 'queued'"),
            sqlite_where=text("status = 'queued'"),
        ),
        Index("ix_executions_workspace_created", "workspace_id", "created_at"),
        Index("ix_executions_workflow_created", "workflow_id", "created_at"),
        Index("ix_executions_status_wake", "status", "wake_at"),
        Index("ix_executions_caller", "caller_id", "caller_node", "item_index"),
    )

    id: int | None = Field(default=None, primary_key=True)
    #: Null for `agentflow run FILE.json`, which has no stored workflow.
    workflow_id: int | None = Field(default=None, foreign_key="workflows.id", ondelete="CASCADE")
    workflow_version: int | None = None
    #: Who started it (a schedule's or webhook's run: the workflow's creator); None for
    #: ``agentflow run`` and once that account is deleted.
    owner_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    #: The workspace it belongs to (issue 18); None only for ``agentflow run``.
    workspace_id: int | None = Field(default=None, foreign_key="workspaces.id", ondelete="CASCADE")
    #: The document pinned at queue time, so edits never change a run in flight.
    document: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    #: Searched through ix_executions_status_wake, whose first column it is.
    status: ExecutionStatus = Field(
        default=ExecutionStatus.QUEUED, sa_column=_status_column(ExecutionStatus)
    )
    trigger: str = Field(default="manual", max_length=16)
    inputs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    outputs: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    error: str | None = None
    usage: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    #: The execution this one retries or re-runs, for the history page.
    parent_id: int | None = Field(default=None, foreign_key="executions.id", ondelete="SET NULL")
    #: The run whose step started this one (``flow.subworkflow``, ``flow.map``, an error
    #: workflow), that step's node id, and for a map the item's index: the links both ways
    #: between a parent's step and its children, and a map's results in item order.
    caller_id: int | None = Field(default=None, foreign_key="executions.id", ondelete="CASCADE")
    caller_node: str | None = Field(default=None, max_length=200)
    item_index: int | None = None
    #: While ``waiting``: when a waiting step asked to run again (a timer, a timeout); the
    #: sweeper queues the run then. ``wake_pending``: a signal (a decision, a child's end)
    #: came while the run was not waiting yet, so it goes straight back to the queue.
    wake_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    wake_pending: bool = False
    cancel_requested: bool = False
    #: Which worker holds the run and when it last said so; the reaper reads these.
    worker: str | None = Field(default=None, max_length=200)
    heartbeat_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    #: Highest event seq written, so the next event is allocated without a scan.
    last_seq: int = 0
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    started_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


class StepRun(SQLModel, table=True):
    __tablename__ = "step_runs"
    __table_args__ = (UniqueConstraint("execution_id", "node_id", name="uq_step_execution_node"),)

    id: int | None = Field(default=None, primary_key=True)
    execution_id: int = Field(foreign_key="executions.id", index=True, ondelete="CASCADE")
    node_id: str = Field(max_length=200)
    type: str = Field(max_length=120)
    status: StepStatus = Field(default=StepStatus.PENDING, sa_column=_status_column(StepStatus))
    attempts: int = 0
    output: Any | None = Field(default=None, sa_column=Column(JSONType))
    #: True when the output passed 1 MiB and was cut (SPEC §7).
    output_truncated: bool = False
    error: str | None = None
    usage: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    started_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


class ExecutionEvent(SQLModel, table=True):
    __tablename__ = "execution_events"
    __table_args__ = (UniqueConstraint("execution_id", "seq", name="uq_event_execution_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    execution_id: int = Field(foreign_key="executions.id", ondelete="CASCADE")
    seq: int
    ts: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    type: str = Field(max_length=40)
    node_id: str | None = Field(default=None, max_length=200)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
