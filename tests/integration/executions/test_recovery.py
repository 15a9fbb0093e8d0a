"""Workers die mid-run (SIGKILL of the whole worker); runs resume without repeating work.

SPEC §7: finished steps are not run again, an idempotent step in flight runs again, a
side-effecting one in flight fails as "may have been sent", and nothing stays running.
The reaper runs inside the surviving (or newly started) worker, as in ``agentflow serve``.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import select

from agentflow_app.db import get_engine
from agentflow_app.engine.status import ExecutionStatus, StepStatus
from agentflow_app.models import Execution, StepRun
from agentflow_app.services import executions
from agentflow_app.services.executions import events_after, execution_record
from tests.helpers.documents import chain, node
from tests.helpers.executions import counted_workflow, create_workflow, wait_finished, wait_until
from tests.helpers.workers import worker_pool

E = Execution.__table__
S = StepRun.__table__


def _running_on(worker: str) -> list[int]:
    """Executions of ``worker`` whose fetch step is in flight."""
    with get_engine().connect() as conn:
        return list(
            conn.execute(
                select(E.c.id)
                .join(S, S.c.execution_id == E.c.id)
                .where(
                    E.c.status == ExecutionStatus.RUNNING,
                    E.c.worker.like(f"{worker}@%"),
                    S.c.node_id == "fetch",
                    S.c.status == StepStatus.RUNNING,
                )
            ).scalars()
        )


def _finished_count(ids: list[int]) -> int:
    with get_engine().connect() as conn:
        return len(
            conn.execute(
                select(E.c.id).where(E.c.id.in_(ids), E.c.status == ExecutionStatus.SUCCEEDED)
            ).all()
        )


def test_fifty_runs_survive_a_worker_killed_mid_flight(
    stack, make_actor, slow_server, tmp_path
) -> None:
    actor = make_actor()
    workflow_id = create_workflow(actor, counted_workflow(slow_server, delay_ms=300))
    with worker_pool(stack, tmp_path) as pool:
        doomed = pool.start("a")
        pool.start("b")
        ids = [executions.start(actor, workflow_id, {"n": n}) for n in range(50)]
        wait_until(
            lambda: _finished_count(ids) >= 10 and _running_on("a"),
            "ten runs done and one in flight on worker a",
        )
        in_flight = set(_running_on("a"))
        doomed.kill()
        wait_finished(*ids)

    problems = []
    repeated: set[int] = set()
    for n, execution_id in enumerate(ids):
        record = execution_record(execution_id)
        events = events_after(execution_id)
        kinds = Counter(str(e.type) for e in events)
        succeeded = Counter(e.node_id for e in events if e.type == "step.succeeded")
        started = Counter(e.node_id for e in events if e.type == "step.started")
        if record["status"] != "succeeded":
            problems.append(f"{execution_id}: {record['status']} {record['error']}")
        if kinds["execution.succeeded"] != 1:
            problems.append(f"{execution_id}: finished {kinds['execution.succeeded']} times")
        if succeeded != Counter({"start": 1, "fetch": 1, "shape": 1, "out": 1}):
            problems.append(f"{execution_id}: steps finished {dict(succeeded)}")
        if record["outputs"] != {"text": f"run {n} hit {slow_server.count(f'/hit/{n}')}"}:
            problems.append(f"{execution_id}: outputs {record['outputs']}")
        # Each request the server saw was a started attempt, and the run's last attempt
        # reached it. An attempt in flight on the killed worker may have died before its
        # request left (a start and no hit) or after (a GET, so it runs again).
        hits = slow_server.count(f"/hit/{n}")
        if not 1 <= hits <= started["fetch"]:
            problems.append(f"{execution_id}: {hits} hits for {started['fetch']} starts")
        if started["fetch"] > 1:
            repeated.add(execution_id)
        if any(count > 1 for node_id, count in started.items() if node_id != "fetch"):
            problems.append(f"{execution_id}: steps started {dict(started)}")
    assert problems == []
    recovered = {i for i in ids if _recovered(i)}
    assert in_flight <= recovered, "the runs in flight on the killed worker were recovered"
    assert repeated <= recovered, "only a step in flight on the killed worker ran twice"


def _recovered(execution_id: int) -> bool:
    return any(
        e.type == "execution.queued" and e.data.get("recovered") for e in events_after(execution_id)
    )


def _two_step(slow_server, method: str) -> dict:
    return chain(
        f"two steps {method}",
        node("start", "trigger.manual"),
        node("first", "http.request", url=f"{slow_server.url}/{method}/first", retries=0),
        node(
            "fetch",
            "http.request",
            method=method,
            url=f"{slow_server.url}/{method}/second",
            query={"delay_ms": "4000"},
            retries=0,
        ),
        node("out", "output", fields={"second": "{{ nodes.fetch.output.body.hit }}"}),
    )


def _kill_mid_second_step(stack, tmp_path, slow_server, actor, method: str) -> tuple[int, float]:
    """Run the two-step workflow, kill its worker inside the slow step, start another.

    Returns the execution id and the seconds from the kill to the resumed start.
    """
    workflow_id = create_workflow(actor, _two_step(slow_server, method))
    with worker_pool(stack, tmp_path) as pool:
        doomed = pool.start("c", concurrency=1)
        execution_id = executions.start(actor, workflow_id, {})
        wait_until(lambda: slow_server.count(f"/{method}/second") == 1, "the slow step")
        doomed.kill()
        killed_at = datetime.now().astimezone()
        pool.start("d", concurrency=1)
        wait_finished(execution_id)
    resumed = [
        e.ts
        for e in events_after(execution_id)
        if e.type == "execution.started" and e.data.get("resumed")
    ]
    assert resumed, "the run was resumed by the second worker"
    return execution_id, (resumed[0] - killed_at).total_seconds()


def test_the_reaper_resumes_a_run_whose_worker_died(stack, make_actor, slow_server, tmp_path):
    execution_id, took = _kill_mid_second_step(stack, tmp_path, slow_server, make_actor(), "GET")

    record = execution_record(execution_id)
    assert record["status"] == "succeeded", record
    assert slow_server.count("/GET/first") == 1, "the finished step was not run again"
    assert slow_server.count("/GET/second") == 2, "the idempotent GET in flight ran again"
    assert record["outputs"] == {"second": 2}
    queued = [e for e in events_after(execution_id) if e.type == "execution.queued"]
    assert len(queued) == 2
    assert queued[1].data["recovered"] is True
    assert "stopped answering; resuming from its finished steps" in queued[1].data["reason"]
    print(f"\nrecovered {took:.1f} s after the kill ({stack.kind})")


def test_a_side_effect_in_flight_is_not_repeated(stack, make_actor, slow_server, tmp_path):
    execution_id, _ = _kill_mid_second_step(stack, tmp_path, slow_server, make_actor(), "POST")

    record = execution_record(execution_id)
    assert record["status"] == "failed"
    assert slow_server.count("/POST/first") == 1
    assert slow_server.count("/POST/second") == 1, "the POST was not sent twice"
    step = next(s for s in record["steps"] if s["node_id"] == "fetch")
    assert step["status"] == "failed"
    assert step["error"].startswith("may have been sent")
    assert "node 'fetch' failed: may have been sent" in record["error"]
