"""Every change of an execution's status, each a named compare-and-set.

An execution's life: :func:`create` (``queued``) → :func:`claim` (``running``, with a lease
that :func:`renew_leases` keeps fresh) → its end, written by the running store with the
terminal event (:mod:`.store`; ``engine.events.status_after`` says which status an event
leaves). Around it: :func:`cancel`, :func:`reopen` (a retry), :func:`recover` (the reaper's
give-back of a run whose lease ran out), and :func:`mark_started` / :func:`mark_finished`
for a run driven in-process (``agentflow run``). Nothing else in the code base writes
``executions.status`` but :mod:`.waits` (pausing a run and waking it) and :mod:`.children`
(a map's items taking their turn); each write names the status it expects to find, so a
duplicate delivery, a late worker or a racing reaper changes nothing.

The lease: a worker renews the rows it runs every :data:`LEASE_RENEW_S`; a ``running``
row left unrenewed for :data:`LEASE_S` lost its worker, and the reaper gives it back.
(The worker's own liveness for ``/api/health`` is another thing: ``tasks.liveness``.)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    exists,
    func,
    insert,
    select,
    update,
)

from agentflow_app.db import driver_connection, get_engine
from agentflow_app.engine.events import EventType
from agentflow_app.engine.status import ExecutionStatus, StepStatus
from agentflow_app.errors import Conflict, NotFound
from agentflow_app.models import StepRun
from agentflow_app.services.executions import limits
from agentflow_app.services.executions.events import (
    append_event,
    publish,
)
from agentflow_app.services.executions.rows import (
    EVENTS,
    EXECUTIONS,
    STEPS,
    Caller,
    ClaimedRun,
    FinishedStep,
    jsonable,
    oldest_queued,
    owned_execution,
)
from agentflow_app.services.executions.store_sql import (
    PG_CLAIM,
    commit_without_flush,
    pg_create,
)
from agentflow_app.services.users import Actor
from agentflow_app.services.workspaces import Can
from agentflow_app.settings import get_settings

#: A running execution's lease is renewed this often by its worker (seconds).
LEASE_RENEW_S = 3.0
#: A running execution whose lease was last renewed longer ago than this lost its worker.
LEASE_S = 12.0


def create(document: dict[str, Any], inputs: dict[str, Any], **options: Any) -> int:
    """:func:`store_queued`, answering the new execution's id (``options``: its keywords)."""
    return store_queued(document, inputs, **options)["execution_id"]


def store_queued(
    document: dict[str, Any],
    inputs: dict[str, Any],
    *,
    owner_id: int | None = None,
    workspace_id: int | None = None,
    workflow_id: int | None = None,
    workflow_version: int | None = None,
    trigger: str = "manual",
    parent_id: int | None = None,
    caller: Caller | None = None,
    queued_data: dict[str, Any] | None = None,
    finished_steps: Iterable[FinishedStep] = (),
    engine: Engine | None = None,
) -> dict[str, Any]:
    """Insert a queued execution with its pinned document and its ``execution.queued`` event.

    The event is not published: ``queue_run`` publishes it with the run's token, in one
    round trip to Redis (``tasks.dispatch``).

    Args:
        document: The workflow document as validated; stored as-is so later edits of the
            workflow never change this run.
        inputs: The trigger inputs, already validated.
        parent_id: The execution this one retries or re-runs, if any.
        caller: The run and step that started this one as a child (a sub-workflow, an
            error workflow), if any.
        queued_data: What the ``execution.queued`` event says (a schedule's fire time,
            the node a test is of).
        finished_steps: Steps stored as already ``succeeded`` in the same transaction, so
            a worker that claims the run the moment it is queued resumes past them and
            never runs them (a node test's sampled upstream outputs).

    Returns:
        The stored ``execution.queued`` event row, with the new ``execution_id``.
    """
    engine = engine or get_engine()
    now = datetime.now(UTC)
    row = {
        "document": jsonable(document),
        "inputs": jsonable(inputs),
        "owner_id": owner_id,
        "workspace_id": workspace_id,
        "workflow_id": workflow_id,
        "workflow_version": workflow_version,
        "trigger": trigger,
        "parent_id": parent_id,
        "caller_id": caller.execution_id if caller else None,
        "caller_node": caller.node_id if caller else None,
        "status": ExecutionStatus.QUEUED,
        "usage": {},
        "last_seq": 1,
        "created_at": now,
        "wake_pending": False,
        "cancel_requested": False,
    }
    queued = {
        "seq": 1,
        "ts": now,
        "type": str(EventType.EXECUTION_QUEUED),
        "node_id": None,
        "data": jsonable(queued_data or {}),
    }
    finished_steps = list(finished_steps)
    if engine.dialect.name == "postgresql" and not finished_steps:
        queued["execution_id"] = _create_in_one_round_trip(engine, row, queued)
    else:
        queued["execution_id"] = _create(engine, row, queued, finished_steps)
    return queued


