"""What a worker's claim costs as its owner's history grows, with and without the index.

Every run starts with a claim (``services.executions.claim``): under the owner's lock it
counts the owner's running runs and takes their oldest queued one. For each history size
H (``--history``) this script makes a fresh database, gives one account H finished runs,
queues 200 more and times the claim of each, in process: first before the database has
statistics of the history, then after ``ANALYZE``. It does the same on a fresh database
taken back to migration 0007 (before ``ix_executions_owner_status``), and prints the
median and p95 of each, and the query plan SQLite chose for the count.

    .venv/bin/python bench/claims.py [--db sqlite|postgres|both] [--history 1,100000]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import event

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.execution import percentile, three_nodes  # noqa: E402

#: The schema before the index (migration 0008).
BEFORE = "0007"
CLAIMS = 200


def add_history(template: dict, count: int) -> None:
    """``count`` finished runs like ``template``, in batches."""
    from sqlalchemy import insert

    from agentflow_app.db import get_engine
    from agentflow_app.services.executions.rows import EXECUTIONS

    row = {k: v for k, v in template.items() if k != "id"} | {"status": "succeeded"}
    with get_engine().begin() as conn:
        for start in range(0, count, 5000):
            conn.execute(insert(EXECUTIONS), [row] * min(5000, count - start))


def time_claims(actor, workflow_id: int) -> list[float]:
    """Queue :data:`CLAIMS` runs and claim each; the claims' times in ms. The claimed runs
    are marked finished after, so the next measurement starts from the same state."""
    from sqlalchemy import update

    from agentflow_app.db import get_engine
    from agentflow_app.services import executions
    from agentflow_app.services.executions.rows import EXECUTIONS

    ids = [executions.start(actor, workflow_id, {}) for _ in range(CLAIMS)]
    took = []
    for execution_id in ids:
        t0 = time.perf_counter()
        claimed = executions.claim(execution_id, "bench")
        took.append((time.perf_counter() - t0) * 1000)
        if claimed is None:
            raise SystemExit(f"execution {execution_id} was not claimed: the figure means nothing")
    with get_engine().begin() as conn:
        conn.execute(update(EXECUTIONS).where(EXECUTIONS.c.id.in_(ids)).values(status="succeeded"))
    return took


def count_plan(owner_id: int) -> str:
    """SQLite's plan for the claim's count of running runs, as the claim sends it (bound
    values: the plan of the same text with literals may differ)."""
    from agentflow_app.db import get_engine
    from agentflow_app.services.executions.lifecycle import running_count

    engine = get_engine()
    if engine.dialect.name != "sqlite":
        return ""
    plans: list[str] = []

    def explain(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT COUNT"):
            plans.extend(row[-1] for row in cursor.execute(f"EXPLAIN QUERY PLAN {statement}",
                                                           parameters))  # fmt: skip

    event.listen(engine, "before_cursor_execute", explain)
    try:
        with engine.connect() as conn:
            running_count(conn, owner_id)
    finally:
        event.remove(engine, "before_cursor_execute", explain)
    return "; ".join(plans)


def measure(kind: str, size: int, revision: str | None) -> dict[str, tuple]:
    """Claim times and SQLite's plan with ``size`` past runs, on a fresh stack of ``kind``
    at the newest schema or taken back to ``revision``: first as inserted (PostgreSQL's
    autovacuum is held off the table, so its planner has no statistics of the history, as
    after a bulk load or while autovacuum lags), then after ``ANALYZE``."""
    from sqlalchemy import select, text

    from agentflow_app.db import get_engine
    from agentflow_app.services import executions, users, workflows
    from agentflow_app.services.executions.rows import EXECUTIONS
    from tests.helpers.databases import downgrade_to
    from tests.helpers.stack import make_stack

    results = {}
    with make_stack(kind, Path(tempfile.mkdtemp(prefix="agentflow-claims-"))):
        if revision is not None:
            # The schema a database of that day had (SQLite plans by the indexes it has).
            downgrade_to(revision)
            get_engine().dispose()
        if get_engine().dialect.name == "postgresql":
            with get_engine().begin() as conn:
                conn.execute(text("ALTER TABLE executions SET (autovacuum_enabled = false)"))
        actor = users.create_user(f"bench-{secrets.token_hex(3)}@example.com", "benchmark pw 1")
        workflow_id = workflows.create(actor, three_nodes()).id
        first = executions.start(actor, workflow_id, {})
        with get_engine().connect() as conn:
            template = dict(
                conn.execute(select(EXECUTIONS).where(EXECUTIONS.c.id == first)).mappings().one()
            )
        add_history(template, size - 1)
        for state in ("as inserted", "analyzed"):
            if state == "analyzed":
                with get_engine().begin() as conn:
                    conn.execute(text("ANALYZE executions"))
                get_engine().dispose()  # SQLite's connections keep statements planned before
            time_claims(actor, workflow_id)  # warm: pools, statement caches
            results[state] = (time_claims(actor, workflow_id), count_plan(actor.id))
            print(
                f"{kind:<9} {revision or 'head':<5} {size:>7} past runs, {state}: claim p50 "
                f"{statistics.median(results[state][0]):.2f} ms",
                flush=True,
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--history", default="1,100000")
    args = parser.parse_args()
    os.environ["AGENTFLOW_MAX_CONCURRENT_EXECUTIONS"] = "100000"
    sizes = sorted({max(1, int(n)) for n in args.history.split(",")})
    kinds = ["embedded", "postgres"] if args.db == "both" else [
        "embedded" if args.db == "sqlite" else "postgres"
    ]  # fmt: skip
    rows = [
        (kind, size, state, revision)
        for kind in kinds
        for size in sizes
        for revision in (None, BEFORE)
        for state in [measure(kind, size, revision)]
    ]
    print()
    print("| stack | owner's past runs | statistics | claim p50 / p95, 0008 | 0007 (before) |")
    print("|---|---|---|---|---|")
    plans = []
    for (kind, size, now, _), (_, _, before, _) in zip(rows[::2], rows[1::2], strict=True):
        for state in ("as inserted", "analyzed"):
            (after_ms, after_plan), (before_ms, before_plan) = now[state], before[state]
            print(
                f"| {kind} | {size:,} | {state} | {statistics.median(after_ms):.2f} / "
                f"{percentile(after_ms, 95):.2f} ms | {statistics.median(before_ms):.2f} / "
                f"{percentile(before_ms, 95):.2f} ms |"
            )
            if after_plan:
                plans.append(f"SQLite's plan for the count, {size:,} past runs, {state}: "
                             f"0008: {after_plan}; 0007: {before_plan}")  # fmt: skip
    print(*plans, sep="\n")


if __name__ == "__main__":
    main()
