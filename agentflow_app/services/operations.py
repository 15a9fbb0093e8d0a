"""What the operators' tools read about executions (metrics, traces, logs; issue 19).

Not scoped to a user: these answers feed ``/metrics`` (behind the operator's bearer token)
and the labels of a run this process executes, never a user's page. They are aggregates
and labels only: no document, input, output or credential leaves here.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import func, select

from agentflow_app.db import aware, get_engine
from agentflow_app.engine.status import ExecutionStatus
from agentflow_app.models import Execution

EXECUTIONS = Execution.__table__
#: The statuses of runs that are not over: what the queue and waiting gauges count.
OPEN_STATUSES = (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING, ExecutionStatus.WAITING)


class RunLabels(BaseModel):
    """What metrics, spans and log lines say about one execution besides its id."""

    execution_id: int
    workflow_id: int | None
    trigger: str
    created_at: datetime | None


class OpenRuns(BaseModel):
    """Executions not over yet, by status, and how long the oldest queued one has waited."""

    by_status: dict[str, int]
    oldest_queued_age_s: float


def run_labels(execution_id: int) -> RunLabels | None:
    """The labels of execution ``execution_id`` (None when it does not exist)."""
    with get_engine().connect() as conn:
        row = conn.execute(
            select(EXECUTIONS.c.workflow_id, EXECUTIONS.c.trigger, EXECUTIONS.c.created_at).where(
                EXECUTIONS.c.id == execution_id
            )
        ).one_or_none()
    if row is None:
        return None
    return RunLabels(
        execution_id=execution_id,
        workflow_id=row.workflow_id,
        trigger=row.trigger,
        created_at=aware(row.created_at),
    )


def open_runs(now: datetime | None = None) -> OpenRuns:
    """Counts of queued, running and waiting executions (the status column is indexed)."""
    now = now or datetime.now(UTC)
    with get_engine().connect() as conn:
        counts = dict(
            conn.execute(
                select(EXECUTIONS.c.status, func.count())
                .where(EXECUTIONS.c.status.in_(OPEN_STATUSES))
                .group_by(EXECUTIONS.c.status)
            ).all()
        )
        oldest = conn.execute(
            select(func.min(EXECUTIONS.c.created_at)).where(
                EXECUTIONS.c.status == ExecutionStatus.QUEUED
            )
        ).scalar_one()
    return OpenRuns(
        by_status={str(status): int(counts.get(status, 0)) for status in OPEN_STATUSES},
        oldest_queued_age_s=max(0.0, (now - aware(oldest)).total_seconds()) if oldest else 0.0,
    )
