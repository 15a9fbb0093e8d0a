"""Durable waiting on real workers: approvals, timers, and a run that holds nothing.

Each workflow calls the counting web site before and after its wait, so "no finished step
ran twice" is read off the site's hit counts, not off our own records.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update

from agentflow_app.api.app import create_api
from agentflow_app.db import get_engine
from agentflow_app.engine.status import ExecutionStatus
from agentflow_app.errors import NotFound
from agentflow_app.models import Approval
from agentflow_app.services import approvals, executions
from agentflow_app.services.approvals import AlreadyDecided
from agentflow_app.services.executions import execution_record
from agentflow_app.services.executions.rows import RunOwner
from tests.fakes.servers import serve_asgi
from tests.fakes.slow_server import SlowServer
from tests.helpers.documents import node
from tests.helpers.executions import create_workflow, event_types, status_of, wait_until


def approval_flow(server: SlowServer, path: str, **approval: object) -> dict:
    """start → GET before → approval → (approved) GET after → output / (rejected) output."""
    nodes = [
        node("start", "trigger.manual", inputs=[{"name": "amount", "type": "number"}]),
        node("before", "http.request", url=f"{server.url}{path}/before", retries=0),
        node("ask", "human.approval", message="Pay {{ inputs.amount }}?", **approval),
        node("after", "http.request", url=f"{server.url}{path}/after", retries=0),
        node("yes", "output", fields={"paid": "{{ nodes.after.output.body.hit }}"}),
        node("no", "output", fields={"paid": "no", "by": "{{ nodes.ask.output.by }}"}),
    ]
    edges = [
        {"id": "e1", "source": "start", "target": "before"},
        {"id": "e2", "source": "before", "target": "ask"},
        {"id": "e3", "source": "ask", "target": "after", "sourceHandle": "approved"},
        {"id": "e4", "source": "after", "target": "yes"},
        {"id": "e5", "source": "ask", "target": "no", "sourceHandle": "rejected"},
    ]
    return {"schema_version": 1, "name": "pay", "nodes": nodes, "edges": edges}


def step(execution_id: int, node_id: str) -> dict:
    return next(s for s in execution_record(execution_id)["steps"] if s["node_id"] == node_id)


def wait_status(execution_id: int, status: ExecutionStatus) -> None:
    wait_until(lambda: status_of(execution_id) == status, f"execution {execution_id} {status}")


def test_approved_run_resumes_past_its_finished_steps_after_worker_restart(
    stack, make_actor, slow_server, workers
):
    owner = make_actor()
    flow = create_workflow(owner, approval_flow(slow_server, "/restart"))
    execution_id = executions.start(owner, flow, {"amount": 12})
    wait_status(execution_id, ExecutionStatus.WAITING)

    ask = step(execution_id, "ask")
    assert ask["status"] == "waiting"
    assert ask["output"]["message"] == "Pay 12?"
    assert ("execution.waiting", None) in event_types(execution_id)
    # While it waits, the worker dies (SIGKILL), the database pool is reset and a fresh
    # web process answers the link: nothing of the run was held by any of them.
    worker = workers.workers[0]
    worker.kill()
    workers.workers.remove(worker)
    get_engine().dispose()
    workers.start("again")
    link = step(execution_id, "ask")["output"]["approve_url"]
    with serve_asgi(create_api()) as fresh_web:
        answer = httpx.post(
            link.replace("http://localhost:3000", fresh_web),
            json={"comment": "ok by me"},
            headers={"Accept": "application/json"},
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["by"] == "link"
    wait_status(execution_id, ExecutionStatus.SUCCEEDED)

    assert execution_record(execution_id)["outputs"] == {"paid": 1}
    ask = step(execution_id, "ask")["output"]
    assert ask["approved"] is True and ask["comment"] == "ok by me" and ask["by"] == "link"
    assert slow_server.count("/restart/before") == 1, "the step before the wait ran once"
    assert slow_server.count("/restart/after") == 1
    types = [t for t, _ in event_types(execution_id)]
    assert types.count("execution.waiting") == 1 and types.count("step.waiting") == 1
    with pytest.raises(AlreadyDecided, match="already approved by"):
        approvals.decide(owner, execution_id, "ask", False)


def test_links_decide_once_and_refuse_tampering_strangers_and_expiry(
    stack, make_actor, slow_server, workers
):
    owner, stranger = make_actor(), make_actor()
    flow = create_workflow(owner, approval_flow(slow_server, "/links"))
    execution_id = executions.start(owner, flow, {"amount": 3})
    wait_status(execution_id, ExecutionStatus.WAITING)
    state = step(execution_id, "ask")["output"]
    reject_token = state["reject_url"].rsplit("/", 1)[1]

    with pytest.raises(NotFound):
        approvals.decide(stranger, execution_id, "ask", True)
    tampered = reject_token[:-2] + ("AA" if not reject_token.endswith("AA") else "BB")
    with pytest.raises(NotFound):
        approvals.decide_by_link(tampered)
    record, action = approvals.by_link(reject_token)
    assert action == "reject" and record.message == "Pay 3?"

    approvals.decide_by_link(reject_token, "too much")
    with pytest.raises(AlreadyDecided, match="already rejected by link"):
        approvals.decide_by_link(state["approve_url"].rsplit("/", 1)[1])
    wait_status(execution_id, ExecutionStatus.SUCCEEDED)
    assert execution_record(execution_id)["outputs"] == {"paid": "no", "by": "link"}
    assert slow_server.count("/links/after") == 0


def test_timeout_and_a_racing_decision_decide_exactly_once(stack, make_actor, slow_server, workers):
    owner = make_actor()
    flow = create_workflow(owner, approval_flow(slow_server, "/race", timeout_s=1))
    execution_id = executions.start(owner, flow, {"amount": 5})
    wait_status(execution_id, ExecutionStatus.WAITING)
    approval_id = step(execution_id, "ask")["output"]["approval_id"]
    time.sleep(1.1)
    # The timeout (a worker woken by the sweeper) and a person race; one wins.
    outcomes = []
    try:
        outcomes.append(approvals.decide(owner, execution_id, "ask", True).by)
    except AlreadyDecided as exc:
        outcomes.append(str(exc))
    expired = approvals.expire(approval_id)
    wait_finished_status = lambda: status_of(execution_id).finished  # noqa: E731
    wait_until(wait_finished_status, "the raced run to end")
    final = step(execution_id, "ask")["output"]
    assert final["by"] == expired.by, "the step took the one decision that stands"
    assert final["by"] in (owner.email, "timeout")


def test_expired_link_is_refused(stack, make_actor, slow_server):
    owner = make_actor()
    flow = create_workflow(owner, approval_flow(slow_server, "/expired"))
    # An approval stored as a waiting step opens it; its wait expired a minute ago.
    execution_id = executions.start(owner, flow, {"amount": 1})
    approval_id, links = approvals.open_approval(
        execution_id,
        "ask",
        owner=RunOwner(owner.id, owner.workspace_id),
        message="m",
        approvers=[],
        expires_at=None,
    )
    with get_engine().begin() as conn:
        conn.execute(
            update(Approval.__table__)
            .where(Approval.__table__.c.id == approval_id)
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    with pytest.raises(AlreadyDecided, match="expired"):
        approvals.decide_by_link(links.approve_url.rsplit("/", 1)[1])
