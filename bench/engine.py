"""Engine overhead per node, ours against LangGraph, on the same kinds of store.

Graphs of no-op nodes, each run to the end:

* chain: a trigger then 200 nodes one after the other;
* chain, acting: the same with nodes that declare side effects (as Slack or email do);
* fan-out: a trigger then 200 nodes in parallel.

Ours runs the engine's runner with ``MemoryStore``, then with the durable
``DbExecutionStore`` on SQLite (WAL, synchronous=NORMAL, as ``db.py`` sets it) and on
PostgreSQL. LangGraph runs the same shapes as a ``StateGraph`` (one node per node, a
constant-size state) with ``InMemorySaver``, ``AsyncSqliteSaver`` (given the same
pragmas) and ``AsyncPostgresSaver``. Each of our shapes is compared with the LangGraph
durability that keeps the closest promise: a node with side effects is stored as running
before it acts, a write the run waits for at each step (LangGraph's ``durability="sync"``,
a checkpoint before the next step); a node's end is written while the next one runs, in
order (``"async"``, LangGraph's default). Both LangGraph modes and LangGraph without a
checkpointer are printed.

Printed: the median over RUNS runs of (run time / 200) in ms per node, and ours divided by
the matching LangGraph mode (targets: ≤ 1 ms per node in memory; ≤ 0.5 with checkpointing
on each store).

    .venv/bin/python bench/engine.py [--runs 7] [--nodes 200] [--no-postgres]

PostgreSQL is 127.0.0.1:5432 (user postgres); two throwaway databases are created and
dropped. Needs langgraph-checkpoint-postgres for the LangGraph PostgreSQL row.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import operator
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from alembic import command

from agentflow_app.db import engine_for
from agentflow_app.engine.node import Node, NodeConfig, RunContext
from agentflow_app.engine.plan import compile_plan
from agentflow_app.engine.registry import Registry
from agentflow_app.engine.runner import run
from agentflow_app.engine.status import ExecutionStatus
from agentflow_app.engine.store import MemoryStore
from agentflow_app.migrate import alembic_config
from agentflow_app.services.executions import DbExecutionStore, create
from agentflow_app.settings import reset_settings

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


# -- our side ---------------------------------------------------------------------------


class BenchTrigger(Node):
    type = "bench.trigger"
    label = "Bench trigger"
    is_trigger = True
    inputs = ()

    async def run(self, ctx: RunContext, config: NodeConfig) -> Any:
        return {}


class Noop(Node):
    type = "bench.noop"
    label = "No-op"

    async def run(self, ctx: RunContext, config: NodeConfig) -> Any:
        return None


class NoopActing(Noop):
    """A no-op that declares side effects: the runner stores it as running before it acts."""

    type = "bench.noop_acting"
    label = "No-op with side effects"
    side_effects = True


def bench_registry() -> Registry:
    registry = Registry()
    registry.register_node(BenchTrigger)
    registry.register_node(Noop)
    registry.register_node(NoopActing)
    return registry


def document(shape: str, n: int) -> dict[str, Any]:
    noop = "bench.noop_acting" if shape == "chain, acting" else "bench.noop"
    nodes = [{"id": "start", "type": "bench.trigger", "data": {"config": {}}}]
    nodes += [{"id": f"n{i}", "type": noop, "data": {"config": {}}} for i in range(n)]
    if shape.startswith("chain"):
        pairs = [(nodes[i]["id"], nodes[i + 1]["id"]) for i in range(n)]
    else:
        pairs = [("start", f"n{i}") for i in range(n)]
    edges = [{"id": f"e{i}", "source": s, "target": t} for i, (s, t) in enumerate(pairs)]
    return {"schema_version": 1, "name": f"bench {shape}", "nodes": nodes, "edges": edges}


def ours(shape: str, n: int, store_kind: str, url: str | None) -> Callable[[], Awaitable[float]]:
    registry = bench_registry()
    doc = document(shape, n)
    plan = compile_plan(doc, registry)  # compiled once, as LangGraph's graph is
    engine = engine_for(url) if url else None

    async def once() -> float:
        if engine is None:
            store: Any = MemoryStore()
        else:
            execution_id = create(doc, {}, engine=engine)
            store = DbExecutionStore(execution_id, engine=engine)
        started = time.perf_counter()
        result = await run(plan, {}, store, registry=registry, http=None, credentials=None)
        if engine is not None:
            await store.aclose()
        elapsed = time.perf_counter() - started
        assert result.status == ExecutionStatus.SUCCEEDED, result.error
        return elapsed

    return once


# -- LangGraph --------------------------------------------------------------------------


class State(TypedDict):
    count: Annotated[int, operator.add]


async def _lg_noop(state: State) -> dict[str, int]:
    return {"count": 1}


def langgraph_graph(shape: str, n: int):
    from langgraph.graph import END, START, StateGraph

    graph = StateGraph(State)
    graph.add_node("start", _lg_noop)
    graph.add_edge(START, "start")
    for i in range(n):
        graph.add_node(f"n{i}", _lg_noop)
    if shape == "chain":
        graph.add_edge("start", "n0")
        for i in range(n - 1):
            graph.add_edge(f"n{i}", f"n{i + 1}")
        graph.add_edge(f"n{n - 1}", END)
    else:
        for i in range(n):
            graph.add_edge("start", f"n{i}")
            graph.add_edge(f"n{i}", END)
    return graph


def langgraph(
    shape: str, n: int, saver: Any, durability: str | None
) -> Callable[[], Awaitable[float]]:
    app = langgraph_graph(shape, n).compile(checkpointer=saver)

    async def once() -> float:
        config = {"configurable": {"thread_id": secrets.token_hex(8)}, "recursion_limit": 10 * n}
        started = time.perf_counter()
        out = await app.ainvoke({"count": 0}, config, durability=durability)
        elapsed = time.perf_counter() - started
        assert out["count"] == n + 1, out
        return elapsed

    return once


@contextlib.asynccontextmanager
async def sqlite_saver(path: Path) -> AsyncIterator[Any]:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
        # The same durability settings our SQLite engine uses, so the store kinds match.
        await saver.conn.execute("PRAGMA journal_mode=WAL")
        await saver.conn.execute("PRAGMA synchronous=NORMAL")
        yield saver


@contextlib.asynccontextmanager
async def postgres_saver(url: str) -> AsyncIterator[Any]:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    async with AsyncPostgresSaver.from_conn_string(url) as saver:
        await saver.setup()
        # Our store commits with synchronous_commit=off (see services/executions/store_sql.py): the
        # same for LangGraph, so both wait for the same thing.
        await saver.conn.execute("SET synchronous_commit = off")
        yield saver


# -- plumbing ---------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A throwaway database; its plain URL."""
    name = f"agentflow_bench_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(url: str) -> None:
    """alembic upgrade head on ``url`` (Alembic reads DB_URL through the settings)."""
    os.environ["DB_URL"] = url
    reset_settings()
    command.upgrade(alembic_config(), "head")
    engine_for(url).dispose()


