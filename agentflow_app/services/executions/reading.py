"""Reading executions: the SPEC §9 record, the history list, stored events, following a run.

Every entry point that takes an :class:`Actor` checks ownership, once, for the REST API
and the Reflex states alike: another user's execution is :class:`NotFound`, like a
missing one. :class:`ExecutionRecord` is the record's schema (the API's
``response_model``); :func:`read_record` builds it as JSON-ready data.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from psycopg.rows import dict_row, namedtuple_row
from pydantic import BaseModel, PlainSerializer
from sqlalchemy import (
    Engine,
    bindparam,
    func,
    select,
)

from agentflow_app.db import driver_connection, get_engine, reading, statement_text
from agentflow_app.engine.events import Event, EventType, StepRecord
from agentflow_app.engine.status import ExecutionStatus, StepStatus
from agentflow_app.errors import InvalidInput, NotFound
from agentflow_app.models import User, Workflow
from agentflow_app.services import workspaces
from agentflow_app.services.executions.events import parse
from agentflow_app.services.executions.rows import (
    EVENTS,
    EXECUTIONS,
    STEPS,
    TEST_TRIGGER,
    aware,
    duration,
    iso,
    owned_execution,
    owned_workflow,
    step_record,
)
from agentflow_app.services.executions.subscription import Subscription
from agentflow_app.services.users import Actor
from agentflow_app.services.workspaces import Can

log = logging.getLogger(__name__)

#: When nothing arrives on the channel for this long, the follower reads the database.
FOLLOW_POLL_S = 2.0
MAX_PAGE = 200


#: A timestamp of the record: ISO 8601 with its offset, written as ``datetime.isoformat``
#: writes it (``+00:00``), which is what the record has always said on the wire.
IsoTime = Annotated[datetime, PlainSerializer(lambda value: value.isoformat(), return_type=str)]


class StepView(BaseModel):
    """One step of the record."""

    node_id: str
    type: str
    status: StepStatus
    attempts: int
    started_at: IsoTime | None
    finished_at: IsoTime | None
    output: Any = None
    output_truncated: bool = False
    error: str | None
    usage: dict[str, Any] | None
    #: Runs this step started (a sub-workflow: one; a map: one per item): the first one's
    #: id, to open it, and how many.
    child_execution_id: int | None = None
    child_runs: int = 0


class ExecutionRecord(BaseModel):
    """The SPEC §9 execution record: what the API, the CLI's ``--json`` and the live view read."""

    id: int
    workflow_id: int | None
    workflow_version: int | None
    status: ExecutionStatus
    inputs: dict[str, Any] | None
    outputs: dict[str, Any] | None
    error: str | None
    created_at: IsoTime
    started_at: IsoTime | None
    finished_at: IsoTime | None
    usage: dict[str, Any] | None
    steps: list[StepView]
    #: The run whose step started this one (a sub-workflow, a map item, an error
    #: workflow), that step, and a map item's index; None for a run nobody called.
    caller_id: int | None = None
    caller_node: str | None = None
    item_index: int | None = None
    #: While waiting: when a waiting step asked to be looked at again.
    wake_at: IsoTime | None = None
    #: The workspace it belongs to, and the account that started it (a webhook's or a
    #: schedule's run: the workflow's creator; None once that account is deleted).
    workspace_id: int | None = None
    started_by: int | None = None


class ExecutionSummary(BaseModel):
    """A row of the history list."""

    id: int
    workflow_id: int | None
    workflow_name: str | None
    workflow_version: int | None
    status: ExecutionStatus
    trigger: str
    parent_id: int | None
    caller_id: int | None = None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    usage: dict[str, Any]
    #: Who started it (its email too, for the history list); None once deleted.
    started_by: int | None = None
    started_by_email: str | None = None


class ExecutionPage(BaseModel):
    items: list[ExecutionSummary]
    total: int
    limit: int
    offset: int


