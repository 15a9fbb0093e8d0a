"""The durable execution store: steps, events and the executions row in the database.

:class:`DbExecutionStore` implements the engine's ``ExecutionStore`` protocol over the
``executions``, ``step_runs`` and ``execution_events`` tables, and publishes every event on
Redis channel ``agentflow:execution:<id>`` (SPEC §8) once it is committed, so a viewer that
hears of an event can always read it back.

It sits on the runner's hot path (see ``bench/engine.py``), hence three choices:

* Database calls are synchronous, so they run on a few dedicated threads ("lanes"); one
  execution always uses the same lane, so its writes stay in order.
* Writes are group-committed: whatever the runner asks for while a transaction is in
  flight goes into the next one. A step save is queued and committed together with the
  event the runner emits right after it (``emit`` returns once everything before it is
  committed), so a step costs two transactions, not four, and a 200-wide fan-out a
  handful instead of eight hundred. A step is on disk before its node starts and before
  anything downstream of it does (SPEC §7: a worker that dies loses nothing).
* The repeated statements are compiled once and run on the raw DBAPI connection the
  store holds; on PostgreSQL a whole batch is one statement (one round trip).
* The run's terminal event (``execution.succeeded`` / ``failed`` / ``cancelled``) records
  the end on the ``executions`` row in the same transaction, so whoever hears of the
  event reads a finished row: there is no moment where the events say "ended" and the
  row still says ``running``.

The module also holds the row-level helpers the CLI and the worker share:
:func:`create_execution`, :func:`mark_started`, :func:`mark_finished` and
:func:`execution_record` (the SPEC §9 record).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic_core import to_jsonable_python
from sqlalchemy import (
    Dialect,
    Engine,
    Integer,
    PoolProxiedConnection,
    bindparam,
    insert,
    null,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from agentflow_app.db import get_engine
from agentflow_app.engine.events import Event, EventType, StepRecord, execution_status_after
from agentflow_app.engine.status import ExecutionStatus, StepStatus
from agentflow_app.errors import NotFound
from agentflow_app.models.execution import Execution, ExecutionEvent, StepRun

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger(__name__)

EXECUTIONS = Execution.__table__
STEPS = StepRun.__table__
EVENTS = ExecutionEvent.__table__

#: How long a read of ``executions.cancel_requested`` is reused; the runner polls it
#: often and cancellation only has to land within 2 s (SPEC §7).
CANCEL_CACHE_S = 0.2


class _Lane:
    """A thread that runs one store's database calls in order and answers on its loop.

    A dedicated thread fed by a queue wakes faster than ``run_in_executor`` (no
    ``concurrent.futures`` bookkeeping), which is measurable at two calls per step.
    """

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def call(self, function: Callable[..., Any], *args: Any) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put((function, args, loop, future))
        return future

    def _serve(self) -> None:
        while True:
            function, args, loop, future = self._queue.get()
            try:
                result, error = function(*args), None
            except BaseException as exc:
                result, error = None, exc
            # A loop that closed while we worked has nobody waiting for the answer.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future, result, error)


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


#: Database threads shared by every store of the process; an execution always uses the
#: same one, so its writes stay in order. Few, because SQLite has one writer anyway and
#: PostgreSQL connections are budgeted by the pool.
_LANE_COUNT = 4
_lanes: list[_Lane] = []
_lanes_lock = threading.Lock()


def _lane_for(execution_id: int) -> _Lane:
    with _lanes_lock:
        if not _lanes:
            _lanes.extend(_Lane(f"agentflow-store-{i}") for i in range(_LANE_COUNT))
    return _lanes[hash(execution_id) % _LANE_COUNT]


Redactor = Callable[[Any], Any]


def no_redaction(value: Any) -> Any:
    """The redaction hook's default until the credentials vault provides one.

    The vault will pass a function that replaces every secret value of the acting user
    with ``"[redacted]"`` (SPEC §11); the store applies it to step outputs, step errors and
    event data before anything is stored or published.
    """
    return value


def channel(execution_id: int) -> str:
    """The Redis pub/sub channel of one execution's events (SPEC §8)."""
    return f"agentflow:execution:{execution_id}"


