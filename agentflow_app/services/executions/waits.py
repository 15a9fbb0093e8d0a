"""Waiting runs: pausing without a worker, and every way back to the queue.

A run whose steps all wait (``engine.errors.Wait``) ends its turn on the worker with
:func:`suspend`: the row goes ``running`` → ``waiting`` with the earliest ``wake_at`` its
steps asked for, and the worker slot is free. Nothing about the wait is in memory.

Three things end a wait, all through :func:`wake_in`, a compare-and-set ``waiting`` →
``queued`` (so a decision racing a timer, or two sweepers, queue the run once):

* a signal: an approval decided, a child run ended (:mod:`.children`);
* a timer: :func:`wake_due`, which every worker's maintenance thread runs each
  :data:`WAKE_EVERY_S` under a Redis lock, queues the runs whose ``wake_at`` has come;
* a cancel: ``lifecycle.cancel`` ends a waiting run at once.

A signal that arrives while the run is still ``running`` (its other branch is busy) or
``queued`` sets ``wake_pending``; :func:`suspend` then queues the run again instead of
letting it wait for a signal that has already come.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select, update

from agentflow_app.db import get_engine
from agentflow_app.engine.events import EventType
from agentflow_app.engine.status import ExecutionStatus
from agentflow_app.services.executions.events import append_event, publish
from agentflow_app.services.executions.rows import EXECUTIONS
from tasks import dispatch

log = logging.getLogger(__name__)

#: How often the sweeper looks for runs whose wake time has come (seconds).
WAKE_EVERY_S = 1.0
#: Runs woken per sweep at most; the next sweep takes the rest.
WAKE_BATCH = 500


def send(execution_ids: list[int]) -> None:
    """Hand the workers a token for each run queued again (after its commit)."""
    for execution_id in execution_ids:
        dispatch.enqueue_execution(execution_id)


def suspend(execution_id: int, *, worker: str | None, wake_at: datetime | None) -> ExecutionStatus:
    """End a run's turn on its worker because every runnable step waits.

    Returns:
        ``waiting``; or ``queued`` when a signal came meanwhile (the run was sent to a
        worker again); or ``cancelled`` when a cancel was asked meanwhile.
    """
    events: list[dict[str, Any]] = []
    with get_engine().begin() as conn:
        paused = conn.execute(
            update(EXECUTIONS)
            .where(
                EXECUTIONS.c.id == execution_id,
                EXECUTIONS.c.status == ExecutionStatus.RUNNING,
                EXECUTIONS.c.wake_pending.is_(False),
                EXECUTIONS.c.cancel_requested.is_(False),
            )
            .values(status=ExecutionStatus.WAITING, wake_at=wake_at, worker=None)
        ).rowcount
        if paused:
            return ExecutionStatus.WAITING
        row = conn.execute(
            select(EXECUTIONS.c.status, EXECUTIONS.c.cancel_requested).where(
                EXECUTIONS.c.id == execution_id
            )
        ).one_or_none()
        if row is None or row.status != ExecutionStatus.RUNNING:
            return ExecutionStatus(row.status) if row is not None else ExecutionStatus.CANCELLED
        if row.cancel_requested:
            conn.execute(
                update(EXECUTIONS)
                .where(EXECUTIONS.c.id == execution_id)
                .values(
                    status=ExecutionStatus.CANCELLED,
                    finished_at=datetime.now(UTC),
                    error="cancelled while waiting",
                    worker=None,
                )
            )
            events.append(append_event(conn, execution_id, EventType.EXECUTION_CANCELLED))
            status = ExecutionStatus.CANCELLED
        else:
            conn.execute(
                update(EXECUTIONS)
                .where(EXECUTIONS.c.id == execution_id)
                .values(
                    status=ExecutionStatus.QUEUED, wake_pending=False, wake_at=None, worker=None
                )
            )
            events.append(
                append_event(
                    conn,
                    execution_id,
                    EventType.EXECUTION_QUEUED,
                    reason="a wait ended while the run was pausing; resuming",
                )
            )
            status = ExecutionStatus.QUEUED
    publish(events)
    if status == ExecutionStatus.QUEUED:
        send([execution_id])
    return status


def wake_in(conn: Connection, execution_id: int, reason: str) -> dict[str, Any] | None:
    """Queue a waiting run again, in ``conn``'s transaction, because of ``reason`` (a
    decision, a child's end).

    Returns:
        The ``execution.queued`` event to publish once committed (then send the run to a
        worker); None when the run was not waiting: a running or queued run is marked
        ``wake_pending`` instead, a finished one is left alone.
    """
    queued = conn.execute(
        update(EXECUTIONS)
        .where(EXECUTIONS.c.id == execution_id, EXECUTIONS.c.status == ExecutionStatus.WAITING)
        .values(status=ExecutionStatus.QUEUED, wake_at=None, wake_pending=False)
    ).rowcount
    if queued:
        return append_event(conn, execution_id, EventType.EXECUTION_QUEUED, reason=reason)
    conn.execute(
        update(EXECUTIONS)
        .where(
            EXECUTIONS.c.id == execution_id,
            EXECUTIONS.c.status.in_([ExecutionStatus.RUNNING, ExecutionStatus.QUEUED]),
        )
        .values(wake_pending=True)
    )
    return None


def wake_due(now: datetime | None = None) -> list[int]:
    """Queue the waiting runs whose ``wake_at`` has come (timers, timeouts, safety polls).

    Each is a compare-and-set, so however many workers sweep, a run is queued once.

    Returns:
        The ids queued by this sweep.
    """
    now = now or datetime.now(UTC)
    with get_engine().connect() as conn:
        due = (
            conn.execute(
                select(EXECUTIONS.c.id)
                .where(
                    EXECUTIONS.c.status == ExecutionStatus.WAITING,
                    EXECUTIONS.c.wake_at <= now,
                )
                .order_by(EXECUTIONS.c.wake_at)
                .limit(WAKE_BATCH)
            )
            .scalars()
            .all()
        )
    woken: list[int] = []
    events: list[dict[str, Any]] = []
    for execution_id in due:
        with get_engine().begin() as conn:
            queued = conn.execute(
                update(EXECUTIONS)
                .where(
                    EXECUTIONS.c.id == execution_id,
                    EXECUTIONS.c.status == ExecutionStatus.WAITING,
                    EXECUTIONS.c.wake_at <= now,
                )
                .values(status=ExecutionStatus.QUEUED, wake_at=None, wake_pending=False)
            ).rowcount
            if queued:
                events.append(
                    append_event(
                        conn, execution_id, EventType.EXECUTION_QUEUED, reason="a wait fell due"
                    )
                )
                woken.append(execution_id)
    publish(events)
    send(woken)
    return woken


def take_for(execution_id: int, worker: str, now: datetime | None = None) -> bool:
    """Take a run whose wait ended (queued again, or its wake time has come) to run it here.

    ``agentflow run`` calls it to go on with a run it started: the compare-and-set means
    that if a worker of a running server took the run first, the CLI only follows it.
    """
    now = now or datetime.now(UTC)
    with get_engine().begin() as conn:
        return bool(
            conn.execute(
                update(EXECUTIONS)
                .where(
                    EXECUTIONS.c.id == execution_id,
                    (EXECUTIONS.c.status == ExecutionStatus.QUEUED)
                    | (
                        (EXECUTIONS.c.status == ExecutionStatus.WAITING)
                        & (EXECUTIONS.c.wake_at <= now)
                    ),
                )
                .values(
                    status=ExecutionStatus.RUNNING,
                    worker=worker,
                    heartbeat_at=now,
                    wake_at=None,
                    wake_pending=False,
                )
            ).rowcount
        )
