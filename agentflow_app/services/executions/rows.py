"""The ``executions``, ``step_runs`` and ``execution_events`` tables as records, and owner reads.

Everything in the package that reads a row goes through here: the tables' names, the
small conversions rows need (aware timestamps, JSON-safe values) and the ownership reads
(another user's execution or workflow is :class:`NotFound`, like a missing one).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from psycopg.rows import namedtuple_row
from pydantic_core import to_jsonable_python
from sqlalchemy import Connection, Engine, bindparam, func, select
from sqlmodel import Session

from agentflow_app.db import aware, get_engine, statement_text
from agentflow_app.engine.events import StepRecord
from agentflow_app.engine.status import ExecutionStatus, StepStatus
from agentflow_app.errors import NotFound
from agentflow_app.models import Execution, ExecutionEvent, StepRun, Workflow, WorkflowVersion
from agentflow_app.services import workspaces
from agentflow_app.services.users import Actor
from agentflow_app.services.workspaces import Can

EXECUTIONS = Execution.__table__
STEPS = StepRun.__table__
EVENTS = ExecutionEvent.__table__

TRIGGERS = ("manual", "webhook", "schedule", "rerun")
#: Triggers of child runs: a ``flow.subworkflow`` step, a ``flow.map`` item, an error
#: workflow started by a failed run.
CHILD_TRIGGERS = ("subworkflow", "map", "error")
#: The trigger of a node test's run ("Test this node" in the editor): a real execution of a
#: small document, kept out of the history and the run counts, where it would read as a
#: run of the workflow.
TEST_TRIGGER = "test"


class ClaimedRun(NamedTuple):
    """An execution a worker has just set ``running``, with what it runs (read by the same
    transaction, so the run needs no further read to start)."""

    execution_id: int
    owner_id: int | None
    document: dict[str, Any]
    inputs: dict[str, Any]
    #: Whether steps are stored already (a retry, a recovery, a node test's samples);
    #: when not, the run starts without reading them.
    has_steps: bool = True
    #: Whether another run started this one (a sub-workflow, a map item, an error
    #: workflow): only then is there a caller to tell when it ends.
    has_caller: bool = True
    #: The workspace it belongs to: its credentials, files and workflows are the run's
    #: (None for ``agentflow run``).
    workspace_id: int | None = None


class RunOwner(NamedTuple):
    """Whose a run is: the account that started it (its limit, "started by") and the
    workspace whose credentials, files and workflows it uses; both None for
    ``agentflow run``."""

    owner_id: int | None
    workspace_id: int | None


class Caller(NamedTuple):
    """The run (and its step) that started a child run."""

    execution_id: int
    node_id: str | None = None


class FinishedStep(NamedTuple):
    """A step that a new execution starts with, already succeeded with ``output``."""

    node_id: str
    type: str
    output: Any


def duration(started: datetime | None, finished: datetime | None) -> float | None:
    """Seconds between two row timestamps, or None while either is missing."""
    if started is None or finished is None:
        return None
    return round((aware(finished) - aware(started)).total_seconds(), 3)


def iso(value: datetime | None) -> str | None:
    return aware(value).isoformat() if value is not None else None


def jsonable(value: Any) -> Any:
    """What JSON can say of a value: node outputs may hold datetimes, models, bytes..."""
    return to_jsonable_python(value, fallback=str)


def step_record(row: Any) -> StepRecord:
    return StepRecord(
        node_id=row["node_id"],
        type=row["type"],
        status=StepStatus(row["status"]),
        attempts=row["attempts"],
        started_at=aware(row["started_at"]),
        finished_at=aware(row["finished_at"]),
        output=row["output"],
        output_truncated=row["output_truncated"],
        error=row["error"],
        usage=row["usage"],
    )


def load_execution(execution_id: int, *, engine: Engine | None = None) -> Execution:
    """The executions row (document, inputs, status...).

    Raises:
        NotFound: when there is no such execution.
    """
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        execution = session.get(Execution, execution_id)
    if execution is None:
        raise NotFound(f"execution {execution_id} does not exist")
    return execution


def oldest_queued(conn: Connection, owner_id: int) -> int | None:
    """The id of the owner's oldest queued execution: the one its next token starts."""
    return conn.execute(
        select(func.min(EXECUTIONS.c.id)).where(
            EXECUTIONS.c.owner_id == owner_id, EXECUTIONS.c.status == ExecutionStatus.QUEUED
        )
    ).scalar_one()


