"""Child runs: sub-workflows, map items and error workflows, linked to the run that called.

A child is an ordinary execution with ``caller_id`` / ``caller_node`` naming the run and
step that started it (and ``item_index`` for a map item), run by any worker like any
other. The calling step waits (``engine.errors.Wait``) holding nothing; when a child
ends, :func:`child_ended` wakes the caller (:func:`.waits.wake_in`).

A map keeps no per-item state in its own row: its items are child rows. All of them are
stored at once, the first ``concurrency`` queued and the rest ``waiting`` their turn;
each item that ends hands its turn to the next (:func:`child_ended`), so the map's own
run is only woken when the last item ends, or when one fails (it may have to stop the
rest). Progress reaches the live view as the calling step's ``step.log`` events, at most
one per :data:`PROGRESS_EVERY_S`.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, func, insert, select, update

from agentflow_app.db import get_engine
from agentflow_app.engine.events import EventType
from agentflow_app.engine.status import TERMINAL_EXECUTION, ExecutionStatus, StepStatus
from agentflow_app.errors import InvalidInput, NotFound
from agentflow_app.models import Workflow
from agentflow_app.redis_client import redis_or_none
from agentflow_app.services.executions.events import append_event, publish
from agentflow_app.services.executions.queueing import inputs_checker, queue_run
from agentflow_app.services.executions.rows import (
    EVENTS,
    EXECUTIONS,
    STEPS,
    TEST_TRIGGER,
    Caller,
    RunOwner,
    current_document,
    jsonable,
    owned_execution,
)
from agentflow_app.services.executions.waits import send, wake_in
from agentflow_app.services.users import Actor
from agentflow_app.settings import get_settings

log = logging.getLogger(__name__)

#: A map's progress is told to the live view at most this often (seconds).
PROGRESS_EVERY_S = 1.0
_FINISHED = [status.value for status in TERMINAL_EXECUTION]


class ChildOutcome(BaseModel):
    execution_id: int
    status: ExecutionStatus
    outputs: dict[str, Any] | None = None
    error: str | None = None


class MapProgress(BaseModel):
    total: int
    succeeded: int
    failed: int
    cancelled: int

    @property
    def done(self) -> int:
        return self.succeeded + self.failed + self.cancelled

    @property
    def unfinished(self) -> int:
        return self.total - self.done


class ItemResult(BaseModel):
    index: int
    execution_id: int
    status: ExecutionStatus
    outputs: dict[str, Any] | None = None
    error: str | None = None


def workflow_document(
    workspace_id: int | None, workflow_id: int
) -> tuple[dict[str, Any], int, str]:
    """The newest document, version and name of the workspace's workflow ``workflow_id``.

    Raises:
        NotFound: no such workflow in this workspace (another's looks the same).
    """
    with get_engine().connect() as conn:
        row = conn.execute(
            select(Workflow.id, Workflow.workspace_id, Workflow.version, Workflow.name).where(
                Workflow.id == workflow_id
            )
        ).one_or_none()
        if row is None or row.workspace_id != workspace_id:
            raise NotFound(f"workflow {workflow_id} not found")
        return current_document(conn, row.id, row.version), row.version, row.name


def depth(execution_id: int) -> int:
    """How many callers stand above ``execution_id`` (0 for a run nobody called)."""
    level, current = 0, execution_id
    with get_engine().connect() as conn:
        while True:
            caller = conn.execute(
                select(EXECUTIONS.c.caller_id).where(EXECUTIONS.c.id == current)
            ).scalar_one_or_none()
            if caller is None:
                return level
            level, current = level + 1, caller


def items_of(caller: Caller) -> tuple[Any, ...]:
    """The conditions that pick the runs one calling step started."""
    return (
        EXECUTIONS.c.caller_id == caller.execution_id,
        EXECUTIONS.c.caller_node == caller.node_id,
    )


def _existing(conn: Connection, caller: Caller) -> list[int]:
    return list(
        conn.execute(
            select(EXECUTIONS.c.id).where(*items_of(caller)).order_by(EXECUTIONS.c.id)
        ).scalars()
    )


def start_child(caller: Caller, owner: RunOwner, workflow_id: int, inputs: dict[str, Any]) -> int:
    """Queue one run of ``workflow_id`` as the child of ``caller``; its id.

    Idempotent per calling step: a step that runs again after its worker died finds the
    child it started and does not start another.

    Raises:
        NotFound: the workflow is not in the run's workspace.
        InputsError: the inputs do not match the child's trigger.
    """
    with get_engine().connect() as conn:
        existing = _existing(conn, caller)
    if existing:
        return existing[0]
    document, version, _ = workflow_document(owner.workspace_id, workflow_id)
    return queue_run(
        document,
        inputs,
        owner_id=owner.owner_id,
        workspace_id=owner.workspace_id,
        trigger="subworkflow",
        workflow_id=workflow_id,
        version=version,
        caller=caller,
    )


def start_map(
    caller: Caller, owner: RunOwner, workflow_id: int, items: list[Any], concurrency: int
) -> int:
    """Store one child run of ``workflow_id`` per item, the first ``concurrency`` queued.

    Each child's inputs are ``{item, index}``, checked against the child's trigger before
    anything is stored (one bad item refuses the map, naming the index). Idempotent per
    calling step, like :func:`start_child`.

    Returns:
        How many items the map has.

    Raises:
        NotFound: the workflow is not in the run's workspace.
        InvalidInput: an item's inputs do not match the child's trigger.
    """
    with get_engine().connect() as conn:
        existing = _existing(conn, caller)
    if existing:
        return len(existing)
    document, version, _ = workflow_document(owner.workspace_id, workflow_id)
    check = inputs_checker(document)
    values = []
    for index, item in enumerate(items):
        try:
            values.append(check({"item": item, "index": index}))
        except InvalidInput as exc:
            raise InvalidInput(f"item {index}: {exc}", exc.problems) from None
    now = datetime.now(UTC)
    stored_document = jsonable(document)
    rows = [
        {
            "document": stored_document,
            "inputs": jsonable(value),
            "owner_id": owner.owner_id,
            "workspace_id": owner.workspace_id,
            "workflow_id": workflow_id,
            "workflow_version": version,
            "trigger": "map",
            "caller_id": caller.execution_id,
            "caller_node": caller.node_id,
            "item_index": index,
            "status": ExecutionStatus.QUEUED if index < concurrency else ExecutionStatus.WAITING,
            "usage": {},
            "last_seq": 1 if index < concurrency else 0,
            "created_at": now,
            "wake_pending": False,
            "cancel_requested": False,
        }
        for index, value in enumerate(values)
    ]
    events = []
    with get_engine().begin() as conn:
        if rows:
            conn.execute(insert(EXECUTIONS), rows)
        first = conn.execute(
            select(EXECUTIONS.c.id)
            .where(
                *items_of(caller),
                EXECUTIONS.c.status == ExecutionStatus.QUEUED,
            )
            .order_by(EXECUTIONS.c.item_index)
        ).scalars()
        queued = list(first)
        for execution_id in queued:
            event = {
                "execution_id": execution_id,
                "seq": 1,
                "ts": now,
                "type": str(EventType.EXECUTION_QUEUED),
                "node_id": None,
                "data": {},
            }
            conn.execute(insert(EVENTS).values(**event))
            events.append(event)
    publish(events)
    send(queued)
    return len(rows)


def child_outcome(child_id: int) -> ChildOutcome:
    """How child run ``child_id`` stands (``outputs`` and ``error`` once it ended)."""
    with get_engine().connect() as conn:
        row = conn.execute(
            select(
                EXECUTIONS.c.id, EXECUTIONS.c.status, EXECUTIONS.c.outputs, EXECUTIONS.c.error
            ).where(EXECUTIONS.c.id == child_id)
        ).one_or_none()
    if row is None:
        return ChildOutcome(
            execution_id=child_id, status=ExecutionStatus.FAILED, error="it was deleted"
        )
    return ChildOutcome(
        execution_id=row.id, status=row.status, outputs=row.outputs, error=row.error
    )


def map_progress(caller: Caller) -> MapProgress:
    """How far the map of ``caller`` has got, counted from its item rows."""
    with get_engine().connect() as conn:
        counts = dict(
            conn.execute(
                select(EXECUTIONS.c.status, func.count())
                .where(*items_of(caller))
                .group_by(EXECUTIONS.c.status)
            ).all()
        )
    return MapProgress(
        total=sum(counts.values()),
        succeeded=counts.get(ExecutionStatus.SUCCEEDED, 0),
        failed=counts.get(ExecutionStatus.FAILED, 0),
        cancelled=counts.get(ExecutionStatus.CANCELLED, 0),
    )


def map_results(caller: Caller) -> list[ItemResult]:
    """Every item of the map of ``caller``, in item order."""
    with get_engine().connect() as conn:
        rows = conn.execute(
            select(
                EXECUTIONS.c.item_index,
                EXECUTIONS.c.id,
                EXECUTIONS.c.status,
                EXECUTIONS.c.outputs,
                EXECUTIONS.c.error,
            )
            .where(*items_of(caller))
            .order_by(EXECUTIONS.c.item_index)
        ).all()
    return [
        ItemResult(
            index=row.item_index,
            execution_id=row.id,
            status=row.status,
            outputs=row.outputs,
            error=row.error,
        )
        for row in rows
    ]


def cancel_children(execution_id: int, *, node_id: str | None = None) -> int:
    """Stop every unfinished child of ``execution_id`` (of one step, with ``node_id``),
    and theirs: queued and waiting ones end at once, running ones within 2 s.

    Returns:
        How many runs were told to stop.
    """
    stopped = 0
    parents = [(execution_id, node_id)]
    events: list[dict[str, Any]] = []
    while parents:
        parent, node = parents.pop()
        with get_engine().begin() as conn:
            where = [
                EXECUTIONS.c.caller_id == parent,
                EXECUTIONS.c.status.not_in(_FINISHED),
            ]
            if node is not None:
                where.append(EXECUTIONS.c.caller_node == node)
            children = conn.execute(select(EXECUTIONS.c.id, EXECUTIONS.c.status).where(*where))
            for child in children.all():
                stopped += 1
                parents.append((child.id, None))
                ended = conn.execute(
                    update(EXECUTIONS)
                    .where(
                        EXECUTIONS.c.id == child.id,
                        EXECUTIONS.c.status.in_([ExecutionStatus.QUEUED, ExecutionStatus.WAITING]),
                    )
                    .values(
                        status=ExecutionStatus.CANCELLED,
                        cancel_requested=True,
                        finished_at=datetime.now(UTC),
                        error="cancelled with the run that started it",
                        wake_at=None,
                    )
                ).rowcount
                if ended:
                    events.append(append_event(conn, child.id, EventType.EXECUTION_CANCELLED))
                else:
                    conn.execute(
                        update(EXECUTIONS)
                        .where(EXECUTIONS.c.id == child.id)
                        .values(cancel_requested=True)
                    )
    publish(events)
    return stopped


def child_ended(execution_id: int) -> None:
    """After a run ended: hand a map item's turn on, tell the caller, wake it if it must.

    A map item that ends queues the next item waiting its turn; the map's run is woken
    when no item is left unfinished, or when an item failed (the map may stop). Any other
    child wakes its caller.
    """
    with get_engine().connect() as conn:
        row = conn.execute(
            select(
                EXECUTIONS.c.caller_id,
                EXECUTIONS.c.caller_node,
                EXECUTIONS.c.item_index,
                EXECUTIONS.c.status,
            ).where(EXECUTIONS.c.id == execution_id)
        ).one_or_none()
    if row is None or row.caller_id is None:
        return
    caller = Caller(row.caller_id, row.caller_node)
    status = ExecutionStatus(row.status)
    events: list[dict[str, Any]] = []
    to_send: list[int] = []
    with get_engine().begin() as conn:
        wake_caller = True
        if row.item_index is not None:
            started = None
            if status != ExecutionStatus.CANCELLED:
                started = _next_item(conn, caller, after=row.item_index)
            if started is not None:  # the map goes on: its run is woken only for a failure
                events.append(started[1])
                to_send.append(started[0])
                wake_caller = status == ExecutionStatus.FAILED
            else:  # no item left to start: the last ones end; the last of all wakes the map
                unfinished = conn.execute(
                    select(func.count()).where(
                        *items_of(caller),
                        EXECUTIONS.c.status.not_in(_FINISHED),
                    )
                ).scalar_one()
                wake_caller = unfinished == 0 or status == ExecutionStatus.FAILED
        if wake_caller and caller.node_id is not None:
            event = wake_in(conn, caller.execution_id, f"a child run ({execution_id}) ended")
            if event is not None:
                events.append(event)
                to_send.append(caller.execution_id)
    publish(events)
    send(to_send)
    if row.item_index is not None:
        tell_progress(caller)


def _next_item(
    conn: Connection, caller: Caller, *, after: int
) -> tuple[int, dict[str, Any]] | None:
    """Queue the map's lowest item still waiting its turn; its id and queued event.

    Items start in index order, so the next one is above ``after`` (the index of the item
    that just ended): the index walk skips the finished ones instead of reading them all,
    which keeps a 10,000-item map linear.
    """
    candidate = conn.execute(
        select(EXECUTIONS.c.id)
        .where(
            *items_of(caller),
            EXECUTIONS.c.item_index > after,
            EXECUTIONS.c.status == ExecutionStatus.WAITING,
            EXECUTIONS.c.last_seq == 0,
        )
        .order_by(EXECUTIONS.c.item_index)
        .limit(1)
    ).scalar_one_or_none()
    if candidate is None:
        return None
    taken = conn.execute(
        update(EXECUTIONS)
        .where(
            EXECUTIONS.c.id == candidate,
            EXECUTIONS.c.status == ExecutionStatus.WAITING,
            EXECUTIONS.c.last_seq == 0,
        )
        .values(status=ExecutionStatus.QUEUED)
    ).rowcount
    if not taken:
        return None  # another item's end took it a moment ago
    return candidate, append_event(conn, candidate, EventType.EXECUTION_QUEUED)


def tell_progress(caller: Caller) -> None:
    """A ``step.log`` on the map's step with ``done / total``, at most once a second."""
    redis = redis_or_none()
    key = f"agentflow:map-progress:{caller.execution_id}:{caller.node_id}"
    try:
        if redis is not None and not redis.set(key, "1", nx=True, px=int(PROGRESS_EVERY_S * 1000)):
            return
        progress = map_progress(caller)
        with get_engine().begin() as conn:
            event = append_event(
                conn,
                caller.execution_id,
                EventType.STEP_LOG,
                caller.node_id,
                message=f"{progress.done} / {progress.total} items done",
                done=progress.done,
                total=progress.total,
                failed=progress.failed,
            )
        publish([event])
    except Exception as exc:  # progress is a courtesy: never fail a run over it
        log.warning("map progress of execution %s: %s", caller.execution_id, exc)


def start_error_workflow(execution_id: int) -> int | None:
    """Run the failed run's ``error_workflow_id`` once, as its linked child; the new id.

    Its inputs are ``{execution_id, workflow_id, workflow_name, failed_node, error, url}``
    (kept whatever its trigger declares). A run that is itself an error workflow's never
    starts one, so a failing error workflow cannot set off a chain.
    """
    with get_engine().connect() as conn:
        row = conn.execute(
            select(
                EXECUTIONS.c.id,
                EXECUTIONS.c.owner_id,
                EXECUTIONS.c.workspace_id,
                EXECUTIONS.c.workflow_id,
                EXECUTIONS.c.trigger,
                EXECUTIONS.c.document,
                EXECUTIONS.c.error,
            ).where(EXECUTIONS.c.id == execution_id)
        ).one_or_none()
        if row is None or row.trigger in ("error", TEST_TRIGGER):
            return None
        target = (row.document or {}).get("error_workflow_id")
        if not isinstance(target, int) or isinstance(target, bool):
            return None
        if conn.execute(
            select(EXECUTIONS.c.id).where(
                EXECUTIONS.c.caller_id == execution_id, EXECUTIONS.c.trigger == "error"
            )
        ).first():
            return None  # one per failure: a worker that died after starting it
        failed_node = conn.execute(
            select(STEPS.c.node_id)
            .where(STEPS.c.execution_id == execution_id, STEPS.c.status == StepStatus.FAILED)
            .order_by(STEPS.c.finished_at)
            .limit(1)
        ).scalar_one_or_none()
    base = get_settings().agentflow_public_url.rstrip("/")
    inputs = {
        "execution_id": execution_id,
        "workflow_id": row.workflow_id,
        "workflow_name": (row.document or {}).get("name"),
        "failed_node": failed_node,
        "error": row.error,
        "url": f"{base}/executions/{execution_id}",
    }
    try:
        document, version, _ = workflow_document(row.workspace_id, target)
        return queue_run(
            document,
            inputs,
            owner_id=row.owner_id,
            workspace_id=row.workspace_id,
            trigger="error",
            workflow_id=target,
            version=version,
            caller=Caller(execution_id, None),
            allow_extra=True,
        )
    except (NotFound, InvalidInput) as exc:
        log.warning(
            "execution %s: its error workflow %s did not start: %s", execution_id, target, exc
        )
        return None


def item_run(actor: Actor, execution_id: int, node_id: str, index: int) -> int:
    """The run of item ``index`` of the actor's map step ``node_id``, to open it.

    Raises:
        NotFound: not the actor's execution, or no such item.
    """
    with get_engine().connect() as conn:
        owned_execution(conn, actor, execution_id)
        found = conn.execute(
            select(EXECUTIONS.c.id).where(
                EXECUTIONS.c.caller_id == execution_id,
                EXECUTIONS.c.caller_node == node_id,
                EXECUTIONS.c.item_index == index,
            )
        ).scalar_one_or_none()
    if found is None:
        raise NotFound(f"step {node_id!r} has no item {index}")
    return found