def _create_in_one_round_trip(engine: Engine, row: dict[str, Any], queued: dict[str, Any]) -> int:
    """:func:`create` on PostgreSQL: one statement (``store_sql.pg_create``), autocommitted."""
    sql = pg_create()
    with driver_connection(engine, autocommit=True) as driver:
        return driver.execute(sql.sql, sql.params({**row, **queued}), prepare=True).fetchone()[0]


def _create(
    engine: Engine,
    row: dict[str, Any],
    queued: dict[str, Any],
    finished_steps: list[FinishedStep],
) -> int:
    """:func:`create` as Core statements in one transaction (SQLite, or finished steps)."""
    now = row["created_at"]
    with engine.begin() as conn:
        commit_without_flush(conn)
        execution_id = conn.execute(
            insert(EXECUTIONS).values(**row).returning(EXECUTIONS.c.id)
        ).scalar_one()
        conn.execute(insert(EVENTS).values(execution_id=execution_id, **queued))
        steps = [
            {
                "execution_id": execution_id,
                "node_id": step.node_id,
                "type": step.type,
                "status": StepStatus.SUCCEEDED,
                "attempts": 0,
                "output": jsonable(step.output),
                "output_truncated": False,
                "usage": {},
                "started_at": now,
                "finished_at": now,
            }
            for step in finished_steps
        ]
        if steps:
            conn.execute(insert(STEPS), steps)
    return execution_id


def _lock_owner(conn: Connection, execution_id: int) -> None:
    """Serialise claims on SQLite, so two workers cannot both take an owner's last free
    slot: a first write takes the database's write lock for the transaction. (PostgreSQL
    locks per owner instead: see migration 0010's claim function.)"""
    conn.execute(
        update(EXECUTIONS)
        .where(EXECUTIONS.c.id == execution_id)
        .values(last_seq=EXECUTIONS.c.last_seq)
    )


def running_count(conn: Connection, owner_id: int) -> int:
    return conn.execute(
        select(func.count())
        .select_from(EXECUTIONS)
        .where(EXECUTIONS.c.owner_id == owner_id, EXECUTIONS.c.status == ExecutionStatus.RUNNING)
    ).scalar_one()


def claim(execution_id: int, worker: str) -> ClaimedRun | None:
    """Take a queued execution for ``worker`` with a compare-and-set.

    The task for ``execution_id`` is a token for its owner: it claims the owner's oldest
    queued execution, if the owner runs fewer than the limit. A token turned away by the
    limit is remembered as owed, and :func:`dispatch_waiting` pays it back when a run of
    that owner ends.

    Returns:
        The execution that is now running for ``worker``, with its document and inputs,
        or None when there is nothing to do (already taken, finished, or the owner is at
        the limit).
    """
    limit = get_settings().agentflow_max_concurrent_executions
    engine = get_engine()
    if engine.dialect.name == "postgresql":
        return _claim_in_one_round_trip(engine, execution_id, worker, limit)
    with engine.begin() as conn:
        row = conn.execute(
            select(EXECUTIONS.c.owner_id, EXECUTIONS.c.status).where(
                EXECUTIONS.c.id == execution_id
            )
        ).one_or_none()
        if row is None:
            return None
        owner = row.owner_id
        if owner is None:
            candidate = execution_id
        else:
            _lock_owner(conn, execution_id)
            if running_count(conn, owner) >= limit:
                limits.owe(owner)
                return None
            candidate = oldest_queued(conn, owner)
            if candidate is None:
                return None
        now = datetime.now(UTC)  # under the owner's lock: starts in order, times too
        taken = conn.execute(
            update(EXECUTIONS)
            .where(EXECUTIONS.c.id == candidate, EXECUTIONS.c.status == ExecutionStatus.QUEUED)
            .values(
                status=ExecutionStatus.RUNNING,
                worker=worker,
                heartbeat_at=now,
                started_at=func.coalesce(EXECUTIONS.c.started_at, now),
                finished_at=None,
            )
            .returning(
                EXECUTIONS.c.document,
                EXECUTIONS.c.inputs,
                EXECUTIONS.c.caller_id,
                EXECUTIONS.c.workspace_id,
            )
        ).one_or_none()
        if taken is None:
            return None
        has_steps = conn.execute(
            select(exists().where(StepRun.__table__.c.execution_id == candidate))
        ).scalar_one()
    return ClaimedRun(
        candidate,
        owner,
        taken.document,
        taken.inputs,
        has_steps,
        taken.caller_id is not None,
        taken.workspace_id,
    )


