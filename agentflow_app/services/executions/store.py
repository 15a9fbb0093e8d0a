"""The durable execution store: a run's steps, events and end in the database.

:class:`DbExecutionStore` implements the engine's ``ExecutionStore`` protocol over the
``executions``, ``step_runs`` and ``execution_events`` tables, and publishes every event on
Redis channel ``agentflow:execution:<id>`` (SPEC §8) once it is committed, so a viewer that
hears of an event can always read it back. The run has the commit's answer first; its
database thread publishes next, before its next write, so events go out in order.

It sits on the runner's hot path (see ``bench/engine.py``), hence three choices:

* Database calls are synchronous, so they run on a few dedicated threads (:mod:`.lanes`);
  one execution always uses the same lane, so its writes stay in order.
* Writes are group-committed: whatever the runner asks for while a transaction is in
  flight goes into the next one. A step save is queued and committed together with the
  event the runner emits right after it (``emit`` returns once everything before it is
  committed), so a step costs two transactions, not four, and a 200-wide fan-out a
  handful instead of eight hundred. A step with side effects is on disk as running before
  its node acts (SPEC §7: a worker that dies repeats nothing that was sent). A step's end
  is written as it ends, in order, while the steps after it start (``emit_nowait``): it
  waits at most :data:`NOWAIT_S` (a millisecond) for what follows at once, as
  PostgreSQL's ``commit_delay`` does, so the end of a fast step, the next step's few
  instant ones and the run's end share a transaction (a waited write starts the batch at
  once). A crash before the write lands leaves the step as stored when it started (failed
  as "may have been sent" if it acts on the world, else run again), and whatever comes
  after it is stored after it.
* Writes nobody waits for (step saves, ``emit_soon``: a pure step's start, a token batch)
  wait up to :data:`SOON_S` for company: a step that ends sooner commits its start with
  its end, so the three-node run of ``bench/execution.py`` costs two transactions and
  two publishes instead of nine (each about 0.3 ms of the worker's CPU, and the
  database's); a slower step's start is stored and shown after ``SOON_S``.
* The repeated statements are compiled once (:mod:`.store_sql`) and run on the raw DBAPI
  connection the store holds; on PostgreSQL a whole batch is one statement (one round trip).
* The run's terminal event (``execution.succeeded`` / ``failed`` / ``cancelled``) records
  the end on the ``executions`` row in the same transaction, so whoever hears of the
  event reads a finished row: there is no moment where the events say "ended" and the
  row still says ``running``. This is the one status write outside :mod:`.lifecycle`;
  the status is ``engine.events.status_after`` of the event.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Engine,
    PoolProxiedConnection,
    select,
)

from agentflow_app.db import get_engine
from agentflow_app.engine.events import Event, EventType, StepRecord, execution_status_after
from agentflow_app.engine.status import StepStatus
from agentflow_app.errors import NotFound

if TYPE_CHECKING:
    from redis import Redis


from agentflow_app.services.executions.events import publish
from agentflow_app.services.executions.lanes import lane_for
from agentflow_app.services.executions.outages import retrying
from agentflow_app.services.executions.rows import (
    EXECUTIONS,
    STEPS,
    ClaimedRun,
    aware,
    jsonable,
    step_record,
)
from agentflow_app.services.executions.store_sql import PG_STEP_TYPES, hot_statements

log = logging.getLogger(__name__)

#: How long a write nobody waits for is held back for the next one that somebody waits for
#: (see the module docstring): the live view's own push cadence (``PUSH_EVERY_S``), so a
#: viewer sees a slow step start no later than its next refresh anyway.
SOON_S = 0.05

#: How long a step's end (``emit_nowait``) waits for the writes that follow it at once:
#: the next steps' starts and instant ends, the run's end. The three-node run's last two
#: transactions became one (an LLM step's end, the output step, the run's end).
NOWAIT_S = 0.001

#: How long a read of ``executions.cancel_requested`` is reused; the runner polls it
#: often and cancellation only has to land within 2 s (SPEC §7).
CANCEL_CACHE_S = 0.2


Redactor = Callable[[Any], Any]


def no_redaction(value: Any) -> Any:
    """The redaction hook's default until the credentials vault provides one.

    The vault will pass a function that replaces every secret value of the acting user
    with ``"[redacted]"`` (SPEC §11); the store applies it to step outputs, step errors and
    event data before anything is stored or published.
    """
    return value


def _json_value(value: Any) -> Any:
    # StepStatus is a StrEnum: json writes it as its value already.
    return value.isoformat() if isinstance(value, datetime) else value


def _json_rows(rows: Iterable[dict[str, Any]]) -> str:
    return json.dumps(list(rows), separators=(",", ":"), default=str)


@dataclass
class _Write:
    """One pending write: a step upsert (``step``) or an event insert (``event``)."""

    step: dict[str, Any] | None = None
    event: dict[str, Any] | None = None
    #: With a terminal event: the row's final values (see ``DbExecutionStore._end_of``).
    end: dict[str, Any] | None = None
    #: Answered with the event's seq once committed; None for a step (nobody waits).
    future: asyncio.Future | None = None
    #: The loop time by which its batch must start (set when it is queued).
    due: float = 0.0


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
        nowait_s: How long a step's end (:meth:`emit_nowait`) waits for the writes that
            follow it at once (:data:`NOWAIT_S`).
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
        nowait_s: float = NOWAIT_S,
    ) -> None:
        self.execution_id = execution_id
        self._nowait_s = nowait_s
        self._on_event = on_event
        self._redis = redis
        self._redact = redact
        self._engine = engine or get_engine()
        self._sql = hot_statements(self._engine.dialect)
        self._lane = lane_for(execution_id)
        self._connection: PoolProxiedConnection | None = None
        self._pending: list[_Write] = []
        self._in_flight: asyncio.Future | None = None
        #: The batch's pending start (the next turn of the loop, or a delay away), and the
        #: loop time it is due at.
        self._start: asyncio.Handle | None = None
        self._start_due = 0.0
        self._failure: BaseException | None = None
        #: The execution's ``last_seq`` after this store's last committed batch of events.
        self._last_seq: int | None = None
        #: The events of the batch just committed, until the lane publishes them.
        self._unpublished: list[dict[str, Any]] = []
        self._cancel_read_at = time.monotonic() if claimed is not None else float("-inf")
        self._cancel = False
        self._no_steps_yet = claimed is not None and not claimed.has_steps

    # -- ExecutionStore ----------------------------------------------------------------

    async def load_steps(self) -> dict[str, StepRecord]:
        await self.flush()
        if self._no_steps_yet:
            self._no_steps_yet = False  # only the start may skip the read
            return {}
        rows = await self._lane.call(self._retrying, self._read_steps, "a read")
        return {row.node_id: row for row in rows}

    async def save_step(self, step: StepRecord) -> None:
        """Queue the step's state; it is committed with the event emitted next.

        The runner follows every save with its event (``step.started`` before a node runs,
        ``step.succeeded`` / ``failed`` / ``skipped`` after, ``execution.cancelled`` after
        the cancelled steps), and :meth:`emit` returns only once everything queued before
        it is committed. So a step with side effects is on disk as running before its
        node acts, and the pair costs one transaction instead of two. A save
        with no waited-for write after it is committed within :data:`SOON_S`. A write
        that fails poisons the store: the next call raises the error, so it is never lost.
        """
        row = step_row(self.execution_id, step, self._redact)
        self._enqueue(_Write(step=row), wait=False, delay=SOON_S)

    async def emit(self, type: EventType, node_id: str | None = None, **data: Any) -> Event:
        row = self._event_row(type, node_id, data)
        end = self._end_of(type, row) if type.terminal else None
        seq = await self._enqueue(_Write(event=row, end=end), wait=True, delay=0)
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
        """Queue the event; it is committed with the next batch, in its place in the order:
        with the next write somebody waits for, or :data:`SOON_S` from now at the latest.

        A failed write is raised by the next call, as for :meth:`save_step`.
        """
        self._emit_unwaited(type, node_id, data, delay=SOON_S)

    async def emit_nowait(self, type: EventType, node_id: str | None = None, **data: Any) -> None:
        """Queue the event and start its batch within ``nowait_s`` (or after the batch
        in flight), without waiting for the commit: the runner goes on meanwhile.

        A failed write is raised by the next call, as for :meth:`save_step`.
        """
        self._emit_unwaited(type, node_id, data, delay=self._nowait_s)

    def _emit_unwaited(
        self, type: EventType, node_id: str | None, data: dict[str, Any], *, delay: float
    ) -> None:
        """Queue an event nobody waits for; the listener hears of it once committed."""
        row = self._event_row(type, node_id, data)
        future = self._enqueue(_Write(event=row), wait=True, delay=delay)
        future.add_done_callback(lambda done: self._stored_soon(type, row, done))

    def _event_row(self, type: EventType, node_id: str | None, data: dict[str, Any]) -> dict:
        return {
            "execution_id": self.execution_id,
            "ts": datetime.now(UTC),
            "type": str(type),
            "node_id": node_id,
            "data": jsonable(self._redact(data)),
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
        stored = not done.cancelled() and done.exception() is None
        if stored and self._on_event is not None:  # nobody else needs its Event
            self._stored(type, row, done.result())

    async def cancel_requested(self) -> bool:
        now = time.monotonic()
        if now - self._cancel_read_at >= CANCEL_CACHE_S:
            self._cancel = await self._lane.call(self._retrying, self._read_cancel, "a read")
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

    def drop_failure(self) -> None:
        """Take writes again after one failed for a reason that has passed (a full disk
        whose reserve was just released), to record that the run failed. The failed
        batch is lost; the events after it are numbered on from the last one stored."""
        self._failure = None

    async def aclose(self) -> None:
        """Commit what is queued, then give the connection back to the pool.

        The return is awaited although nothing needs the connection: it is queued behind
        the last batch's publication on the lane, so the run's scope (the workflow id and
        trace the observer gives each event's span and log line) is still open when that
        batch is observed.
        """
        try:
            await self.flush()
        except Exception as exc:  # already raised to the runner by the emit that followed
            log.warning("execution %s: a store write failed: %s", self.execution_id, exc)
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await self._lane.call(connection.close)

    # -- group commit --------------------------------------------------------------------

    def _enqueue(self, write: _Write, *, wait: bool, delay: float) -> asyncio.Future | None:
        """Queue ``write``; its batch starts within ``delay`` seconds (0: somebody waits for
        it, ``nowait_s``: a step's end, :data:`SOON_S`: nobody needs it promptly)."""
        if self._failure is not None:
            raise self._failure
        loop = asyncio.get_running_loop()
        if wait:
            write.future = loop.create_future()
        write.due = loop.time() + delay
        self._pending.append(write)
        if self._in_flight is None:
            self._schedule_start(loop, write.due)
        return write.future

    def _schedule_start(self, loop: asyncio.AbstractEventLoop, due: float) -> None:
        """Start the next batch by loop time ``due``: on the loop's next turn when it has
        come (writes made in the same turn, a save and its event, share the transaction),
        else by a timer; an earlier due time brings a later start forward."""
        if self._start is not None:
            if self._start_due <= due:
                return
            self._start.cancel()  # somebody needs it sooner: do not keep them waiting
        delay = due - loop.time()
        if delay > 0:
            self._start = loop.call_later(delay, self._start_batch)
        else:
            self._start = loop.call_soon(self._start_batch)
        self._start_due = due

    def _cancel_start(self) -> None:
        if self._start is not None:
            self._start.cancel()
            self._start = None

    def _start_batch(self) -> None:
        self._cancel_start()  # called early (a flush, the batch before it ended)
        if self._in_flight is not None or not self._pending:
            return
        batch, self._pending = self._pending, []
        self._in_flight = self._lane.call(self._write, batch, then=self._publish)
        self._in_flight.add_done_callback(lambda done: self._batch_done(batch, done))

    def _batch_done(self, batch: list[_Write], done: asyncio.Future) -> None:
        """Answer the batch's waiters, and start the next batch; unless this one failed.

        Writes queued behind a failed batch are failed with it, not committed: they came
        after what was lost, and committing them (a full disk's first failed write
        releases the reserve, so the next batch fits) recorded a run as succeeded whose
        step end, still unwaited, was never stored.
        """
        self._in_flight = None
        error = done.exception() if not done.cancelled() else asyncio.CancelledError()
        if error is not None:
            if self._failure is None:
                self._failure = error
            self._cancel_start()
            batch, self._pending = batch + self._pending, []
        elif self._pending:
            loop = asyncio.get_running_loop()
            due = min(write.due for write in self._pending)
            if due <= loop.time():
                self._start_batch()
            else:
                self._schedule_start(loop, due)
        results = done.result() if error is None else [None] * len(batch)
        for write, result in zip(batch, results, strict=True):
            if write.future is None or write.future.done():
                continue
            if error is None:
                write.future.set_result(result)
            else:
                write.future.set_exception(error)

    def _retrying(self, call: Callable[[], Any], what: str) -> Any:
        return retrying(self._engine, call, f"execution {self.execution_id}: {what}")

    def _write(self, batch: list[_Write]) -> list[int | None]:
        """:meth:`_write_once`, retried while the database is away; a retry first checks
        whether the failed attempt committed after all (its answer was lost), so no event
        is stored twice."""
        attempts = itertools.count()

        def attempt() -> list[int | None]:
            if next(attempts) and (landed := self._landed(batch)) is not None:
                return landed
            return self._write_once(batch)

        return self._retrying(attempt, "a write")

    def _landed(self, batch: list[_Write]) -> list[int | None] | None:
        """The batch's seqs if it is in the database already (None: write it). Steps and
        the end are upserts, so only a batch with events can be stored twice."""
        events = [w.event for w in batch if w.event is not None]
        if not events or self._last_seq is None:
            return None
        with self._engine.connect() as conn:
            stored = conn.execute(
                select(EXECUTIONS.c.last_seq).where(EXECUTIONS.c.id == self.execution_id)
            ).scalar_one()
        if stored != self._last_seq + len(events):
            return None
        return self._settled(batch, events, stored)

    def _write_once(self, batch: list[_Write]) -> list[int | None]:
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
        return self._settled(batch, events, last_seq)

    def _settled(
        self, batch: list[_Write], events: list[dict], last_seq: int | None
    ) -> list[int | None]:
        """Number the committed batch's events and keep them for :meth:`_publish`; each
        write's seq."""
        if events:
            self._last_seq = last_seq
        for i, row in enumerate(events):
            row["seq"] = last_seq - (len(events) - 1 - i)
        if self._redis is not None:
            self._unpublished = events
        return [w.event["seq"] if w.event is not None else None for w in batch]

    def _publish(self) -> None:
        """Publish the batch just committed, on the lane once its writers have their
        answer: the run goes on while Redis answers (a Redis round trip, 0.7 ms of a
        loaded worker's wall time per batch, was on the run's path twice per run), and the
        next batch's write waits behind it, so events are still published in order and
        only once committed."""
        events, self._unpublished = self._unpublished, []
        if events:
            publish(events, self._redis)

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
                        {name: _json_value(step[name]) for name in PG_STEP_TYPES} for step in steps
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

    # -- reads -------------------------------------------------------------------------

    def _read_steps(self) -> list[StepRecord]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(STEPS).where(STEPS.c.execution_id == self.execution_id)
            ).mappings()
            return [step_record(row) for row in rows]

    def _read_cancel(self) -> bool:
        with self._engine.connect() as conn:
            flag = conn.execute(
                select(EXECUTIONS.c.cancel_requested).where(EXECUTIONS.c.id == self.execution_id)
            ).scalar_one_or_none()
        return bool(flag)


def step_row(execution_id: int, step: StepRecord, redact: Callable[[Any], Any]) -> dict[str, Any]:
    """A step as its ``step_runs`` row, redacted: the one shape both the store and a map's
    item batches (``map_items``) write."""
    return {
        "execution_id": execution_id,
        "node_id": step.node_id,
        "type": step.type,
        "status": StepStatus(step.status),
        "attempts": step.attempts,
        "output": jsonable(redact(step.output)),
        "output_truncated": step.output_truncated,
        "error": redact(step.error) if step.error is not None else None,
        "usage": jsonable(step.usage),
        "started_at": aware(step.started_at),
        "finished_at": aware(step.finished_at),
    }
