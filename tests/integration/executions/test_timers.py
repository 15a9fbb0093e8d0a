"""Timers and idle waits on real workers: flow.wait fires once, waiting runs hold nothing."""

from __future__ import annotations

import time

from agentflow_app.engine.status import ExecutionStatus
from agentflow_app.services import executions
from agentflow_app.services.executions import execution_record, load_execution
from tests.helpers.documents import chain, node
from tests.helpers.executions import (
    counted_workflow,
    create_workflow,
    event_types,
    status_of,
    wait_finished,
    wait_until,
)
from tests.helpers.workers import worker_pool


def waiting_flow(server_url: str, seconds: float) -> dict:
    return chain(
        "timer",
        node("start", "trigger.manual"),
        node("pause", "flow.wait", for_s=seconds),
        node("after", "http.request", url=server_url + "/after-timer", retries=0),
        node("out", "output", fields={"waited": "{{ nodes.pause.output.waited_s }}"}),
    )


def test_a_two_second_wait_fires_once_with_three_workers(stack, make_actor, slow_server, tmp_path):
    owner = make_actor()
    flow = create_workflow(owner, waiting_flow(slow_server.url, 2))
    with worker_pool(stack, tmp_path) as pool:
        for name in ("t1", "t2", "t3"):
            pool.start(name, concurrency=1)
        execution_id = executions.start(owner, flow, {})
        wait_until(lambda: status_of(execution_id) == ExecutionStatus.WAITING, "the run to wait")
        wait_finished(execution_id)
    record = execution_record(execution_id)
    assert record["status"] == "succeeded"
    assert record["outputs"]["waited"] >= 2
    assert slow_server.count("/after-timer") == 1
    types = [t for t, node_id in event_types(execution_id) if node_id in (None, "pause")]
    assert types.count("step.succeeded") == 1, "the wait step ended once"
    assert types.count("execution.waiting") == 1


def test_a_wait_that_fell_due_while_no_worker_ran_fires_after_restart(
    stack, make_actor, slow_server, tmp_path
):
    owner = make_actor()
    flow = create_workflow(owner, waiting_flow(slow_server.url + "/restart", 1))
    with worker_pool(stack, tmp_path) as pool:
        pool.start("before")
        execution_id = executions.start(owner, flow, {})
        wait_until(lambda: status_of(execution_id) == ExecutionStatus.WAITING, "the run to wait")
    time.sleep(2)  # due now, and nothing is running to notice
    assert status_of(execution_id) == ExecutionStatus.WAITING
    with worker_pool(stack, tmp_path) as pool:
        pool.start("after")
        wait_finished(execution_id)
    assert load_execution(execution_id).status == "succeeded"
    assert slow_server.count("/restart/after-timer") == 1


def test_waiting_runs_hold_no_worker_slot(stack, make_actor, slow_server, tmp_path):
    """500 runs wait at once on one worker of two slots; a short run still starts at once."""
    owner = make_actor()
    waiter = create_workflow(
        owner,
        chain(
            "waits",
            node("start", "trigger.manual"),
            node("ask", "human.approval", message="later"),
        ),
    )
    short = create_workflow(owner, counted_workflow(slow_server, path="/short"))
    with worker_pool(stack, tmp_path, AGENTFLOW_MAX_CONCURRENT_EXECUTIONS="1000") as pool:
        pool.start("slots", concurrency=2)
        waiting = [executions.start(owner, waiter, {}) for _ in range(500)]
        wait_until(
            lambda: all(status_of(i) == ExecutionStatus.WAITING for i in waiting[-5:]),
            "the last runs to wait",
        )
        wait_until(
            lambda: all(status_of(i) == ExecutionStatus.WAITING for i in waiting),
            "every run to wait",
        )
        queued_at = time.monotonic()
        run = executions.start(owner, short, {"n": 1})
        wait_finished(run)
        took = time.monotonic() - queued_at
    row = load_execution(run)
    assert row.status == "succeeded"
    # Measured, not assumed: with a slot held per waiting run it would never have started.
    assert took < 30, f"the short run took {took:.1f} s behind 500 waiting runs"
    assert all(status_of(i) == ExecutionStatus.WAITING for i in waiting)