def event_json(event: Event) -> str:
    """An event as published and streamed: ``{execution_id, seq, ts, type, node_id?, data}``."""
    body: dict[str, Any] = {
        "execution_id": event.execution_id,
        "seq": event.seq,
        "ts": event.ts.isoformat(),
        "type": str(event.type),
    }
    if event.node_id is not None:
        body["node_id"] = event.node_id
    body["data"] = event.data
    return json.dumps(body, separators=(",", ":"), default=str)


def _jsonable(value: Any) -> Any:
    # Node outputs may hold datetimes, pydantic models, bytes...: store what JSON can say.
    return to_jsonable_python(value, fallback=str)


def _json_value(value: Any) -> Any:
    # StepStatus is a StrEnum: json writes it as its value already.
    return value.isoformat() if isinstance(value, datetime) else value


def _json_rows(rows: Iterable[dict[str, Any]]) -> str:
    return json.dumps(list(rows), separators=(",", ":"), default=str)


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@dataclass
class _Write:
    """One pending write: a step upsert (``step``) or an event insert (``event``)."""

    step: dict[str, Any] | None = None
    event: dict[str, Any] | None = None
    #: With a terminal event: the row's final values (see ``DbExecutionStore._end_of``).
    end: dict[str, Any] | None = None
    #: Answered with the event's seq once committed; None for a step (nobody waits).
    future: asyncio.Future | None = None