# The record's two reads, built once: building a Core statement (and its cache key) per
# call cost more than a third of a record read's CPU, and ``/run`` reads one per run. The
# steps come with the child runs their node started (a sub-workflow's, a map's items),
# joined in rather than asked for in a third statement.
_RECORD_ROW = select(EXECUTIONS).where(EXECUTIONS.c.id == bindparam("id"))
#: The same without the pinned document, which the record itself does not show: decoding
#: it was most of reading the row for a real workflow's run (tens of kB of prompts).
_RECORD_ROW_LEAN = select(*(c for c in EXECUTIONS.c if c.name != "document")).where(
    EXECUTIONS.c.id == bindparam("id")
)
_CHILDREN = (
    select(
        EXECUTIONS.c.caller_node,
        func.min(EXECUTIONS.c.id).label("first_child"),
        func.count().label("child_runs"),
    )
    .where(EXECUTIONS.c.caller_id == bindparam("id"), EXECUTIONS.c.caller_node.is_not(None))
    .group_by(EXECUTIONS.c.caller_node)
    .subquery()
)
_STEPS = (
    select(STEPS, _CHILDREN.c.first_child, _CHILDREN.c.child_runs)
    .outerjoin(_CHILDREN, _CHILDREN.c.caller_node == STEPS.c.node_id)
    .where(STEPS.c.execution_id == bindparam("id"))
    .order_by(STEPS.c.id)
)


def read_record(
    execution_id: int, *, engine: Engine | None = None, document: bool = True
) -> tuple[dict[str, Any], Any]:
    """The SPEC §9 record and the row it was built from (owner, document, trigger...).

    Two reads on one connection: a page that opens a run needs the record, its owner and
    its pinned document, and each separate read cost a pool checkout and a round trip.
    ``document=False`` leaves the document out of the row.

    Raises:
        NotFound: when there is no such execution.
    """
    ids = {"id": execution_id}
    with reading(engine) as conn:
        row = conn.execute(_RECORD_ROW if document else _RECORD_ROW_LEAN, ids).one_or_none()
        if row is None:
            raise NotFound(f"execution {execution_id} does not exist")
        steps = list(conn.execute(_STEPS, ids).mappings())
    return _record(row, steps), row


def execution_record(execution_id: int, *, engine: Engine | None = None) -> dict[str, Any]:
    """The SPEC §9 execution record, JSON-ready (ISO timestamps), steps in start order.

    On PostgreSQL its two statements go out together (:func:`_pg_rows`); the record is
    the same either way (``tests/integration/executions/test_reading.py``).

    Raises:
        NotFound: when there is no such execution.
    """
    engine = engine or get_engine()
    if engine.dialect.name != "postgresql":
        return read_record(execution_id, engine=engine, document=False)[0]
    row, steps = _pg_rows(engine, execution_id)
    if row is None:
        raise NotFound(f"execution {execution_id} does not exist")
    return _record(row, steps)


def _pg_rows(engine: Engine, execution_id: int) -> tuple[Any, list[dict[str, Any]]]:
    """The record's row and its steps on PostgreSQL: both statements, prepared and
    autocommitted, in one psycopg pipeline, one round trip where there were two, and no
    Core result machinery (0.34 ms of CPU per read where it was 0.47, for a three-step
    run). psycopg gives the values SQLAlchemy would (its JSON and time stamps are the
    driver's)."""
    row_sql = statement_text(_RECORD_ROW_LEAN, engine.dialect)
    steps_sql = statement_text(_STEPS, engine.dialect)
    params = {"id": execution_id}
    with driver_connection(engine, autocommit=True) as driver:
        found = driver.cursor(row_factory=namedtuple_row)
        steps = driver.cursor(row_factory=dict_row)
        with driver.pipeline():
            found.execute(row_sql, params, prepare=True)
            steps.execute(steps_sql, params, prepare=True)
        return found.fetchone(), steps.fetchall()


