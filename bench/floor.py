"""The floor of a durable three-node run: the same work as ours, written by hand.

Issue 20 asks a worker to reach 0.2 × the raw Celery no-op rate. A no-op task does no
work, so that ratio says nothing of how far we are from what a run *must* cost. This
module is the missing peer: a Celery task a competent engineer would write for the
bench's flow (trigger → one streamed LLM call → output) with the same promises ours
keeps, and nothing more:

- the run is a row committed before it is queued (a crash loses nothing);
- the worker claims it with a conditional update it commits (no run is done twice);
- the LLM is called through the official Anthropic SDK, streamed, as our node does;
- the three steps and the run's end are committed in one transaction, and the end is
  published on Redis (a waiter wakes on it).

What it leaves out is what makes ours a product: no document, plan or templating, no
per-step start before an effect, no events per step, redaction, cost, limits, vault,
plugins, LangChain. So its rate is an upper bound for any implementation, not a target
to match.

    worker: celery -A bench.floor:floor_app worker -Q bench-floor --concurrency 2
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery import Celery

FLOOR_QUEUE = "bench-floor"


def peer_app(name: str, queue: str) -> Celery:
    """A Celery app for a bench's peer, delivering as ours does (JSON, acknowledged after
    the task, one message prefetched per process), on ``BENCH_REDIS_URL``."""
    app = Celery(name, broker=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"))
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        task_default_queue=queue,
    )
    return app


floor_app = peer_app("floor", FLOOR_QUEUE)

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS floor_runs (id {serial} PRIMARY KEY, status TEXT NOT NULL,"
    " inputs TEXT NOT NULL, outputs TEXT)",
    "CREATE TABLE IF NOT EXISTS floor_steps (run_id INTEGER NOT NULL, node_id TEXT NOT NULL,"
    " status TEXT NOT NULL, output TEXT NOT NULL, PRIMARY KEY (run_id, node_id))",
]


def connect(db_url: str) -> Any:
    """A DB-API connection to the database SQLAlchemy's ``db_url`` names.

    SQLite gets the pragmas our engine sets (WAL, synchronous=NORMAL), so both sides pay
    the same price for a commit.
    """
    if db_url.startswith("sqlite"):
        conn = sqlite3.connect(db_url.split(":///", 1)[1], timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return _SqliteTx(conn)
    import psycopg

    return psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://"))


class _SqliteTx:
    """sqlite3 in autocommit with explicit ``BEGIN IMMEDIATE``, and psycopg's ``%s``.

    The driver's own implicit transactions take the write lock only at the first write,
    which deadlocks two writers; ours (SQLAlchemy) begins immediately too.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.open = False

    def execute(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        if not self.open and not sql.startswith("SELECT"):
            self.conn.execute("BEGIN IMMEDIATE")
            self.open = True
        return self.conn.execute(sql.replace("%s", "?"), params)

    def commit(self) -> None:
        if self.open:
            self.conn.execute("COMMIT")
        self.open = False


def create_schema(db_url: str) -> None:
    conn = connect(db_url)
    serial = "INTEGER" if isinstance(conn, _SqliteTx) else "SERIAL"
    for statement in SCHEMA:
        conn.execute(statement.format(serial=serial))
    conn.commit()


_local: dict[str, Any] = {}


def _worker_parts() -> tuple[Any, Any, Any]:
    """The pool process's connection, SDK client and Redis client, made once."""
    if not _local:
        import anthropic
        import redis

        _local["db"] = connect(os.environ["DB_URL"])
        _local["llm"] = anthropic.Anthropic(max_retries=0)
        _local["redis"] = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
    return _local["db"], _local["llm"], _local["redis"]


@floor_app.task(name="bench.floor", ignore_result=True)
def floor_run(run_id: int) -> None:
    db, llm, bus = _worker_parts()
    claimed = db.execute(
        "UPDATE floor_runs SET status = 'running' WHERE id = %s AND status = 'queued' RETURNING id",
        (run_id,),
    ).fetchone()
    db.commit()
    if claimed is None:
        return
    try:
        answer = _ask(llm)
    except Exception:
        db.execute("UPDATE floor_runs SET status = 'failed' WHERE id = %s", (run_id,))
        db.commit()
        raise
    steps = [("start", {}), ("ask", {"text": answer}), ("out", {"answer": answer})]
    for node_id, output in steps:
        db.execute(
            "INSERT INTO floor_steps (run_id, node_id, status, output)"
            " VALUES (%s, %s, 'succeeded', %s)",
            (run_id, node_id, json.dumps(output)),
        )
    db.execute(
        "UPDATE floor_runs SET status = 'succeeded', outputs = %s WHERE id = %s",
        (json.dumps({"answer": answer}), run_id),
    )
    db.commit()
    bus.publish(f"bench:floor:end:{run_id}", "succeeded")


def _ask(llm: Any) -> str:
    with llm.messages.stream(
        model="claude-haiku-4-5", max_tokens=1024, messages=[{"role": "user", "content": "Say hi"}]
    ) as stream:
        answer = "".join(stream.text_stream)
    if not answer:
        raise ValueError("the LLM answered nothing: the floor would measure an error path")
    return answer


def throughput(db_url: str, runs: int) -> float:
    """``runs`` floor runs submitted from 4 threads, as (b) submits ours: runs per second
    from the first submission to the last run's end committed."""
    local = threading.local()

    def submit(_: int) -> int:
        if not hasattr(local, "db"):
            local.db = connect(db_url)
        row = local.db.execute(
            "INSERT INTO floor_runs (status, inputs) VALUES ('queued', '{}') RETURNING id"
        ).fetchone()
        local.db.commit()
        floor_app.send_task("bench.floor", args=[row[0]], queue=FLOOR_QUEUE)
        return row[0]

    watch = connect(db_url)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(submit, range(runs)))
    deadline = time.monotonic() + 120 + runs / 10
    while time.monotonic() < deadline:
        # One range, as (b) watches ours: the watch shares the machine with the workers.
        rows = watch.execute(
            "SELECT status, count(*) FROM floor_runs WHERE id BETWEEN %s AND %s GROUP BY status",
            (min(ids), max(ids)),
        ).fetchall()
        watch.commit()
        counts = dict(rows)
        if counts.get("succeeded", 0) == runs:
            return runs / (time.perf_counter() - t0)
        if set(counts) - {"queued", "running", "succeeded"}:
            raise SystemExit(f"floor runs ended otherwise: {counts}; see the floor worker's log")
        time.sleep(0.05)
    raise SystemExit("the floor runs did not finish; see the floor worker's log")