def _claim_in_one_round_trip(
    engine: Any, execution_id: int, worker: str, limit: int
) -> ClaimedRun | None:
    """:func:`claim` on PostgreSQL: the same rules, in one call of the database's claim
    function (:data:`.store_sql.PG_CLAIM`), prepared and autocommitted.

    Two statements and a COMMIT in one pipeline took 0.31 ms of the worker's CPU per
    claim; the call takes 0.15 (migration 0010 says how it was measured).
    """
    params = {"id": execution_id, "worker": worker, "limit": limit}
    with driver_connection(engine, autocommit=True) as driver:
        row = driver.execute(PG_CLAIM, params, prepare=True).fetchone()
    if row is None:
        return None
    owner, running, taken, document, inputs, has_steps, has_caller, workspace_id = row
    if taken is not None:
        return ClaimedRun(taken, owner, document, inputs, has_steps, has_caller, workspace_id)
    if owner is not None and running >= limit:
        limits.owe(owner)
    return None


def renew_leases(execution_ids: Iterable[int], worker: str) -> set[int]:
    """Touch the rows ``worker`` runs; answer the ids that were taken away from it.

    Taken away means the reaper gave the run back (``queued``) or another worker runs it
    now: the caller should stop running it. A row this worker itself moved on (finished,
    or paused ``waiting``) a moment before the renewal is not taken away, and the
    caller's tidying after it (waking a caller, starting an error workflow) goes on.
    """
    ids = list(execution_ids)
    if not ids:
        return set()
    with get_engine().begin() as conn:
        held = set(
            conn.execute(
                update(EXECUTIONS)
                .where(
                    EXECUTIONS.c.id.in_(ids),
                    EXECUTIONS.c.worker == worker,
                    EXECUTIONS.c.status == ExecutionStatus.RUNNING,
                )
                .values(heartbeat_at=datetime.now(UTC))
                .returning(EXECUTIONS.c.id)
            ).scalars()
        )
        rest = [i for i in ids if i not in held]
        if not rest:
            return set()
        return set(
            conn.execute(
                select(EXECUTIONS.c.id).where(
                    EXECUTIONS.c.id.in_(rest),
                    EXECUTIONS.c.status.in_([ExecutionStatus.QUEUED, ExecutionStatus.RUNNING]),
                )
            ).scalars()
        )


def cancel(actor: Actor, execution_id: int) -> ExecutionStatus:
    """Stop a run: a queued or waiting one ends at once, a running one within 2 s.

    Returns:
        The status after the request (``cancelled``, or ``running`` until the worker stops).

    Raises:
        NotFound: not the actor's execution.
        Conflict: it has already ended.
    """
    with get_engine().begin() as conn:
        row = owned_execution(conn, actor, execution_id, Can.RUN)
        status = ExecutionStatus(row.status)
        if status.finished:
            raise Conflict(f"execution {execution_id} has already {status}")
        ended = conn.execute(
            update(EXECUTIONS)
            .where(
                EXECUTIONS.c.id == execution_id,
                EXECUTIONS.c.status.in_([ExecutionStatus.QUEUED, ExecutionStatus.WAITING]),
            )
            .values(
                status=ExecutionStatus.CANCELLED,
                cancel_requested=True,
                finished_at=datetime.now(UTC),
                error="cancelled before it started"
                if status == ExecutionStatus.QUEUED
                else "cancelled while waiting",
                worker=None,
            )
        ).rowcount
        if not ended:  # running (or a worker claimed it a moment ago): the runner stops it
            conn.execute(
                update(EXECUTIONS)
                .where(EXECUTIONS.c.id == execution_id)
                .values(cancel_requested=True)
            )
            return ExecutionStatus.RUNNING
        event = append_event(conn, execution_id, EventType.EXECUTION_CANCELLED)
    publish([event])
    if status == ExecutionStatus.WAITING:
        # Imported here: children and approvals queue runs, which needs this module.
        from agentflow_app.services import approvals
        from agentflow_app.services.executions import children

        approvals.close_pending(execution_id)
        children.cancel_children(execution_id)
        children.child_ended(execution_id)
    return ExecutionStatus.CANCELLED