def _record(row: Any, steps: list[Any]) -> dict[str, Any]:
    """The record of an executions row and its steps' rows (with their child runs)."""
    step_json = []
    for step in steps:
        step_json.append(_step_json(step_record(step)))
        if step["first_child"] is not None:
            step_json[-1]["child_execution_id"] = step["first_child"]
            step_json[-1]["child_runs"] = step["child_runs"]
    return {
        "id": row.id,
        "workflow_id": row.workflow_id,
        "workflow_version": row.workflow_version,
        "status": str(row.status),
        "inputs": row.inputs,
        "outputs": row.outputs,
        "error": row.error,
        "created_at": iso(row.created_at),
        "started_at": iso(row.started_at),
        "finished_at": iso(row.finished_at),
        "usage": row.usage,
        "steps": step_json,
        "caller_id": row.caller_id,
        "caller_node": row.caller_node,
        "item_index": row.item_index,
        "wake_at": iso(row.wake_at),
        "workspace_id": row.workspace_id,
        "started_by": row.owner_id,
    }


def _step_json(step: StepRecord) -> dict[str, Any]:
    return {
        "node_id": step.node_id,
        "type": step.type,
        "status": str(step.status),
        "attempts": step.attempts,
        "started_at": iso(step.started_at),
        "finished_at": iso(step.finished_at),
        "output": step.output,
        "output_truncated": step.output_truncated,
        "error": step.error,
        "usage": step.usage,
    }


def check_owner(actor: Actor, execution_id: int) -> None:
    """Raises NotFound unless ``execution_id`` is the actor's."""
    with reading() as conn:
        owned_execution(conn, actor, execution_id)


def get(actor: Actor, execution_id: int) -> dict[str, Any]:
    """The SPEC §9 execution record.

    Raises:
        NotFound: not the actor's execution.
    """
    return get_with_row(actor, execution_id)[0]


def get_with_row(actor: Actor, execution_id: int) -> tuple[dict[str, Any], Any]:
    """The SPEC §9 record and its ``executions`` row (the pinned document, the trigger).

    Raises:
        NotFound: not the actor's execution (the same answer as for no execution).
    """
    try:
        record, row = read_record(execution_id)
    except NotFound:
        row = None
    missing = f"execution {execution_id} not found"
    workspaces.visible(actor, row.workspace_id if row is not None else None, missing)
    return record, row


