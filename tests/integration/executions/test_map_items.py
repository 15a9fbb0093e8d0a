"""Map items run in batches by the worker that holds the map's turn (``map_items``).

A worker SIGKILLed in the middle of a batch: the items it had stored stay finished and
are not run again; the ones it held unstored are given back by the reaper and run again
from the start (their workflow allows it); no item is lost, and each ends exactly once.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from agentflow_app.db import get_engine
from agentflow_app.engine.status import ExecutionStatus
from agentflow_app.models import Execution, ExecutionEvent
from agentflow_app.services import executions
from agentflow_app.services.executions import execution_record
from tests.helpers.documents import chain, map_flow, node
from tests.helpers.executions import create_workflow, status_of, wait_until
from tests.helpers.workers import worker_pool

E = Execution.__table__
V = ExecutionEvent.__table__
TOTAL = 120


def fetch_one(url: str) -> dict:
    """An item that GETs ``/item/<index>`` (10 ms: fast enough to be batched) and gives
    the index back."""
    return chain(
        "fetch one",
        node(
            "start",
            "trigger.manual",
            inputs=[{"name": "item", "type": "integer"}, {"name": "index", "type": "integer"}],
        ),
        node(
            "fetch",
            "http.request",
            url=url + "/item/{{ inputs.index }}",
            query={"delay_ms": "10"},
            retries=0,
        ),
        node("out", "output", fields={"index": "{{ inputs.index }}"}),
    )


def _items(execution_id: int) -> list:
    with get_engine().connect() as conn:
        return conn.execute(
            select(E.c.id, E.c.item_index, E.c.status, E.c.worker).where(
                E.c.caller_id == execution_id
            )
        ).all()


def _events(ids: list[int]) -> list:
    with get_engine().connect() as conn:
        return conn.execute(
            select(V.c.execution_id, V.c.seq, V.c.type).where(V.c.execution_id.in_(ids))
        ).all()


def test_a_worker_killed_mid_batch_loses_no_item_and_runs_no_stored_one_again(
    stack, make_actor, slow_server, tmp_path
):
    owner = make_actor()
    child = create_workflow(owner, fetch_one(slow_server.url))
    mapper = create_workflow(owner, map_flow(child, 0, concurrency=2))
    hits = lambda: {i: slow_server.count(f"/item/{i}") for i in range(TOTAL)}  # noqa: E731
    with worker_pool(stack, tmp_path) as pool:
        doomed = pool.start("doomed", concurrency=2)
        execution_id = executions.start(owner, mapper, {"items": list(range(TOTAL))})
        wait_until(lambda: sum(hits().values()) >= TOTAL // 3, "a third of the items to run")
        doomed.kill()
        at_kill = _items(execution_id)
        stored = {row.item_index for row in at_kill if row.status == ExecutionStatus.SUCCEEDED}
        held = {row.item_index for row in at_kill if row.status == ExecutionStatus.RUNNING}
        hits_at_kill = hits()
        assert stored and held, "the kill landed with items stored and items in flight"
        assert all(row.worker.startswith("doomed@") for row in at_kill if row.item_index in held)
        pool.start("heir", concurrency=2)
        wait_until(lambda: status_of(execution_id).finished, "the map to end", guard_s=300)

    record = execution_record(execution_id)
    assert record["status"] == "succeeded", record["error"]
    results = next(s for s in record["steps"] if s["node_id"] == "each")["output"]["results"]
    assert [int(r["index"]) for r in results] == list(range(TOTAL)), "every item, in order"

    final = hits()
    assert all(count >= 1 for count in final.values()), "no item was lost"
    for index in stored:
        assert final[index] == hits_at_kill[index] == 1, f"stored item {index} ran again"
    assert {i for i, count in final.items() if count > 1} <= held, "only held items re-ran"

    rows = _items(execution_id)
    events = _events([row.id for row in rows])
    ends = Counter(e.execution_id for e in events if e.type == "execution.succeeded")
    assert all(ends[row.id] == 1 for row in rows), "each item ended exactly once"
    for row in rows:
        seqs = sorted(e.seq for e in events if e.execution_id == row.id)
        assert seqs == list(range(1, len(seqs) + 1)), f"item {row.item_index}: seqs in order"
    queued = {e.execution_id for e in events if e.type == "execution.queued"}
    assert len(queued) < TOTAL, "items were taken in batches, not each queued on its own"