def request_cancel(execution_id: int, *, engine: Engine | None = None) -> None:
    """Ask the run to stop; its store sees the flag within ``CANCEL_CACHE_S`` of a poll."""
    engine = engine or get_engine()
    with engine.begin() as conn:
        conn.execute(
            update(EXECUTIONS).where(EXECUTIONS.c.id == execution_id).values(cancel_requested=True)
        )


def reopen(conn: Connection, execution_id: int) -> bool:
    """Put a failed or cancelled execution back to ``queued`` (a retry), in ``conn``'s
    transaction; False when it is in any other status."""
    retryable = [ExecutionStatus.FAILED, ExecutionStatus.CANCELLED]
    return bool(
        conn.execute(
            update(EXECUTIONS)
            .where(EXECUTIONS.c.id == execution_id, EXECUTIONS.c.status.in_(retryable))
            .values(
                status=ExecutionStatus.QUEUED,
                cancel_requested=False,
                error=None,
                outputs=None,
                finished_at=None,
                worker=None,
            )
        ).rowcount
    )


def recover(
    conn: Connection, row: Any, now: datetime, *, recoveries: int, give_up: bool
) -> dict[str, Any] | None:
    """Take back a ``running`` execution whose lease ran out, in ``conn``'s transaction.

    It goes back to ``queued`` to be resumed by whichever worker claims it next, or, with
    ``give_up``, ends ``failed`` saying how often its worker vanished (``recoveries`` is
    how often it was recovered before). The compare-and-set names the lease it found
    stale (``row.heartbeat_at``), so a run that came back to life, or that another reaper
    took first, is left alone.

    Returns:
        The event row to publish once committed, or None when nothing changed.
    """
    gone = f"its worker ({row.worker or 'unknown'}) stopped answering"
    error = (
        f"{gone} {recoveries + 1} times; the run was given up. Retry it when the workers "
        "are healthy"
    )
    values: dict[str, Any] = (
        {"status": ExecutionStatus.FAILED, "error": error, "finished_at": now, "worker": None}
        if give_up
        else {"status": ExecutionStatus.QUEUED, "worker": None}
    )
    changed = conn.execute(
        update(EXECUTIONS)
        .where(
            EXECUTIONS.c.id == row.id,
            EXECUTIONS.c.status == ExecutionStatus.RUNNING,
            EXECUTIONS.c.heartbeat_at == row.heartbeat_at,
        )
        .values(**values)
    ).rowcount
    if not changed:
        return None
    if give_up:
        return append_event(conn, row.id, EventType.EXECUTION_FAILED, error=error)
    return append_event(
        conn,
        row.id,
        EventType.EXECUTION_QUEUED,
        recovered=True,
        reason=f"{gone}; resuming from its finished steps",
    )


def mark_started(
    execution_id: int, *, worker: str | None = None, engine: Engine | None = None
) -> None:
    """Set the row ``running`` (first start or a resume); ``started_at`` keeps the first start.

    Raises:
        NotFound: when there is no such execution.
    """
    engine = engine or get_engine()
    now = datetime.now(UTC)
    with engine.begin() as conn:
        row = conn.execute(
            select(EXECUTIONS.c.started_at).where(EXECUTIONS.c.id == execution_id)
        ).one_or_none()
        if row is None:
            raise NotFound(f"execution {execution_id} does not exist")
        conn.execute(
            update(EXECUTIONS)
            .where(EXECUTIONS.c.id == execution_id)
            .values(
                status=ExecutionStatus.RUNNING,
                started_at=row.started_at or now,
                finished_at=None,
                error=None,
                worker=worker,
                heartbeat_at=now,
            )
        )


def mark_finished(
    execution_id: int,
    *,
    status: ExecutionStatus | str,
    outputs: dict[str, Any] | None = None,
    error: str | None = None,
    usage: dict[str, Any] | None = None,
    engine: Engine | None = None,
) -> None:
    """Record how a run ended (or paused: ``waiting`` sets no ``finished_at``)."""
    engine = engine or get_engine()
    status = ExecutionStatus(status)
    with engine.begin() as conn:
        conn.execute(
            update(EXECUTIONS)
            .where(EXECUTIONS.c.id == execution_id)
            .values(
                status=status,
                outputs=jsonable(outputs),
                error=error,
                usage=jsonable(usage or {}),
                finished_at=datetime.now(UTC) if status.finished else None,
                worker=None,
            )
        )