@dataclass(frozen=True)
class _Compiled:
    """A statement compiled once for a dialect and run on a raw DBAPI cursor.

    Building and executing Core statements cost several times the database work itself on
    the hot path; the SQL text and the bind processors (timestamps, JSON, enums) are still
    SQLAlchemy's, so rows written here read back exactly as through the models.
    """

    sql: str
    positional: bool
    processors: tuple[tuple[str, Callable[[Any], Any] | None], ...]

    @classmethod
    def of(cls, statement: Any, dialect: Dialect, *, executemany: bool = False) -> _Compiled:
        compiled = statement.compile(dialect=dialect, for_executemany=executemany)
        positional = compiled.positiontup is not None
        names = tuple(compiled.positiontup if positional else compiled.binds)
        processors = tuple(
            (name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in names
        )
        return cls(compiled.string, positional, processors)

    def params(self, values: dict[str, Any]) -> tuple | dict:
        converted = [
            (name, process(values[name]) if process else values[name])
            for name, process in self.processors
        ]
        if self.positional:
            return tuple(value for _, value in converted)
        return dict(converted)


@dataclass(frozen=True)
class _HotStatements:
    """The statements a running execution repeats, and how its transactions begin."""

    #: PostgreSQL: the whole batch as one statement (see :func:`_postgres_batch`); None
    #: elsewhere, where the three statements below run in one transaction.
    one_statement: str | None
    allocate: _Compiled
    insert_events: _Compiled
    upsert_steps: _Compiled
    finish: _Compiled


_STEP_COLUMNS = tuple(c.name for c in STEPS.columns if c.name != "id")
_EVENT_COLUMNS = ("execution_id", "seq", "ts", "type", "node_id", "data")


#: JSON record types of the batch's rows, for ``jsonb_to_recordset``.
_PG_STEP_TYPES = {
    "node_id": "text",
    "type": "text",
    "status": "text",
    "attempts": "integer",
    "output": "jsonb",
    "output_truncated": "boolean",
    "error": "text",
    "usage": "jsonb",
    "started_at": "timestamptz",
    "finished_at": "timestamptz",
}


def _postgres_batch() -> str:
    """One statement that stores a whole batch on PostgreSQL: one round trip, one commit.

    Run in autocommit, the statement is its own transaction. Its first part moves
    ``last_seq`` (the row lock makes seq allocation atomic across processes, and it is the
    run's heartbeat for the reaper); the events take their seqs from it and the steps are
    upserted, from JSON arrays sent as two parameters. Three statements in a transaction
    cost twice the time (BEGIN, the statements, COMMIT: 0.5 to 0.6 ms a batch against 0.26
    to 0.32 ms on the development machine).

    A batch that ends the run also sets the row's final values from ``%(end)s`` (a JSON
    object, NULL otherwise) in that same UPDATE: a statement may change a row only once.

    ``set_config('synchronous_commit', 'off', true)`` makes PostgreSQL acknowledge this
    commit before its WAL reaches the disk: what a run wrote survives the death of the
    process that wrote it (SPEC §7's crash), and a crash of the database server itself can
    lose at most its last fraction of a second of steps, never consistency. That is the
    guarantee SQLite gives in WAL mode with synchronous=NORMAL (db.py), and it saves the
    disk flush that otherwise dominates a step. It lasts for this statement only.
    """
    record = ", ".join(f"{name} {kind}" for name, kind in _PG_STEP_TYPES.items())
    columns = ", ".join(_PG_STEP_TYPES)
    updates = ", ".join(f"{name} = excluded.{name}" for name in _PG_STEP_TYPES if name != "node_id")
    ended = "%(end)s::jsonb IS NOT NULL"
    return f"""
WITH alloc AS (
    UPDATE executions
    SET last_seq = last_seq + %(count)s, heartbeat_at = %(now)s,
        status = CASE WHEN {ended} THEN %(end)s::jsonb->>'status' ELSE status END,
        outputs = CASE WHEN {ended} THEN %(end)s::jsonb->'outputs' ELSE outputs END,
        error = CASE WHEN {ended} THEN %(end)s::jsonb->>'error' ELSE error END,
        usage = CASE WHEN {ended} THEN %(end)s::jsonb->'usage' ELSE usage END,
        finished_at = CASE WHEN {ended}
            THEN (%(end)s::jsonb->>'finished_at')::timestamptz ELSE finished_at END,
        worker = CASE WHEN {ended} THEN NULL ELSE worker END
    WHERE id = %(execution_id)s
        AND set_config('synchronous_commit', 'off', true) IS NOT NULL
    RETURNING last_seq
), new_events AS (
    INSERT INTO execution_events (execution_id, seq, ts, type, node_id, data)
    SELECT %(execution_id)s, alloc.last_seq - e.back, e.ts, e.type, e.node_id, e.data
    FROM alloc, jsonb_to_recordset(%(events)s::jsonb)
        AS e(back integer, ts timestamptz, type text, node_id text, data jsonb)
), new_steps AS (
    INSERT INTO step_runs (execution_id, {columns})
    SELECT %(execution_id)s, {columns}
    FROM jsonb_to_recordset(%(steps)s::jsonb) AS s({record})
    ON CONFLICT (execution_id, node_id) DO UPDATE SET {updates}
)
SELECT last_seq FROM alloc"""


@lru_cache(maxsize=8)
def _hot_statements(dialect: Dialect) -> _HotStatements:
    # One UPDATE … RETURNING per batch: the row lock makes seq allocation atomic across
    # processes (the API, a second worker) on SQLite ≥ 3.35 and PostgreSQL. The same
    # statement is the run's heartbeat for the reaper.
    allocate = (
        update(EXECUTIONS)
        .where(EXECUTIONS.c.id == bindparam("execution_id"))
        .values(
            last_seq=EXECUTIONS.c.last_seq + bindparam("count"),
            heartbeat_at=bindparam("now", type_=EXECUTIONS.c.heartbeat_at.type),
        )
        .returning(EXECUTIONS.c.last_seq)
    )
    # Each event takes its seq from the row the UPDATE just moved (``back`` places it in the
    # batch), so no statement waits for another's answer: on PostgreSQL the transaction
    # takes two round trips (the statements, then COMMIT) whatever the batch holds.
    numbered = select(
        EXECUTIONS.c.id,
        EXECUTIONS.c.last_seq - bindparam("back", type_=Integer),
        bindparam("ts", type_=EVENTS.c.ts.type),
        bindparam("type", type_=EVENTS.c.type.type),
        bindparam("node_id", type_=EVENTS.c.node_id.type),
        bindparam("data", type_=EVENTS.c.data.type),
    ).where(EXECUTIONS.c.id == bindparam("execution_id"))
    insert_events = insert(EVENTS).from_select(list(_EVENT_COLUMNS), numbered)
    module = postgresql if dialect.name == "postgresql" else sqlite
    upsert = module.insert(STEPS).values({name: bindparam(name) for name in _STEP_COLUMNS})
    upsert = upsert.on_conflict_do_update(
        index_elements=[STEPS.c.execution_id, STEPS.c.node_id],
        set_={
            name: upsert.excluded[name]
            for name in _STEP_COLUMNS
            if name not in {"execution_id", "node_id"}
        },
    )
    finish = (
        update(EXECUTIONS)
        .where(EXECUTIONS.c.id == bindparam("execution_id"))
        .values(
            status=bindparam("status", type_=EXECUTIONS.c.status.type),
            outputs=bindparam("outputs", type_=EXECUTIONS.c.outputs.type),
            error=bindparam("error", type_=EXECUTIONS.c.error.type),
            usage=bindparam("usage", type_=EXECUTIONS.c.usage.type),
            finished_at=bindparam("finished_at", type_=EXECUTIONS.c.finished_at.type),
            worker=null(),
        )
    )
    return _HotStatements(
        one_statement=_postgres_batch() if dialect.name == "postgresql" else None,
        allocate=_Compiled.of(allocate, dialect),
        insert_events=_Compiled.of(insert_events, dialect, executemany=True),
        upsert_steps=_Compiled.of(upsert, dialect, executemany=True),
        finish=_Compiled.of(finish, dialect),
    )


class DbExecutionStore:
    """``ExecutionStore`` over the database, with optional Redis publishing.

    Writes go through one database connection that the store holds until :meth:`aclose`
    (or until it is garbage-collected), so a step costs no pool checkout.

    Args:
        execution_id: The ``executions`` row this run writes to (create it first with
            :func:`create_execution`).
        redis: A ``redis.Redis`` client to publish events on; None publishes nothing (the
            CLI runs without Redis).
        redact: Applied to step outputs and errors and to event data before they are
            stored or published; see :func:`no_redaction`.
        engine: The SQLAlchemy engine; the settings' database by default.
        on_event: Called with each event once it is stored (the CLI's live progress).
        claimed: The worker's claim of this execution, which just read what a start
            reads: no cancellation can be pending (a cancel ends a queued run itself),
            and whether any steps are stored. The first reads are skipped accordingly.
    """

    def __init__(
        self,
        execution_id: int,
        *,
        redis: Redis | None = None,
        redact: Redactor = no_redaction,
        engine: Engine | None = None,
        on_event: Callable[[Event], None] | None = None,
        claimed: ClaimedRun | None = None,
    ) -> None:
        self.execution_id = execution_id
        self._on_event = on_event
        self._redis = redis
        self._redact = redact
        self._engine = engine or get_engine()
        self._sql = _hot_statements(self._engine.dialect)
        self._lane = _lane_for(execution_id)
        self._connection: PoolProxiedConnection | None = None
        self._pending: list[_Write] = []
        self._in_flight: asyncio.Future | None = None
        self._start_scheduled = False
        self._failure: BaseException | None = None
        self._cancel_read_at = time.monotonic() if claimed is not None else float("-inf")
        self._cancel = False
        self._no_steps_yet = claimed is not None and not claimed.has_steps

    # -- ExecutionStore ----------------------------------------------------------------

    async def load_steps(self) -> dict[str, StepRecord]:
        await self.flush()
        if self._no_steps_yet:
            self._no_steps_yet = False  # only the start may skip the read
            return {}
        rows = await self._lane.call(self._read_steps)
        return {row.node_id: row for row in rows}

    async def save_step(self, step: StepRecord) -> None:
        """Queue the step's state; it is committed with the event emitted next.

        The runner follows every save with its event (``step.started`` before a node runs,
        ``step.succeeded`` / ``failed`` / ``skipped`` after, ``execution.cancelled`` after
        the cancelled steps), and :meth:`emit` returns only once everything queued before
        it is committed. So a step is on disk before its node starts and before anything
        downstream of it does, and the pair costs one transaction instead of two. A save
        with no event after it is committed on the next turn of the event loop. A write
        that fails poisons the store: the next call raises the error, so it is never lost.
        """
        self._enqueue(_Write(step=self._step_row(step)), wait=False)

    async def emit(self, type: EventType, node_id: str | None = None, **data: Any) -> Event:
        row = self._event_row(type, node_id, data)
        end = self._end_of(type, row) if type.terminal else None
        seq = await self._enqueue(_Write(event=row, end=end), wait=True)
        return self._stored(type, row, seq)

    def _end_of(self, type: EventType, row: dict[str, Any]) -> dict[str, Any]:
        """The row's final values, from the terminal event (its data is redacted already)."""
        data = row["data"]
        return {
            "status": execution_status_after(type),
            "outputs": data.get("outputs", {}),
            "error": data.get("error"),
            "usage": data.get("usage", {}),
            "finished_at": row["ts"],
        }

    async def emit_soon(self, type: EventType, node_id: str | None = None, **data: Any) -> None:
        """Queue the event; it is committed with the next batch, in its place in the order.

        A failed write is raised by the next call, as for :meth:`save_step`.
        """
        row = self._event_row(type, node_id, data)
        future = self._enqueue(_Write(event=row), wait=True)
        future.add_done_callback(lambda done: self._stored_soon(type, row, done))

    def _event_row(self, type: EventType, node_id: str | None, data: dict[str, Any]) -> dict:
        return {
            "execution_id": self.execution_id,
            "ts": datetime.now(UTC),
            "type": str(type),
            "node_id": node_id,
            "data": _jsonable(self._redact(data)),
        }

    def _stored(self, type: EventType, row: dict[str, Any], seq: int) -> Event:
        """The event as stored; the listener (the CLI's progress) hears of it."""
        event = Event(
            execution_id=self.execution_id,
            seq=seq,
            ts=row["ts"],
            type=type,
            node_id=row["node_id"],
            data=row["data"],
        )
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:  # a display that broke must not fail the run it displays
                log.exception("execution %s: an event listener failed", self.execution_id)
        return event

    def _stored_soon(self, type: EventType, row: dict[str, Any], done: asyncio.Future) -> None:
        # Reading the outcome marks a failure as seen: the store raises it on its next call.
        if not done.cancelled() and done.exception() is None:
            self._stored(type, row, done.result())

    async def cancel_requested(self) -> bool:
        now = time.monotonic()
        if now - self._cancel_read_at >= CANCEL_CACHE_S:
            self._cancel = await self._lane.call(self._read_cancel)
            self._cancel_read_at = time.monotonic()
        return self._cancel

    async def flush(self) -> None:
        """Wait until everything queued is committed.

        Raises:
            The error of a write that failed, if one did.
        """
        while self._pending or self._in_flight is not None:
            if self._in_flight is None:
                self._start_batch()
            await asyncio.wait([self._in_flight])
        if self._failure is not None:
            raise self._failure

    async def aclose(self) -> None:
        """Commit what is queued, then give the connection back to the pool."""
        try:
            await self.flush()
        except Exception as exc:  # already raised to the runner by the emit that followed
            log.warning("execution %s: a store write failed: %s", self.execution_id, exc)
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await self._lane.call(connection.close)

    # -- group commit --------------------------------------------------------------------

    def _enqueue(self, write: _Write, *, wait: bool) -> asyncio.Future | None:
        if self._failure is not None:
            raise self._failure
        loop = asyncio.get_running_loop()
        if wait:
            write.future = loop.create_future()
        self._pending.append(write)
        if self._in_flight is None and not self._start_scheduled:
            # Wait one turn of the loop: writes made in the same turn (a save and its event,
            # steps that finish together) share the transaction.
            self._start_scheduled = True
            loop.call_soon(self._start_batch)
        return write.future

    def _start_batch(self) -> None:
        self._start_scheduled = False
        if self._in_flight is not None or not self._pending:
            return
        batch, self._pending = self._pending, []
        self._in_flight = self._lane.call(self._write, batch)
        self._in_flight.add_done_callback(lambda done: self._batch_done(batch, done))

    def _batch_done(self, batch: list[_Write], done: asyncio.Future) -> None:
        self._in_flight = None
        error = done.exception() if not done.cancelled() else asyncio.CancelledError()
        if error is not None and self._failure is None:
            self._failure = error
        if self._pending:
            self._start_batch()
        results = done.result() if error is None else [None] * len(batch)
        for write, result in zip(batch, results, strict=True):
            if write.future is None or write.future.done():
                continue
            if error is None:
                write.future.set_result(result)
            else:
                write.future.set_exception(error)

    def _write(self, batch: list[_Write]) -> list[int | None]:
        """Commit one batch in one transaction; answer each event's seq (None for steps)."""
        events = [w.event for w in batch if w.event is not None]
        # A step saved twice in one batch (running, then succeeded): the last state wins.
        steps = list({w.step["node_id"]: w.step for w in batch if w.step is not None}.values())
        end = next((w.end for w in reversed(batch) if w.end is not None), None)
        if self._connection is None:
            self._connection = self._engine.raw_connection()
        try:
            if self._sql.one_statement is not None:
                last_seq = self._write_one_statement(events, steps, end)
            else:
                last_seq = self._write_statements(events, steps, end)
            if events and last_seq is None:
                raise NotFound(f"execution {self.execution_id} does not exist")
        except BaseException:
            self._abandon_transaction()
            raise
        for i, row in enumerate(events):
            row["seq"] = last_seq - (len(events) - 1 - i)
        if events and self._redis is not None:
            self._publish(events)
        return [w.event["seq"] if w.event is not None else None for w in batch]

    def _write_statements(
        self, events: list[dict], steps: list[dict], end: dict[str, Any] | None
    ) -> int | None:
        """The batch as up to four statements and a commit (SQLite); the new ``last_seq``."""
        connection = self._connection
        cursor, allocation = connection.cursor(), connection.cursor()
        count = len(events)
        found = None
        if events:
            sql = self._sql.allocate
            allocation.execute(
                sql.sql,
                sql.params(
                    {"execution_id": self.execution_id, "count": count, "now": datetime.now(UTC)}
                ),
            )
            found = allocation.fetchall()
            sql = self._sql.insert_events
            cursor.executemany(
                sql.sql,
                [sql.params({**row, "back": count - 1 - i}) for i, row in enumerate(events)],
            )
        if steps:
            sql = self._sql.upsert_steps
            cursor.executemany(sql.sql, [sql.params(row) for row in steps])
        if end is not None:
            sql = self._sql.finish
            cursor.execute(sql.sql, sql.params({"execution_id": self.execution_id, **end}))
        connection.commit()
        return found[0][0] if found else None

    def _write_one_statement(
        self, events: list[dict], steps: list[dict], end: dict[str, Any] | None
    ) -> int | None:
        """The batch as :func:`_postgres_batch`, its own transaction; the new ``last_seq``."""
        count = len(events)
        driver = self._connection.driver_connection
        driver.autocommit = True  # client-side only: no BEGIN is sent before the statement
        try:
            row = driver.execute(
                self._sql.one_statement,
                {
                    "execution_id": self.execution_id,
                    "count": count,
                    "now": datetime.now(UTC),
                    "events": _json_rows(
                        {
                            "back": count - 1 - i,
                            "ts": event["ts"].isoformat(),
                            "type": event["type"],
                            "node_id": event["node_id"],
                            "data": event["data"],
                        }
                        for i, event in enumerate(events)
                    ),
                    "steps": _json_rows(
                        {name: _json_value(step[name]) for name in _PG_STEP_TYPES} for step in steps
                    ),
                    "end": None
                    if end is None
                    else json.dumps({k: _json_value(v) for k, v in end.items()}, default=str),
                },
                prepare=True,
            ).fetchone()
        finally:
            driver.autocommit = False
        return row[0] if row else None

    def _abandon_transaction(self) -> None:
        try:
            self._connection.rollback()
        except Exception:  # the connection itself is gone: the next batch takes a new one
            self._connection.invalidate()
            self._connection = None

    def _publish(self, events: Iterable[dict[str, Any]]) -> None:
        name = channel(self.execution_id)
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                for row in events:
                    pipe.publish(name, event_json(_event(row)))
                pipe.execute()
        except Exception as exc:  # the events are stored: a live viewer catches up on replay
            log.warning("execution %s: publishing events failed: %s", self.execution_id, exc)

    # -- reads -------------------------------------------------------------------------

    def _read_steps(self) -> list[StepRecord]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(STEPS).where(STEPS.c.execution_id == self.execution_id)
            ).mappings()
            return [_step_record(row) for row in rows]

    def _read_cancel(self) -> bool:
        with self._engine.connect() as conn:
            flag = conn.execute(
                select(EXECUTIONS.c.cancel_requested).where(EXECUTIONS.c.id == self.execution_id)
            ).scalar_one_or_none()
        return bool(flag)

    def _step_row(self, step: StepRecord) -> dict[str, Any]:
        return {
            "execution_id": self.execution_id,
            "node_id": step.node_id,
            "type": step.type,
            "status": StepStatus(step.status),
            "attempts": step.attempts,
            "output": _jsonable(self._redact(step.output)),
            "output_truncated": step.output_truncated,
            "error": self._redact(step.error) if step.error is not None else None,
            "usage": _jsonable(step.usage),
            "started_at": _aware(step.started_at),
            "finished_at": _aware(step.finished_at),
        }


