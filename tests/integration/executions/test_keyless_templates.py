"""The two templates that need no key and no network, run as a newcomer would run them."""

from __future__ import annotations

from agentflow_app.engine.status import ExecutionStatus
from agentflow_app.services import approvals, executions
from agentflow_app.services.executions import execution_record
from agentflow_app.state.templates import read_template, save_template
from tests.helpers.executions import status_of, wait_finished, wait_until


def test_expense_approval_passes_small_ones_and_waits_for_the_rest(stack, make_actor, workers):
    me = make_actor()
    flow = save_template(me, read_template("expense-approval")).id
    small = executions.start(
        me, flow, {"requester": "a@b.c", "description": "coffee", "amount": 12}
    )
    medium = executions.start(
        me, flow, {"requester": "a@b.c", "description": "lunch", "amount": 240}
    )
    large = executions.start(
        me, flow, {"requester": "a@b.c", "description": "laptops", "amount": 4000}
    )
    wait_finished(small)
    assert execution_record(small)["outputs"] == {
        "decision": "approved",
        "amount": 12,
        "by": "policy",
    }
    for waiting in (medium, large):
        wait_until(lambda w=waiting: status_of(w) == ExecutionStatus.WAITING, "a wait")
    asked = {a.execution_id: a for a in approvals.waiting_for(me)}
    assert "240 EUR: lunch" in asked[medium].message
    assert asked[large].node_id == "ask_cfo" and "Large expense: 4000" in asked[large].message
    approvals.decide(me, medium, "ask", True)
    approvals.decide(me, large, "ask_cfo", False, "not this quarter")
    wait_finished(medium, large)
    assert execution_record(medium)["outputs"]["by"] == me.email
    assert execution_record(large)["outputs"] == {
        "decision": "rejected",
        "amount": 4000,
        "comment": "not this quarter",
        "by": me.email,
    }


def test_lead_scoring_maps_every_lead_and_ranks_them(stack, make_actor, workers):
    me = make_actor()
    flow = save_template(me, read_template("score-leads")).id
    run = executions.start(me, flow, {})
    wait_finished(run)
    record = execution_record(run)
    assert record["status"] == "succeeded", record["error"]
    ranked = record["outputs"]["ranked"]
    assert [lead["name"] for lead in ranked] == ["Ada Park", "Chloe Wu", "Dev Rao", "Ben Ortiz"]
    assert record["outputs"]["hot"] == ["Ada Park", "Chloe Wu"]
    assert ranked[0] == {"name": "Ada Park", "score": 90, "tier": "hot"}
