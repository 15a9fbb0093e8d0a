"""The SQL the hot paths run, kept apart from the code that runs it.

The running store's statements (:func:`hot_statements`) are compiled once per dialect and
run on the raw DBAPI connection; on PostgreSQL a whole batch is one statement
(:func:`postgres_batch`) and a claim is one call of the database's ``agentflow_claim``
function (:data:`PG_CLAIM`; its SQL is in migration 0010). LangGraph's PostgreSQL saver
keeps its SQL the same way: the text is what gets reviewed and benchmarked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Connection,
    Dialect,
    Integer,
    bindparam,
    func,
    insert,
    literal_column,
    null,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from agentflow_app.services.executions.rows import EVENTS, EXECUTIONS, STEPS


@dataclass(frozen=True)
class Compiled:
    """A statement compiled once for a dialect and run on a raw DBAPI cursor.

    Building and executing Core statements cost several times the database work itself on
    the hot path; the SQL text and the bind processors (timestamps, JSON, enums) are still
    SQLAlchemy's, so rows written here read back exactly as through the models.
    """

    sql: str
    positional: bool
    processors: tuple[tuple[str, Callable[[Any], Any] | None], ...]

    @classmethod
    def of(cls, statement: Any, dialect: Dialect, *, executemany: bool = False) -> Compiled:
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
class HotStatements:
    """The statements a running execution repeats, and how its transactions begin."""

    #: PostgreSQL: the whole batch as one statement (see :func:`_postgres_batch`); None
    #: elsewhere, where the three statements below run in one transaction.
    one_statement: str | None
    allocate: Compiled
    insert_events: Compiled
    upsert_steps: Compiled
    finish: Compiled


STEP_COLUMNS = tuple(c.name for c in STEPS.columns if c.name != "id")


EVENT_COLUMNS = ("execution_id", "seq", "ts", "type", "node_id", "data")


#: JSON record types of the batch's rows, for ``jsonb_to_recordset``.
PG_STEP_TYPES = {
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


def postgres_batch() -> str:
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
    record = ", ".join(f"{name} {kind}" for name, kind in PG_STEP_TYPES.items())
    columns = ", ".join(PG_STEP_TYPES)
    updates = ", ".join(f"{name} = excluded.{name}" for name in PG_STEP_TYPES if name != "node_id")
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


def commit_without_flush(conn: Connection) -> None:
    """Let the transaction on ``conn`` commit without waiting for its WAL to reach the disk.

    For the run's own rows outside the store (queueing it): the guarantee of
    :func:`postgres_batch`, which says why it is enough. On a busy disk the flush was most
    of a queued run's cost (12 ms of a 21 ms ``start`` on the development machine). Nothing
    to do elsewhere: SQLite in WAL mode with synchronous=NORMAL never flushes at commit.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.set_config("synchronous_commit", "off", True)))


@lru_cache(maxsize=8)
def hot_statements(dialect: Dialect) -> HotStatements:
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
    insert_events = insert(EVENTS).from_select(list(EVENT_COLUMNS), numbered)
    module = postgresql if dialect.name == "postgresql" else sqlite
    upsert = module.insert(STEPS).values({name: bindparam(name) for name in STEP_COLUMNS})
    upsert = upsert.on_conflict_do_update(
        index_elements=[STEPS.c.execution_id, STEPS.c.node_id],
        set_={
            name: upsert.excluded[name]
            for name in STEP_COLUMNS
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
    return HotStatements(
        one_statement=postgres_batch() if dialect.name == "postgresql" else None,
        allocate=Compiled.of(allocate, dialect),
        insert_events=Compiled.of(insert_events, dialect, executemany=True),
        upsert_steps=Compiled.of(upsert, dialect, executemany=True),
        finish=Compiled.of(finish, dialect),
    )


#: PostgreSQL's claim (``services.executions.lifecycle.claim``): the function migration 0010
#: made locks the owner's claims, then, with a snapshot taken under the lock, counts the
#: owner's running runs, takes the oldest queued one if under the limit (the run itself if
#: it has no owner) and says what it found, in one autocommitted call.
PG_CLAIM = "SELECT * FROM agentflow_claim(%(id)s, %(worker)s, %(limit)s)"


#: What a new run's row is made of (:func:`pg_create`), in its INSERT's order.
CREATE_COLUMNS = (
    "document",
    "inputs",
    "owner_id",
    "workspace_id",
    "workflow_id",
    "workflow_version",
    "trigger",
    "parent_id",
    "caller_id",
    "caller_node",
    "status",
    "usage",
    "last_seq",
    "created_at",
    "wake_pending",
    "cancel_requested",
)


@lru_cache(maxsize=1)
def pg_create() -> Compiled:
    """A queued run and its ``execution.queued`` event as one statement (PostgreSQL).

    Run in autocommit, it is its own transaction and one round trip: as separate Core
    statements (the commit setting, the two INSERTs, COMMIT) queueing a run took four,
    plus building each statement, on every ``/run``. The commit does not wait for the
    disk flush (see :func:`commit_without_flush`).
    """
    run = select(
        *(bindparam(name, type_=EXECUTIONS.c[name].type) for name in CREATE_COLUMNS)
    ).where(
        func.set_config(
            literal_column("'synchronous_commit'"), literal_column("'off'"), true()
        ).is_not(None)
    )
    new_run = (
        insert(EXECUTIONS)
        .from_select(list(CREATE_COLUMNS), run)
        .returning(EXECUTIONS.c.id)
        .cte("new_run")
    )
    event = select(
        new_run.c.id,
        bindparam("seq", type_=Integer),
        bindparam("created_at", type_=EVENTS.c.ts.type),
        bindparam("type", type_=EVENTS.c.type.type),
        null(),
        bindparam("data", type_=EVENTS.c.data.type),
    )
    queued = insert(EVENTS).from_select(list(EVENT_COLUMNS), event).cte("queued")
    return Compiled.of(select(new_run.c.id).add_cte(queued), postgresql.dialect())
