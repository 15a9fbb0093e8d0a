"""Executions as users see them: start, read, list, cancel, retry, re-run, follow, dashboard.

Every entry point that takes an :class:`Actor` checks ownership here, once, for the REST
API and the Reflex states alike: another user's execution is :class:`NotFound`, like a
missing one.

The queue side lives here too, because it is business rules, not plumbing:

* :func:`claim` is the worker's compare-and-set (``queued`` → ``running``). It also
  enforces the per-user limit (``AGENTFLOW_MAX_CONCURRENT_EXECUTIONS``): a task message
  is a *token* for its owner, and claiming picks the owner's oldest queued execution, so
  extra runs wait ``queued`` and start in the order they were made, whichever message
  a worker happens to take first. A duplicate or spare token claims nothing.
* :func:`dispatch_waiting` re-sends a token the limit turned away when a run ends.
* :func:`reap` is the safety net the workers run on a timer: executions whose heartbeat
  went stale (their worker died) are queued again to resume, or failed after
  :data:`MAX_RECOVERIES`; owners with queued runs nobody picked up get a fresh token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, exists, func, insert, select, update

from agentflow_app.catalog import default_registry
from agentflow_app.db import get_engine
from agentflow_app.engine.errors import InvalidWorkflow
from agentflow_app.engine.events import Event, EventType
from agentflow_app.engine.status import TERMINAL_EXECUTION, ExecutionStatus
from agentflow_app.engine.validate import analyse
from agentflow_app.errors import Conflict, InvalidInput, NotFound
from agentflow_app.models import Execution, ExecutionEvent, StepRun, Workflow, WorkflowVersion
from agentflow_app.nodes.triggers import InputsError, validate_inputs
from agentflow_app.redis_client import get_async_redis, redis_or_none
from agentflow_app.services.credentials import credential_problems
from agentflow_app.services.execution_store import (
    ClaimedRun,
    channel,
    create_execution,
    event_json,
    read_record,
)
from agentflow_app.services.users import Actor
from agentflow_app.settings import get_settings
from tasks import dispatch

log = logging.getLogger(__name__)

E = Execution.__table__
EV = ExecutionEvent.__table__

#: A running execution's row is touched this often by its worker (seconds).
HEARTBEAT_S = 3.0
#: A running execution whose heartbeat is older than this lost its worker (seconds).
STALE_S = 12.0
#: How often every worker runs the reaper (seconds); a Redis lock keeps it to one at a time.
REAP_EVERY_S = 5.0
#: Queued this long with capacity free and still not started: give its owner a new token.
PICKUP_S = 10.0
#: A run recovered this many times is failed instead of queued again.
MAX_RECOVERIES = 3
#: At most one nudge token per owner per this many seconds.
NUDGE_TTL_S = 30
#: How long an owed token is remembered (the reaper covers anything older).
OWED_TTL_S = 24 * 3600
#: When nothing arrives on the channel for this long, the follower reads the database.
FOLLOW_POLL_S = 2.0
MAX_PAGE = 200
TRIGGERS = ("manual", "webhook", "schedule", "rerun")
#: The trigger of a node test's run ("Test this node" in the editor): a real execution of a
#: small document, kept out of the history and the run counts, where it would read as a
#: run of the workflow.
TEST_TRIGGER = "test"
WEBHOOK_TRIGGER = "trigger.webhook"


class ExecutionSummary(BaseModel):
    """A row of the history list."""

    id: int
    workflow_id: int | None
    workflow_name: str | None
    workflow_version: int | None
    status: ExecutionStatus
    trigger: str
    parent_id: int | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    usage: dict[str, Any]


class ExecutionPage(BaseModel):
    items: list[ExecutionSummary]
    total: int
    limit: int
    offset: int


class DayStats(BaseModel):
    """One day of the dashboard (UTC)."""

    day: date
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    #: queued, running or waiting
    active: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


class Dashboard(BaseModel):
    days: list[DayStats]
    total: int
    p50_duration_s: float | None
    p95_duration_s: float | None
    input_tokens: int
    output_tokens: int
    cost_usd: float


# -- reading the trigger ---------------------------------------------------------------------


def check_inputs(document: dict[str, Any], inputs: Any) -> dict[str, Any]:
    """The inputs a run of ``document`` starts with, checked against its trigger.

    Raises:
        InvalidWorkflow: the pinned document no longer validates.
        InputsError: (422) every input problem, each naming the trigger node and the input.
    """
    analysis = analyse(document, default_registry())
    if analysis.problems:
        raise InvalidWorkflow([problem.model_dump() for problem in analysis.problems])
    trigger = analysis.trigger
    specs = getattr(analysis.configs.get(trigger), "inputs", None)
    node_type = analysis.classes[trigger].type
    if not isinstance(specs, list):  # a schedule trigger: fixed values, merged at run time
        specs = []
    try:
        return validate_inputs(specs, inputs, allow_extra=node_type == WEBHOOK_TRIGGER)
    except InputsError as exc:
        problems = [{**p, "node_id": p.get("node_id") or trigger} for p in exc.problems]
        raise InputsError(str(exc), problems) from None


# -- starting --------------------------------------------------------------------------------


def _current_document(conn: Connection, workflow_id: int, version: int) -> dict[str, Any]:
    document = conn.execute(
        select(WorkflowVersion.document).where(
            WorkflowVersion.workflow_id == workflow_id, WorkflowVersion.version == version
        )
    ).scalar_one_or_none()
    if document is None:
        raise NotFound(f"workflow {workflow_id} has no version {version}")
    return document


def _owned_workflow(conn: Connection, actor: Actor, workflow_id: int) -> Any:
    row = conn.execute(
        select(Workflow.id, Workflow.owner_id, Workflow.version).where(Workflow.id == workflow_id)
    ).one_or_none()
    if row is None or row.owner_id != actor.id:
        raise NotFound(f"workflow {workflow_id} not found")
    return row


def _queue(
    owner_id: int,
    workflow_id: int,
    version: int,
    document: dict[str, Any],
    inputs: Any,
    trigger: str,
    parent_id: int | None = None,
) -> int:
    values = check_inputs(document, inputs)
    if problems := credential_problems(owner_id, document):
        raise InvalidWorkflow(problems)
    execution_id = create_execution(
        document,
        values,
        owner_id=owner_id,
        workflow_id=workflow_id,
        workflow_version=version,
        trigger=trigger,
        parent_id=parent_id,
        redis=redis_or_none(),
    )
    dispatch.enqueue_execution(execution_id)
    return execution_id


def start(actor: Actor, workflow_id: int, inputs: Any = None, trigger: str = "manual") -> int:
    """Queue a run of the workflow's newest version and return its id at once.

    The document is pinned on the execution, so saving the workflow later never changes a
    run that is queued or in flight.

    Raises:
        NotFound: not the actor's workflow.
        InputsError: (422) the inputs do not match the trigger.
    """
    if trigger not in TRIGGERS:
        raise InvalidInput(f"unknown trigger {trigger!r}; use one of {', '.join(TRIGGERS)}")
    with get_engine().connect() as conn:
        workflow = _owned_workflow(conn, actor, workflow_id)
        document = _current_document(conn, workflow.id, workflow.version)
    return _queue(actor.id, workflow.id, workflow.version, document, inputs, trigger)


def hook_workflow(hook_token: str) -> int:
    """The id of the workflow listening on ``hook_token``.

    Raises:
        NotFound: no workflow has this token (or its trigger is no longer a webhook).
    """
    with get_engine().connect() as conn:
        workflow_id = conn.execute(
            select(Workflow.id).where(Workflow.hook_token == hook_token)
        ).scalar_one_or_none()
    if workflow_id is None:
        raise NotFound("no workflow listens on this webhook URL")
    return workflow_id


def start_from_hook(hook_token: str, body: Any) -> int:
    """Queue a run of the workflow whose webhook token is ``hook_token``, as its owner.

    Raises:
        NotFound: no workflow has this token.
        InputsError: (422) the body is not a JSON object or does not match the trigger.
    """
    with get_engine().connect() as conn:
        workflow = conn.execute(
            select(Workflow.id, Workflow.owner_id, Workflow.version).where(
                Workflow.hook_token == hook_token
            )
        ).one_or_none()
        if workflow is None:
            raise NotFound("no workflow listens on this webhook URL")
        document = _current_document(conn, workflow.id, workflow.version)
    if not isinstance(body, dict):
        message = 'the webhook body must be a JSON object, e.g. {"email": "a@b.com"}'
        raise InputsError(message, [{"node_id": None, "field": "body", "message": message}])
    return _queue(workflow.owner_id, workflow.id, workflow.version, document, body, "webhook")


# -- reading ---------------------------------------------------------------------------------


def _owned_execution(conn: Connection, actor: Actor, execution_id: int) -> Any:
    row = conn.execute(
        select(
            E.c.id,
            E.c.owner_id,
            E.c.status,
            E.c.trigger,
            E.c.workflow_id,
            E.c.inputs,
            E.c.last_seq,
        ).where(E.c.id == execution_id)
    ).one_or_none()
    if row is None or row.owner_id != actor.id:
        raise NotFound(f"execution {execution_id} not found")
    return row


def check_owner(actor: Actor, execution_id: int) -> None:
    """Raises NotFound unless ``execution_id`` is the actor's."""
    with get_engine().connect() as conn:
        _owned_execution(conn, actor, execution_id)


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
    if row is None or row.owner_id != actor.id:
        raise NotFound(f"execution {execution_id} not found")
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

    Node tests (trigger ``test``) are left out unless ``include_tests``.

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
    conditions = [E.c.owner_id == actor.id]
    if not include_tests:
        conditions.append(E.c.trigger != TEST_TRIGGER)
    if workflow_id is not None:
        conditions.append(E.c.workflow_id == workflow_id)
    if status is not None:
        conditions.append(E.c.status == status)
    if since is not None:
        conditions.append(E.c.created_at >= _aware(since))
    if until is not None:
        conditions.append(E.c.created_at < _aware(until))
    with get_engine().connect() as conn:
        if workflow_id is not None:
            _owned_workflow(conn, actor, workflow_id)
        total = conn.execute(select(func.count()).select_from(E).where(*conditions)).scalar_one()
        rows = conn.execute(
            select(
                E.c.id,
                E.c.workflow_id,
                Workflow.name.label("workflow_name"),
                E.c.workflow_version,
                E.c.status,
                E.c.trigger,
                E.c.parent_id,
                E.c.error,
                E.c.created_at,
                E.c.started_at,
                E.c.finished_at,
                E.c.usage,
            )
            .select_from(E.outerjoin(Workflow.__table__, Workflow.id == E.c.workflow_id))
            .where(*conditions)
            .order_by(E.c.created_at.desc(), E.c.id.desc())
            .limit(limit)
            .offset(offset)
        ).all()
    items = [
        ExecutionSummary(**row._mapping, duration_s=_duration(row.started_at, row.finished_at))
        for row in rows
    ]
    return ExecutionPage(items=items, total=total, limit=limit, offset=offset)


