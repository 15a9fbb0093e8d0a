"""Child runs on real workers: sub-workflows, maps, error workflows, cancel cascades."""

from __future__ import annotations

import time

import pytest

from agentflow_app.engine.errors import InvalidWorkflow
from agentflow_app.engine.status import ExecutionStatus
from agentflow_app.services import executions, workflows
from agentflow_app.services.executions import execution_record, load_execution
from tests.helpers.documents import chain, map_flow, node
from tests.helpers.executions import create_workflow, status_of, wait_finished, wait_until


def child_flow(name: str = "double") -> dict:
    """inputs item, index → output {double: item * 2}; item 0 fails (1 / item)."""
    return chain(
        name,
        node(
            "start",
            "trigger.manual",
            inputs=[{"name": "item", "type": "number"}, {"name": "index", "type": "integer"}],
        ),
        node(
            "out",
            "output",
            fields={"double": "{{ inputs.item * 2 }}", "inverse": "{{ 1 / inputs.item }}"},
        ),
    )


def calling(name: str, child_id: int, **config: object) -> dict:
    """start → a flow.subworkflow step ``call`` running workflow ``child_id``."""
    return chain(
        name,
        node("start", "trigger.manual"),
        node("call", "flow.subworkflow", workflow_id=child_id, **config),
    )


def failing_child() -> dict:
    return chain(
        "fails",
        node(
            "start",
            "trigger.manual",
            inputs=[{"name": "item"}, {"name": "index", "type": "integer"}],
        ),
        node(
            "boom",
            "http.request",
            url="http://127.0.0.1:9/{{ inputs.item }}",
            retries=0,
            timeout_s=2,
        ),
    )


def test_subworkflow_gives_the_childs_outputs_and_links_both_ways(stack, make_actor, workers):
    owner = make_actor()
    child = create_workflow(owner, child_flow())
    parent = create_workflow(
        owner,
        chain(
            "parent",
            node("start", "trigger.manual", inputs=[{"name": "n", "type": "integer"}]),
            node(
                "call",
                "flow.subworkflow",
                workflow_id=child,
                inputs={"item": "{{ inputs.n }}", "index": 0},
            ),
            node("out", "output", fields={"got": "{{ nodes.call.output.double }}"}),
        ),
    )
    execution_id = executions.start(owner, parent, {"n": 21})
    wait_finished(execution_id)
    record = execution_record(execution_id)
    assert record["status"] == "succeeded", record["error"]
    assert record["outputs"] == {"got": 42}
    call = next(s for s in record["steps"] if s["node_id"] == "call")
    # The parent's step names its child; the child's record names its caller.
    children = [e for e in executions.list_executions(owner).items if e.caller_id == execution_id]
    assert len(children) == 1 and children[0].trigger == "subworkflow"
    child_record = execution_record(children[0].id)
    assert child_record["caller_id"] == execution_id and child_record["caller_node"] == "call"
    assert call["child_execution_id"] == children[0].id and call["child_runs"] == 1


def test_a_childs_failure_reaches_the_parent_with_its_reason(stack, make_actor, workers):
    owner = make_actor()
    child = create_workflow(owner, failing_child())
    parent = create_workflow(
        owner,
        calling("parent", child, inputs={"item": "x", "index": 0}),
    )
    execution_id = executions.start(owner, parent, {})
    wait_finished(execution_id)
    record = execution_record(execution_id)
    assert record["status"] == "failed"
    assert "sub-workflow run" in record["error"] and "failed" in record["error"]
    assert "127.0.0.1:9" in record["error"] or "connect" in record["error"].lower()


def test_recursion_is_refused_at_save_and_execute_naming_the_path(stack, make_actor):
    owner = make_actor()
    a = create_workflow(owner, chain("A", node("start", "trigger.manual")))
    b = create_workflow(owner, calling("B", a))
    looping = calling("A", b)
    with pytest.raises(InvalidWorkflow) as refused:
        workflows.update(owner, a, looping)
    assert "this call would loop: 'A' → 'B' → 'A'" in str(refused.value.problems)
    # Saved as a draft, the loop is still refused when it is executed.
    workflows.update(owner, a, looping, draft=True)
    with pytest.raises(InvalidWorkflow, match="would loop"):
        executions.start(owner, a, {})
    stranger = make_actor()
    with pytest.raises(InvalidWorkflow, match=f"there is no workflow {a} in this workspace"):
        workflows.create(stranger, calling("S", a))


def test_depth_cap_ends_a_run_that_nests_past_it(stack, make_actor, workers):
    # The default cap (8), so whichever of the suite's workers runs a level applies it.
    owner = make_actor()
    callee = create_workflow(owner, chain("leaf", node("start", "trigger.manual")))
    for level in range(9):
        callee = create_workflow(owner, calling(f"level {level}", callee))
    execution_id = executions.start(owner, callee, {})
    wait_until(lambda: status_of(execution_id).finished, "the nested run to end")
    record = execution_record(execution_id)
    assert record["status"] == "failed"
    assert "past the limit of 8" in record["error"]