def list_executions(
    actor: Actor,
    *,
    workflow_id: int | None = None,
    status: ExecutionStatus | str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
    include_tests: bool = False,
) -> ExecutionPage:
    """The actor's executions, newest first, filtered and paginated.

    Node tests (trigger ``test``) are left out unless ``include_tests``, and a map's item
    runs always (its step links to them).

    Raises:
        NotFound: ``workflow_id`` is given and is not the actor's workflow.
        InvalidInput: a bad status, limit or offset.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    if offset < 0:
        raise InvalidInput(f"offset must be 0 or more, got {offset}")
    if status is not None:
        try:
            status = ExecutionStatus(status)
        except ValueError:
            known = ", ".join(s.value for s in ExecutionStatus)
            raise InvalidInput(f"unknown status {status!r}; use one of {known}") from None
    # A map's items are shown on the map's step, not as thousands of history rows.
    # One workflow's runs wherever the actor may see it; else the acting workspace's.
    if workflow_id is None:
        workspaces.require_here(actor, Can.READ, "see runs")
    conditions = [EXECUTIONS.c.item_index.is_(None)]
    if workflow_id is None:
        conditions.append(EXECUTIONS.c.workspace_id == actor.workspace_id)
    if not include_tests:
        conditions.append(EXECUTIONS.c.trigger != TEST_TRIGGER)
    if workflow_id is not None:
        conditions.append(EXECUTIONS.c.workflow_id == workflow_id)
    if status is not None:
        conditions.append(EXECUTIONS.c.status == status)
    if since is not None:
        conditions.append(EXECUTIONS.c.created_at >= aware(since))
    if until is not None:
        conditions.append(EXECUTIONS.c.created_at < aware(until))
    with reading() as conn:
        if workflow_id is not None:
            owned_workflow(conn, actor, workflow_id)
        total = conn.execute(
            select(func.count()).select_from(EXECUTIONS).where(*conditions)
        ).scalar_one()
        rows = conn.execute(
            select(
                EXECUTIONS.c.id,
                EXECUTIONS.c.workflow_id,
                Workflow.name.label("workflow_name"),
                EXECUTIONS.c.workflow_version,
                EXECUTIONS.c.status,
                EXECUTIONS.c.trigger,
                EXECUTIONS.c.parent_id,
                EXECUTIONS.c.caller_id,
                EXECUTIONS.c.error,
                EXECUTIONS.c.created_at,
                EXECUTIONS.c.started_at,
                EXECUTIONS.c.finished_at,
                EXECUTIONS.c.usage,
                EXECUTIONS.c.owner_id.label("started_by"),
                User.email.label("started_by_email"),
            )
            .select_from(
                EXECUTIONS.outerjoin(
                    Workflow.__table__, Workflow.id == EXECUTIONS.c.workflow_id
                ).outerjoin(User.__table__, User.id == EXECUTIONS.c.owner_id)
            )
            .where(*conditions)
            .order_by(EXECUTIONS.c.created_at.desc(), EXECUTIONS.c.id.desc())
            .limit(limit)
            .offset(offset)
        ).all()
    items = [
        ExecutionSummary(**row._mapping, duration_s=duration(row.started_at, row.finished_at))
        for row in rows
    ]
    return ExecutionPage(items=items, total=total, limit=limit, offset=offset)


def events_after(execution_id: int, after_seq: int = 0) -> list[Event]:
    """Stored events of an execution with ``seq > after_seq``, in order (no owner check)."""
    with reading() as conn:
        rows = conn.execute(
            select(EVENTS.c.seq, EVENTS.c.ts, EVENTS.c.type, EVENTS.c.node_id, EVENTS.c.data)
            .where(EVENTS.c.execution_id == execution_id, EVENTS.c.seq > after_seq)
            .order_by(EVENTS.c.seq)
        ).all()
    return [
        Event(
            execution_id=execution_id,
            seq=row.seq,
            ts=aware(row.ts),
            type=EventType(row.type),
            node_id=row.node_id,
            data=row.data or {},
        )
        for row in rows
    ]


def _last_seq(execution_id: int) -> int:
    with reading() as conn:
        return conn.execute(
            select(EXECUTIONS.c.last_seq).where(EXECUTIONS.c.id == execution_id)
        ).scalar_one()


async def follow(actor: Actor, execution_id: int, after_seq: int = 0) -> AsyncIterator[Event]:
    """Every event after ``after_seq``: the stored ones, then live ones as they happen.

    Subscribes to the execution's Redis channel *before* reading the database, then
    yields by ``seq``: anything at or below the last yielded seq is a duplicate and is
    dropped; a jump in seq is filled from the database. When the channel stays quiet for
    :data:`FOLLOW_POLL_S` the database is read as well, so a lost publish only delays an
    event, and while Redis is away the database is all there is (:class:`.Subscription`).
    Ends after a terminal event that is the execution's latest (a retried run goes on after
    its old ``execution.failed``).

    Raises:
        NotFound: not the actor's execution (raised before anything is yielded).
    """
    await asyncio.to_thread(check_owner, actor, execution_id)
    async for event in follow_checked(execution_id, after_seq):
        yield event


async def follow_checked(execution_id: int, after_seq: int = 0) -> AsyncIterator[Event]:
    """:func:`follow` for a caller that has checked who may see the run already (a
    webhook's own run, a synchronous ``/run`` that just queued it)."""
    subscription = Subscription(execution_id)
    try:
        await subscription.open()
        last = after_seq
        pending = await asyncio.to_thread(events_after, execution_id, last)
        while True:
            for event in pending:
                if event.seq <= last:
                    continue
                last = event.seq
                yield event
                # Every terminal event is committed with the row's end (the store, cancel and
                # the reaper write both at once), so what a follower reads next agrees.
                if event.type.terminal and await asyncio.to_thread(_last_seq, execution_id) <= last:
                    return
            pending = []
            message = await subscription.next(FOLLOW_POLL_S)
            if message is None:  # quiet, or Redis is away: the database has everything
                pending = await asyncio.to_thread(events_after, execution_id, last)
                continue
            event = parse(message["data"])
            if event is None or event.seq <= last:
                continue
            if event.seq == last + 1:
                pending = [event]
            else:  # we missed some (subscribed late, a publish failed): read them back
                pending = await asyncio.to_thread(events_after, execution_id, last)
    finally:
        await subscription.close()