def owned_execution(conn: Connection, actor: Actor, execution_id: int, can: Can = Can.READ) -> Any:
    """The execution's row, when the actor's role in its workspace allows ``can``.

    Raises:
        NotFound: no such execution in the actor's workspaces.
        Forbidden: the role does not allow ``can`` (``run``: cancel, retry, decide...).
    """
    row = conn.execute(
        select(
            EXECUTIONS.c.id,
            EXECUTIONS.c.owner_id,
            EXECUTIONS.c.workspace_id,
            EXECUTIONS.c.status,
            EXECUTIONS.c.trigger,
            EXECUTIONS.c.workflow_id,
            EXECUTIONS.c.inputs,
            EXECUTIONS.c.last_seq,
        ).where(EXECUTIONS.c.id == execution_id)
    ).one_or_none()
    missing = f"execution {execution_id} not found"
    workspaces.visible(actor, row.workspace_id if row is not None else None, missing)
    workspaces.require(actor, row.workspace_id, can, _DOING[can])
    return row


def owned_workflow(conn: Connection, actor: Actor, workflow_id: int, can: Can = Can.READ) -> Any:
    """The workflow's id, workspace, creator and version, when the actor may ``can``.

    Raises:
        NotFound: no such workflow in the actor's workspaces.
        Forbidden: the role does not allow ``can``.
    """
    row = conn.execute(
        select(Workflow.id, Workflow.workspace_id, Workflow.owner_id, Workflow.version).where(
            Workflow.id == workflow_id
        )
    ).one_or_none()
    return _allowed(actor, workflow_id, row, can)


def owned_workflow_document(
    conn: Connection, actor: Actor, workflow_id: int, can: Can
) -> tuple[Any, dict[str, Any]]:
    """:func:`owned_workflow` and its :func:`current_document`, in one query: starting a
    run asked for them one after the other, a database round trip of every ``/run``.

    On PostgreSQL the query goes to ``conn``'s own psycopg connection, prepared: 0.13 ms
    of CPU per read where Core's statement building and result machinery took 0.45 (2,000
    reads, a three-node workflow), a tenth of the web process's work per ``/run``.

    Raises:
        NotFound: no such workflow in the actor's workspaces, or its version is gone.
        Forbidden: the role does not allow ``can``.
    """
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.driver_connection.cursor(row_factory=namedtuple_row)
        row = cursor.execute(
            statement_text(_WORKFLOW_DOCUMENT, conn.dialect), {"id": workflow_id}, prepare=True
        ).fetchone()
    else:
        row = conn.execute(_WORKFLOW_DOCUMENT, {"id": workflow_id}).one_or_none()
    row = _allowed(actor, workflow_id, row, can)
    if row.document is None:
        raise NotFound(f"workflow {workflow_id} has no version {row.version}")
    return row, row.document


_WORKFLOW_DOCUMENT = (
    select(
        Workflow.id,
        Workflow.workspace_id,
        Workflow.owner_id,
        Workflow.version,
        WorkflowVersion.document,
    )
    .outerjoin(
        WorkflowVersion,
        (WorkflowVersion.workflow_id == Workflow.id)
        & (WorkflowVersion.version == Workflow.version),
    )
    .where(Workflow.id == bindparam("id"))
)


def _allowed(actor: Actor, workflow_id: int, row: Any, can: Can) -> Any:
    missing = f"workflow {workflow_id} not found"
    workspaces.visible(actor, row.workspace_id if row is not None else None, missing)
    workspaces.require(actor, row.workspace_id, can, _DOING[can])
    return row


#: What each permission does to runs, for the Forbidden message.
_DOING = {
    Can.READ: "see runs",
    Can.RUN: "start, cancel, retry or decide runs",
    Can.EDIT: "test nodes",
    Can.MANAGE: "manage this workspace",
}


def current_document(conn: Connection, workflow_id: int, version: int) -> dict[str, Any]:
    document = conn.execute(
        select(WorkflowVersion.document).where(
            WorkflowVersion.workflow_id == workflow_id, WorkflowVersion.version == version
        )
    ).scalar_one_or_none()
    if document is None:
        raise NotFound(f"workflow {workflow_id} has no version {version}")
    return document