def test_map_runs_every_item_in_order_and_continues_past_a_failure(stack, make_actor, workers):
    """1,000 items, 8 at a time, on a real worker; item 57 fails and the rest go on."""
    owner = make_actor()
    child = create_workflow(owner, child_flow())
    mapper = create_workflow(owner, map_flow(child, 0, concurrency=8, on_error="continue"))
    items = list(range(1, 1001))
    items[57] = 0
    execution_id = executions.start(owner, mapper, {"items": items})
    # A thousand runs on one 2-process worker: a longer hang guard than one run needs.
    wait_until(lambda: status_of(execution_id).finished, "the map to end", guard_s=900)
    record = execution_record(execution_id)
    assert record["status"] == "succeeded", record["error"]
    results = next(s for s in record["steps"] if s["node_id"] == "each")["output"]["results"]
    assert len(results) == 1000
    assert results[0] == {"double": 2, "inverse": 1.0}
    assert results[999] == {"double": 2000, "inverse": 0.001}
    assert results[57]["status"] == "failed" and "division by zero" in results[57]["error"]
    each = next(s for s in record["steps"] if s["node_id"] == "each")
    assert each["output"]["failed"] == 1 and each["child_runs"] == 1000
    children = executions.list_executions(owner, limit=200).items
    assert all(c.caller_id != execution_id for c in children), "items stay out of the history"


def test_cancelling_a_map_stops_the_rest(stack, make_actor, workers, slow_server):
    owner = make_actor()
    slow = create_workflow(
        owner,
        chain(
            "slow",
            node(
                "start",
                "trigger.manual",
                inputs=[{"name": "item", "type": "number"}, {"name": "index", "type": "integer"}],
            ),
            node(
                "wait",
                "http.request",
                url=slow_server.url + "/slowitem",
                query={"delay_ms": "300"},
                retries=0,
            ),
        ),
    )
    mapper = create_workflow(owner, map_flow(slow, 0, concurrency=2))
    execution_id = executions.start(owner, mapper, {"items": list(range(100))})
    wait_until(lambda: slow_server.count("/slowitem") >= 2, "the first items to start")
    executions.cancel(owner, execution_id)
    stopped_at = time.monotonic()
    wait_until(lambda: status_of(execution_id) == ExecutionStatus.CANCELLED, "the map to cancel")
    time.sleep(2.5)
    hits = slow_server.count("/slowitem")
    time.sleep(1.5)
    assert slow_server.count("/slowitem") == hits, "no item started after the cancel settled"
    assert hits < 20
    assert time.monotonic() - stopped_at < 30


def test_error_workflow_runs_once_with_the_failure(stack, make_actor, workers):
    owner = make_actor()
    handler = create_workflow(
        owner,
        chain(
            "on failure",
            node("start", "trigger.manual"),
            node("out", "output", fields={"told": "{{ inputs.failed_node }}: {{ inputs.error }}"}),
        ),
    )
    broken = failing_child() | {"name": "broken", "error_workflow_id": handler}
    broken_id = create_workflow(owner, broken)
    execution_id = executions.start(owner, broken_id, {"item": "x", "index": 0})
    wait_finished(execution_id)
    wait_until(
        lambda: any(e.caller_id == execution_id for e in executions.list_executions(owner).items),
        "the error workflow to start",
    )
    run = next(e for e in executions.list_executions(owner).items if e.caller_id == execution_id)
    wait_finished(run.id)
    assert run.trigger == "error"
    record = execution_record(run.id)
    assert record["status"] == "succeeded"
    assert record["outputs"]["told"].startswith("boom: ")
    assert load_execution(run.id).inputs["url"].endswith(f"/executions/{execution_id}")


def test_cancelling_a_parent_cancels_its_waiting_subworkflow(stack, make_actor, workers):
    owner = make_actor()
    child = create_workflow(
        owner,
        chain("asks", node("start", "trigger.manual"), node("ask", "human.approval", message="?")),
    )
    parent = create_workflow(owner, calling("calls", child))
    execution_id = executions.start(owner, parent, {})
    wait_until(
        lambda: (
            status_of(execution_id) == ExecutionStatus.WAITING
            and any(e.caller_id == execution_id for e in executions.list_executions(owner).items)
            and status_of(
                next(
                    e
                    for e in executions.list_executions(owner).items
                    if e.caller_id == execution_id
                ).id
            )
            == ExecutionStatus.WAITING
        ),
        "parent and child to wait",
    )
    child_run = next(
        e for e in executions.list_executions(owner).items if e.caller_id == execution_id
    )
    executions.cancel(owner, execution_id)
    assert status_of(execution_id) == ExecutionStatus.CANCELLED
    assert status_of(child_run.id) == ExecutionStatus.CANCELLED
    assert load_execution(child_run.id).error == "cancelled with the run that started it"