def events_after(execution_id: int, after_seq: int = 0) -> list[Event]:
    """Stored events of an execution with ``seq > after_seq``, in order (no owner check)."""
    with get_engine().connect() as conn:
        rows = conn.execute(
            select(EV.c.seq, EV.c.ts, EV.c.type, EV.c.node_id, EV.c.data)
            .where(EV.c.execution_id == execution_id, EV.c.seq > after_seq)
            .order_by(EV.c.seq)
        ).all()
    return [
        Event(
            execution_id=execution_id,
            seq=row.seq,
            ts=_aware(row.ts),
            type=EventType(row.type),
            node_id=row.node_id,
            data=row.data or {},
        )
        for row in rows
    ]


def _last_seq(execution_id: int) -> int:
    with get_engine().connect() as conn:
        return conn.execute(select(E.c.last_seq).where(E.c.id == execution_id)).scalar_one()


async def follow(actor: Actor, execution_id: int, after_seq: int = 0) -> AsyncIterator[Event]:
    """Every event after ``after_seq``: the stored ones, then live ones as they happen.

    Subscribes to the execution's Redis channel *before* reading the database, then
    yields by ``seq``: anything at or below the last yielded seq is a duplicate and is
    dropped; a jump in seq is filled from the database. When the channel stays quiet for
    :data:`FOLLOW_POLL_S` the database is read as well, so a lost publish only delays an
    event. Ends after a terminal event that is the execution's latest (a retried run goes
    on after its old ``execution.failed``).

    Raises:
        NotFound: not the actor's execution (raised before anything is yielded).
    """
    await asyncio.to_thread(check_owner, actor, execution_id)
    client = get_async_redis()
    pubsub = client.pubsub()
    try:
        await pubsub.subscribe(channel(execution_id))
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
            message = await pubsub.get_message(
                ignore_subscribe_messages=True, timeout=FOLLOW_POLL_S
            )
            if message is None:
                pending = await asyncio.to_thread(events_after, execution_id, last)
                continue
            event = _parse(message["data"])
            if event is None or event.seq <= last:
                continue
            if event.seq == last + 1:
                pending = [event]
            else:  # we missed some (subscribed late, a publish failed): read them back
                pending = await asyncio.to_thread(events_after, execution_id, last)
    finally:
        try:
            await pubsub.aclose()
            await client.aclose()
        except Exception as exc:  # Redis went away: nothing left to release
            log.debug("closing the follower of execution %s: %s", execution_id, exc)