def _event(row: Any) -> Event:
    return Event(
        execution_id=row["execution_id"],
        seq=row["seq"],
        ts=_aware(row["ts"]),
        type=EventType(row["type"]),
        node_id=row["node_id"],
        data=row["data"] or {},
    )


def _step_record(row: Any) -> StepRecord:
    return StepRecord(
        node_id=row["node_id"],
        type=row["type"],
        status=StepStatus(row["status"]),
        attempts=row["attempts"],
        started_at=_aware(row["started_at"]),
        finished_at=_aware(row["finished_at"]),
        output=row["output"],
        output_truncated=row["output_truncated"],
        error=row["error"],
        usage=row["usage"],
    )


# -- the executions row ----------------------------------------------------------------


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


class FinishedStep(NamedTuple):
    """A step that a new execution starts with, already succeeded with ``output``."""

    node_id: str
    type: str
    output: Any


def create_execution(
    document: dict[str, Any],
    inputs: dict[str, Any],
    *,
    owner_id: int | None = None,
    workflow_id: int | None = None,
    workflow_version: int | None = None,
    trigger: str = "manual",
    parent_id: int | None = None,
    queued_data: dict[str, Any] | None = None,
    finished_steps: Iterable[FinishedStep] = (),
    redis: Redis | None = None,
    engine: Engine | None = None,
) -> int:
    """Insert a queued execution with its pinned document and its ``execution.queued`` event.

    Args:
        document: The workflow document as validated; stored as-is so later edits of the
            workflow never change this run.
        inputs: The trigger inputs, already validated.
        parent_id: The execution this one retries or re-runs, if any.
        queued_data: What the ``execution.queued`` event says (a schedule's fire time,
            the node a test is of).
        finished_steps: Steps stored as already ``succeeded`` in the same transaction, so
            a worker that claims the run the moment it is queued resumes past them and
            never runs them (a node test's sampled upstream outputs).
        redis: Publishes the queued event when given.

    Returns:
        The new execution's id.
    """
    engine = engine or get_engine()
    now = datetime.now(UTC)
    with engine.begin() as conn:
        execution_id = conn.execute(
            insert(EXECUTIONS)
            .values(
                document=_jsonable(document),
                inputs=_jsonable(inputs),
                owner_id=owner_id,
                workflow_id=workflow_id,
                workflow_version=workflow_version,
                trigger=trigger,
                parent_id=parent_id,
                status=ExecutionStatus.QUEUED,
                usage={},
                last_seq=1,
                created_at=now,
            )
            .returning(EXECUTIONS.c.id)
        ).scalar_one()
        queued = {
            "execution_id": execution_id,
            "seq": 1,
            "ts": now,
            "type": str(EventType.EXECUTION_QUEUED),
            "node_id": None,
            "data": _jsonable(queued_data or {}),
        }
        conn.execute(insert(EVENTS).values(**queued))
        steps = [
            {
                "execution_id": execution_id,
                "node_id": step.node_id,
                "type": step.type,
                "status": StepStatus.SUCCEEDED,
                "attempts": 0,
                "output": _jsonable(step.output),
                "output_truncated": False,
                "usage": {},
                "started_at": now,
                "finished_at": now,
            }
            for step in finished_steps
        ]
        if steps:
            conn.execute(insert(STEPS), steps)
    if redis is not None:
        try:
            redis.publish(channel(execution_id), event_json(_event(queued)))
        except Exception as exc:
            log.warning("execution %s: publishing the queued event failed: %s", execution_id, exc)
    return execution_id


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
                outputs=_jsonable(outputs),
                error=error,
                usage=_jsonable(usage or {}),
                finished_at=datetime.now(UTC) if status.finished else None,
                worker=None,
            )
        )