async def medians_ms_per_node(
    contenders: list[Callable[[], Awaitable[float]]], runs: int, n: int
) -> list[float]:
    """Median ms per node of each contender, their runs interleaved.

    Interleaving makes the contenders share whatever else the machine is doing, so the
    ratios hold even when the absolute figures move.
    """
    for once in contenders:
        await once()  # warm-up: imports, caches, connections
    times: list[list[float]] = [[] for _ in contenders]
    for _ in range(runs):
        for once, taken in zip(contenders, times, strict=True):
            taken.append(await once())
    return [statistics.median(taken) / n * 1000 for taken in times]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    n, runs = args.nodes, args.runs

    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        sqlite_url = f"sqlite:///{tmp / 'agentflow.db'}"
        migrate(sqlite_url)
        stores: list[tuple[str, str | None]] = [("memory", None), ("sqlite", sqlite_url)]
        pg_plain = None
        if not args.no_postgres:
            ours_pg = stack.enter_context(postgres_database())
            pg_plain = stack.enter_context(postgres_database())
            pg_url = ours_pg.replace("postgresql://", "postgresql+psycopg://")
            migrate(pg_url)
            stores.append(("postgresql", pg_url))

        from langgraph.checkpoint.memory import InMemorySaver

        async with contextlib.AsyncExitStack() as savers:
            lg_savers: dict[str, Any] = {"memory": InMemorySaver()}
            lg_savers["sqlite"] = await savers.enter_async_context(sqlite_saver(tmp / "lg.db"))
            if pg_plain is not None:
                lg_savers["postgresql"] = await savers.enter_async_context(postgres_saver(pg_plain))

            print(f"{n} no-op nodes, median of {runs} runs, ms per node\n")
            header = (
                f"{'graph':14} {'store':11} {'ours':>7} {'LG sync':>8} {'LG async':>9} "
                f"{'ours/LG':>8} {'LG none':>8}"
            )
            print(header)
            print("-" * len(header))
            for shape in ("chain", "chain, acting", "fan-out"):
                kind = "fan" if shape == "fan-out" else shape
                lg_kind = "fan" if shape == "fan-out" else "chain"
                for store_kind, url in stores:
                    saver = lg_savers[store_kind]
                    mine, lg_sync, lg_async, no_checkpoint = await medians_ms_per_node(
                        [
                            ours(kind, n, store_kind, url),
                            langgraph(lg_kind, n, saver, "sync"),
                            langgraph(lg_kind, n, saver, "async"),
                            langgraph(lg_kind, n, None, None),
                        ],
                        runs,
                        n,
                    )
                    matching = lg_sync if shape == "chain, acting" else lg_async
                    print(
                        f"{shape:14} {store_kind:11} {mine:7.3f} {lg_sync:8.3f} "
                        f"{lg_async:9.3f} {mine / matching:8.2f} {no_checkpoint:8.3f}",
                        flush=True,
                    )
            print(
                "\nours/LG: our time over LangGraph's on the same store kind with the durability "
                "that keeps our promise for the shape ('sync' for nodes with side effects, "
                "'async' for the others; target ≤ 0.5); LG none: LangGraph without a "
                "checkpointer."
            )


if __name__ == "__main__":
    asyncio.run(main())