def _parse(raw: bytes | str) -> Event | None:
    try:
        return Event.model_validate(json.loads(raw))
    except ValueError:
        log.warning("ignoring a malformed event on an execution channel: %r", raw[:200])
        return None


# -- changing ----------------------------------------------------------------------------------


def append_event(
    conn: Connection, execution_id: int, type: EventType, **data: Any
) -> dict[str, Any]:
    """Allocate the next seq and store an event inside the caller's transaction.

    Publish the returned row with :func:`publish` once the transaction has committed.
    """
    seq = conn.execute(
        update(E)
        .where(E.c.id == execution_id)
        .values(last_seq=E.c.last_seq + 1)
        .returning(E.c.last_seq)
    ).scalar_one()
    row = {
        "execution_id": execution_id,
        "seq": seq,
        "ts": datetime.now(UTC),
        "type": str(type),
        "node_id": None,
        "data": data,
    }
    conn.execute(insert(EV).values(**row))
    return row


def publish(rows: Iterable[dict[str, Any]]) -> None:
    """Publish stored event rows on their channels (best effort: followers also poll)."""
    client = redis_or_none()
    if client is None:
        return
    try:
        for row in rows:
            event = Event(**{**row, "type": EventType(row["type"])})
            client.publish(channel(row["execution_id"]), event_json(event))
    except Exception as exc:
        log.warning("publishing execution events failed: %s", exc)