def request_cancel(execution_id: int, *, engine: Engine | None = None) -> None:
    """Ask the run to stop; its store sees the flag within ``CANCEL_CACHE_S`` of a poll."""
    engine = engine or get_engine()
    with engine.begin() as conn:
        conn.execute(
            update(EXECUTIONS).where(EXECUTIONS.c.id == execution_id).values(cancel_requested=True)
        )


def execution_record(execution_id: int, *, engine: Engine | None = None) -> dict[str, Any]:
    """The SPEC §9 execution record, JSON-ready (ISO timestamps), steps in start order.

    Raises:
        NotFound: when there is no such execution.
    """
    return read_record(execution_id, engine=engine)[0]


def read_record(execution_id: int, *, engine: Engine | None = None) -> tuple[dict[str, Any], Any]:
    """The SPEC §9 record and the row it was built from (owner, document, trigger...).

    Two reads on one connection: a page that opens a run needs the record, its owner and
    its pinned document, and each separate read cost a pool checkout and a round trip.

    Raises:
        NotFound: when there is no such execution.
    """
    with (engine or get_engine()).connect() as conn:
        row = conn.execute(select(EXECUTIONS).where(EXECUTIONS.c.id == execution_id)).one_or_none()
        if row is None:
            raise NotFound(f"execution {execution_id} does not exist")
        steps = conn.execute(
            select(STEPS).where(STEPS.c.execution_id == execution_id).order_by(STEPS.c.id)
        ).mappings()
        step_json = [_step_json(_step_record(step)) for step in steps]
    record = {
        "id": row.id,
        "workflow_id": row.workflow_id,
        "workflow_version": row.workflow_version,
        "status": str(row.status),
        "inputs": row.inputs,
        "outputs": row.outputs,
        "error": row.error,
        "created_at": _iso(row.created_at),
        "started_at": _iso(row.started_at),
        "finished_at": _iso(row.finished_at),
        "usage": row.usage,
        "steps": step_json,
    }
    return record, row


def _step_json(step: StepRecord) -> dict[str, Any]:
    return {
        "node_id": step.node_id,
        "type": step.type,
        "status": str(step.status),
        "attempts": step.attempts,
        "started_at": _iso(step.started_at),
        "finished_at": _iso(step.finished_at),
        "output": step.output,
        "output_truncated": step.output_truncated,
        "error": step.error,
        "usage": step.usage,
    }


def _iso(value: datetime | None) -> str | None:
    return _aware(value).isoformat() if value is not None else None