def cancel(actor: Actor, execution_id: int) -> ExecutionStatus:
    """Stop a run: a queued or waiting one ends at once, a running one within 2 s.

    Returns:
        The status after the request (``cancelled``, or ``running`` until the worker stops).

    Raises:
        NotFound: not the actor's execution.
        Conflict: it has already ended.
    """
    with get_engine().begin() as conn:
        row = _owned_execution(conn, actor, execution_id)
        status = ExecutionStatus(row.status)
        if status.finished:
            raise Conflict(f"execution {execution_id} has already {status}")
        ended = conn.execute(
            update(E)
            .where(
                E.c.id == execution_id,
                E.c.status.in_([ExecutionStatus.QUEUED, ExecutionStatus.WAITING]),
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
            conn.execute(update(E).where(E.c.id == execution_id).values(cancel_requested=True))
            return ExecutionStatus.RUNNING
        event = append_event(conn, execution_id, EventType.EXECUTION_CANCELLED)
    publish([event])
    return ExecutionStatus.CANCELLED


def retry(actor: Actor, execution_id: int) -> int:
    """Queue a failed or cancelled execution again; it resumes from its failed steps.

    Finished steps keep their outputs and are not run again; failed, cancelled and
    never-started steps run. The execution keeps its id, document and inputs.

    Raises:
        NotFound: not the actor's execution.
        Conflict: it did not fail (or get cancelled).
    """
    retryable = [ExecutionStatus.FAILED, ExecutionStatus.CANCELLED]
    with get_engine().begin() as conn:
        row = _owned_execution(conn, actor, execution_id)
        reopened = conn.execute(
            update(E)
            .where(E.c.id == execution_id, E.c.status.in_(retryable))
            .values(
                status=ExecutionStatus.QUEUED,
                cancel_requested=False,
                error=None,
                outputs=None,
                finished_at=None,
                worker=None,
            )
        ).rowcount
        if not reopened:
            raise Conflict(
                f"execution {execution_id} is {row.status}: only a failed or cancelled "
                "execution can be retried"
            )
        event = append_event(conn, execution_id, EventType.EXECUTION_QUEUED, retry=True)
    publish([event])
    dispatch.enqueue_execution(execution_id)
    return execution_id


def rerun(actor: Actor, execution_id: int) -> int:
    """Start a new execution with the same inputs, on the workflow's newest version.

    The newest version is what the user sees in the editor, so a fix made after a failure
    applies; use :func:`retry` to resume the same run instead.

    Raises:
        NotFound: not the actor's execution, or its workflow was deleted.
        Conflict: it was a node test (its inputs and samples are not a run's).
        InputsError: the inputs no longer match the newest trigger.
    """
    with get_engine().connect() as conn:
        row = _owned_execution(conn, actor, execution_id)
        if row.trigger == TEST_TRIGGER:
            raise Conflict(
                f"execution {execution_id} tested one node: test it again from the editor, "
                "or press Execute to run the whole workflow"
            )
        if row.workflow_id is None:
            raise NotFound(f"execution {execution_id} has no stored workflow to run again")
        workflow = _owned_workflow(conn, actor, row.workflow_id)
        document = _current_document(conn, workflow.id, workflow.version)
    return _queue(
        actor.id, workflow.id, workflow.version, document, row.inputs, "rerun", execution_id
    )


# -- the queue: claiming, limits, heartbeats, the reaper ----------------------------------------


def _lock_owner(conn: Connection, execution_id: int) -> None:
    """Serialise claims on SQLite, so two workers cannot both take an owner's last free
    slot: a first write takes the database's write lock for the transaction. (PostgreSQL
    locks per owner instead: see :data:`_PG_CLAIM_LOCK`.)"""
    conn.execute(update(E).where(E.c.id == execution_id).values(last_seq=E.c.last_seq))


def _running(conn: Connection, owner_id: int) -> int:
    return conn.execute(
        select(func.count())
        .select_from(E)
        .where(E.c.owner_id == owner_id, E.c.status == ExecutionStatus.RUNNING)
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
            select(E.c.owner_id, E.c.status).where(E.c.id == execution_id)
        ).one_or_none()
        if row is None:
            return None
        owner = row.owner_id
        if owner is None:
            candidate = execution_id
        else:
            _lock_owner(conn, execution_id)
            if _running(conn, owner) >= limit:
                _owe(owner)
                return None
            candidate = conn.execute(
                select(func.min(E.c.id)).where(
                    E.c.owner_id == owner, E.c.status == ExecutionStatus.QUEUED
                )
            ).scalar_one()
            if candidate is None:
                return None
        now = datetime.now(UTC)  # under the owner's lock: starts in order, times too
        taken = conn.execute(
            update(E)
            .where(E.c.id == candidate, E.c.status == ExecutionStatus.QUEUED)
            .values(
                status=ExecutionStatus.RUNNING,
                worker=worker,
                heartbeat_at=now,
                started_at=func.coalesce(E.c.started_at, now),
                finished_at=None,
            )
            .returning(E.c.document, E.c.inputs)
        ).one_or_none()
        if taken is None:
            return None
        has_steps = conn.execute(
            select(exists().where(StepRun.__table__.c.execution_id == candidate))
        ).scalar_one()
    return ClaimedRun(candidate, owner, taken.document, taken.inputs, has_steps)


#: PostgreSQL's claim, first statement: serialise the owner's claims, so two workers
#: cannot both take the last free slot. A claim lost to a database crash only puts the
#: run back in the queue (the reaper re-sends it), so its commit need not wait for the
#: disk flush.
_PG_CLAIM_LOCK = """
SELECT set_config('synchronous_commit', 'off', true), pg_advisory_xact_lock(4242, owner_id)
FROM executions WHERE id = %(id)s AND owner_id IS NOT NULL"""
#: Second statement, with a snapshot taken under the lock: count the owner's running
#: runs, take the oldest queued one if under the limit (the run itself if it has no
#: owner), and say what it found. The start time is read under the lock too, so runs
#: that start in order have start times in order.
_PG_CLAIM_TAKE = """
WITH me AS (
    SELECT owner_id FROM executions WHERE id = %(id)s
), mine AS (
    SELECT count(*) FILTER (WHERE e.status = 'running') AS running,
           min(e.id) FILTER (WHERE e.status = 'queued') AS oldest
    FROM executions e, me
    WHERE e.owner_id = me.owner_id AND e.status IN ('running', 'queued')
), taken AS (
    UPDATE executions
    SET status = 'running', worker = %(worker)s, heartbeat_at = clock_timestamp(),
        started_at = coalesce(started_at, clock_timestamp()), finished_at = NULL
    FROM me, mine
    WHERE executions.id = CASE WHEN me.owner_id IS NULL THEN %(id)s ELSE mine.oldest END
        AND executions.status = 'queued'
        AND (me.owner_id IS NULL OR mine.running < %(limit)s)
    RETURNING executions.id, executions.document, executions.inputs
)
SELECT me.owner_id, mine.running, taken.id, taken.document, taken.inputs,
    EXISTS (SELECT 1 FROM step_runs WHERE step_runs.execution_id = taken.id)
FROM me CROSS JOIN mine LEFT JOIN taken ON true"""


def _claim_in_one_round_trip(
    engine: Any, execution_id: int, worker: str, limit: int
) -> ClaimedRun | None:
    """:func:`claim` on PostgreSQL: the same rules, as two statements sent together.

    The transaction's statements and its COMMIT go out in one psycopg pipeline, which
    takes a claim from 4 ms (eight round trips) to about one.
    """
    connection = engine.raw_connection()
    try:
        driver = connection.driver_connection
        params = {"id": execution_id, "worker": worker, "limit": limit}
        with driver.pipeline():
            driver.execute(_PG_CLAIM_LOCK, params, prepare=True)
            found = driver.execute(_PG_CLAIM_TAKE, params, prepare=True)
            driver.commit()
        row = found.fetchone()
    except BaseException:
        connection.invalidate()
        raise
    finally:
        connection.close()
    if row is None:
        return None
    owner, running, taken, document, inputs, has_steps = row
    if taken is not None:
        return ClaimedRun(taken, owner, document, inputs, has_steps)
    if owner is not None and running >= limit:
        _owe(owner)
    return None


def _owed_key(owner_id: int) -> str:
    return f"agentflow:owed:{owner_id}"


def _owe(owner_id: int) -> None:
    client = redis_or_none()
    if client is None:
        return
    try:
        with client.pipeline() as pipe:
            pipe.incr(_owed_key(owner_id)).expire(_owed_key(owner_id), OWED_TTL_S).execute()
    except Exception as exc:  # the reaper's nudge covers a token we failed to remember
        log.warning("remembering a token owed to user %s failed: %s", owner_id, exc)


#: Take one owed token if there is any (atomically): 1 taken, 0 none.
_TAKE_OWED = """
local owed = tonumber(redis.call('GET', KEYS[1]) or '0')
if owed > 0 then redis.call('DECR', KEYS[1]) return 1 end
return 0
"""


def dispatch_waiting(owner_id: int | None) -> bool:
    """After a run of ``owner_id`` ended: re-send one token the limit turned away, if any.

    A run that ends frees one slot, so one token is enough; tokens are only re-sent when
    some were turned away, so an owner under the limit costs nothing here.

    Returns:
        Whether a token was sent.
    """
    client = redis_or_none()
    if owner_id is None or client is None:
        return False
    try:
        if not client.eval(_TAKE_OWED, 1, _owed_key(owner_id)):
            return False
    except Exception as exc:  # the reaper's nudge covers it
        log.warning("paying back a token owed to user %s failed: %s", owner_id, exc)
        return False
    with get_engine().connect() as conn:
        oldest = conn.execute(
            select(func.min(E.c.id)).where(
                E.c.owner_id == owner_id, E.c.status == ExecutionStatus.QUEUED
            )
        ).scalar_one()
    if oldest is None:
        return False
    return dispatch.enqueue_execution(oldest)


def heartbeat(execution_ids: Iterable[int], worker: str) -> set[int]:
    """Touch the rows ``worker`` runs; answer the ids it still holds.

    An id missing from the answer was taken away (the reaper gave it to another worker
    after this one looked dead): the caller should stop running it.
    """
    ids = list(execution_ids)
    if not ids:
        return set()
    with get_engine().begin() as conn:
        held = conn.execute(
            update(E)
            .where(E.c.id.in_(ids), E.c.worker == worker, E.c.status == ExecutionStatus.RUNNING)
            .values(heartbeat_at=datetime.now(UTC))
            .returning(E.c.id)
        ).scalars()
        return set(held)


class ReapReport(BaseModel):
    requeued: list[int] = []
    failed: list[int] = []
    nudged: list[int] = []


def reap(now: datetime | None = None) -> ReapReport:
    """Recover executions whose worker vanished and queued runs nobody picked up.

    A ``running`` execution whose heartbeat is older than :data:`STALE_S` goes back to
    ``queued`` with an ``execution.queued`` event (``data.recovered``), and a token is sent:
    the worker that claims it resumes it, reusing finished steps (SPEC §7). After
    :data:`MAX_RECOVERIES` recoveries it is failed with the reason instead. Each owner whose
    oldest queued run has waited :data:`PICKUP_S` with capacity free gets one extra token
    (at most one per :data:`NUDGE_TTL_S`).
    """
    now = now or datetime.now(UTC)
    report = ReapReport()
    engine = get_engine()
    with engine.connect() as conn:
        stale = conn.execute(
            select(E.c.id, E.c.heartbeat_at, E.c.worker).where(
                E.c.status == ExecutionStatus.RUNNING,
                E.c.heartbeat_at < now - timedelta(seconds=STALE_S),
            )
        ).all()
    events: list[dict[str, Any]] = []
    for row in stale:
        with engine.begin() as conn:
            recoveries = _recoveries(conn, row.id)
            gone = f"its worker ({row.worker or 'unknown'}) stopped answering"
            if recoveries >= MAX_RECOVERIES:
                error = (
                    f"{gone} {recoveries + 1} times; the run was given up. Retry it when "
                    "the workers are healthy"
                )
                values: dict[str, Any] = {
                    "status": ExecutionStatus.FAILED,
                    "error": error,
                    "finished_at": now,
                    "worker": None,
                }
            else:
                values = {"status": ExecutionStatus.QUEUED, "worker": None}
            changed = conn.execute(
                update(E)
                .where(
                    E.c.id == row.id,
                    E.c.status == ExecutionStatus.RUNNING,
                    E.c.heartbeat_at == row.heartbeat_at,
                )
                .values(**values)
            ).rowcount
            if not changed:  # it came back to life, or another reaper got there first
                continue
            if values["status"] == ExecutionStatus.FAILED:
                events.append(append_event(conn, row.id, EventType.EXECUTION_FAILED, error=error))
                report.failed.append(row.id)
            else:
                events.append(
                    append_event(
                        conn,
                        row.id,
                        EventType.EXECUTION_QUEUED,
                        recovered=True,
                        reason=f"{gone}; resuming from its finished steps",
                    )
                )
                report.requeued.append(row.id)
    publish(events)
    for execution_id in report.requeued:
        dispatch.enqueue_execution(execution_id)
    report.nudged = _nudge_waiting(now)
    if report.requeued or report.failed or report.nudged:
        log.warning("reaper: %s", report.model_dump())
    return report


def _recoveries(conn: Connection, execution_id: int) -> int:
    rows = conn.execute(
        select(EV.c.data).where(
            EV.c.execution_id == execution_id, EV.c.type == EventType.EXECUTION_QUEUED
        )
    ).scalars()
    return sum(1 for data in rows if isinstance(data, dict) and data.get("recovered"))


def _nudge_waiting(now: datetime) -> list[int]:
    limit = get_settings().agentflow_max_concurrent_executions
    with get_engine().connect() as conn:
        owners = conn.execute(
            select(E.c.owner_id, func.min(E.c.id))
            .where(
                E.c.status == ExecutionStatus.QUEUED,
                E.c.owner_id.is_not(None),
                E.c.created_at < now - timedelta(seconds=PICKUP_S),
            )
            .group_by(E.c.owner_id)
        ).all()
        owners = [(owner, oldest) for owner, oldest in owners if _running(conn, owner) < limit]
    client = redis_or_none()
    nudged = []
    for owner, oldest in owners:
        if client is not None and not client.set(
            f"agentflow:nudge:{owner}", "1", nx=True, ex=NUDGE_TTL_S
        ):
            continue
        dispatch.enqueue_execution(oldest)
        nudged.append(oldest)
    return nudged


# -- the dashboard -----------------------------------------------------------------------------


def dashboard(actor: Actor, days: int = 14, now: datetime | None = None) -> Dashboard:
    """Runs per day by status, duration percentiles, tokens and cost per day (UTC days).

    Node tests are not runs of a workflow, so they are not counted, but the tokens and
    the money they spent are.

    Raises:
        InvalidInput: ``days`` outside 1–366.
    """
    if not 1 <= days <= 366:
        raise InvalidInput(f"days must be between 1 and 366, got {days}")
    now = now or datetime.now(UTC)
    first = now.date() - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    with get_engine().connect() as conn:
        rows = conn.execute(
            select(
                E.c.status, E.c.trigger, E.c.created_at, E.c.started_at, E.c.finished_at, E.c.usage
            ).where(E.c.owner_id == actor.id, E.c.created_at >= since)
        ).all()
    per_day = {
        first + timedelta(days=i): DayStats(day=first + timedelta(days=i)) for i in range(days)
    }
    durations: list[float] = []
    totals: dict[str, float] = defaultdict(float)
    for row in rows:
        stats = per_day.get(_aware(row.created_at).date())
        if stats is None:
            continue
        status = ExecutionStatus(row.status)
        counted = row.trigger != TEST_TRIGGER
        if counted and status in TERMINAL_EXECUTION:
            setattr(stats, status.value, getattr(stats, status.value) + 1)
        elif counted:
            stats.active += 1
        usage = row.usage or {}
        for key in ("input_tokens", "output_tokens", "cost_usd"):
            value = usage.get(key) or 0
            if isinstance(value, int | float) and not isinstance(value, bool):
                setattr(stats, key, getattr(stats, key) + value)
                totals[key] += value
        duration = _duration(row.started_at, row.finished_at)
        if counted and status in TERMINAL_EXECUTION and duration is not None:
            durations.append(duration)
    for stats in per_day.values():
        stats.cost_usd = round(stats.cost_usd, 6)
    return Dashboard(
        days=list(per_day.values()),
        total=sum(row.trigger != TEST_TRIGGER for row in rows),
        p50_duration_s=_percentile(durations, 50),
        p95_duration_s=_percentile(durations, 95),
        input_tokens=int(totals["input_tokens"]),
        output_tokens=int(totals["output_tokens"]),
        cost_usd=round(totals["cost_usd"], 6),
    )


def _percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (no interpolation: every answer is a real run's duration)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return round(ordered[rank - 1], 3)


# -- helpers -----------------------------------------------------------------------------------


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _duration(started: datetime | None, finished: datetime | None) -> float | None:
    if started is None or finished is None:
        return None
    return round((_aware(finished) - _aware(started)).total_seconds(), 3)
