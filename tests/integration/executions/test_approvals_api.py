"""Approvals over REST with a real worker: decide, list what waits for me, follow a link."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agentflow_app.api.app import create_api
from agentflow_app.engine.status import ExecutionStatus
from agentflow_app.services import executions
from tests.fakes.servers import serve_asgi
from tests.helpers.documents import chain, node
from tests.helpers.executions import create_workflow, status_of, wait_finished, wait_until
from tests.helpers.users import PASSWORD


@pytest.fixture(scope="module")
def api_url(workers) -> Iterator[str]:
    with serve_asgi(create_api()) as url:
        yield url


def sign_in(api_url: str, email: str) -> dict[str, str]:
    answer = httpx.post(f"{api_url}/api/auth/token", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def ask_flow(approvers: list[str]) -> dict[str, Any]:
    doc = chain(
        "expense",
        node("start", "trigger.manual", inputs=[{"name": "amount", "type": "number"}]),
        node("ask", "human.approval", message="Pay {{ inputs.amount }} EUR?", approvers=approvers),
        node("yes", "output", fields={"paid": "{{ nodes.ask.output.by }}"}),
    )
    doc["edges"][1]["sourceHandle"] = "approved"
    return doc


def waiting_run(owner, approvers: list[str]) -> int:
    flow = create_workflow(owner, ask_flow(approvers))
    execution_id = executions.start(owner, flow, {"amount": 40})
    wait_until(lambda: status_of(execution_id) == ExecutionStatus.WAITING, "the run to wait")
    return execution_id


def test_a_listed_approver_sees_and_decides_it_and_a_stranger_gets_404(stack, make_actor, api_url):
    owner, approver, stranger = make_actor(), make_actor(), make_actor()
    execution_id = waiting_run(owner, [approver.email.upper()])
    mine = httpx.get(f"{api_url}/api/approvals", headers=sign_in(api_url, approver.email))
    assert mine.status_code == 200
    assert [(a["execution_id"], a["message"]) for a in mine.json()] == [
        (execution_id, "Pay 40 EUR?")
    ]
    theirs = httpx.get(f"{api_url}/api/approvals", headers=sign_in(api_url, stranger.email))
    assert theirs.json() == []

    url = f"{api_url}/api/workflows/executions/{execution_id}/approve"
    body = {"node_id": "ask", "approved": True, "comment": "fine"}
    refused = httpx.post(url, json=body, headers=sign_in(api_url, stranger.email))
    assert refused.status_code == 404
    bad = httpx.post(url, json={"node_id": "ask"}, headers=sign_in(api_url, approver.email))
    assert bad.status_code == 422 and "approved" in bad.text
    decided = httpx.post(url, json=body, headers=sign_in(api_url, approver.email))
    assert decided.status_code == 202, decided.text
    assert decided.json()["by"] == approver.email
    again = httpx.post(url, json=body, headers=sign_in(api_url, owner.email))
    assert again.status_code == 409 and approver.email in again.json()["detail"]
    wait_finished(execution_id)
    assert executions.execution_record(execution_id)["outputs"] == {"paid": approver.email}


def test_a_link_shows_a_page_then_decides_once(stack, make_actor, api_url):
    owner = make_actor()
    execution_id = waiting_run(owner, [])
    state = next(
        s for s in executions.execution_record(execution_id)["steps"] if s["node_id"] == "ask"
    )["output"]
    link = state["approve_url"].replace("http://localhost:3000", api_url)

    page = httpx.get(link)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Pay 40 EUR?" in page.text and "<form method=post" in page.text
    assert status_of(execution_id) == ExecutionStatus.WAITING, "looking decides nothing"
    as_json = httpx.get(link, headers={"Accept": "application/json"})
    assert as_json.json()["action"] == "approve"

    done = httpx.post(link, data={"comment": "<b>ok</b>"})
    assert done.status_code == 200 and "You approved it" in done.text
    second = httpx.post(link, data={})
    assert second.status_code == 409 and "already approved by link" in second.text
    tampered = httpx.get(link[:-3] + "xyz")
    assert tampered.status_code == 404
    malformed = httpx.get(f"{api_url}/api/approvals/not-a-token")
    assert malformed.status_code in (404, 422)
    wait_finished(execution_id)
    step = next(
        s for s in executions.execution_record(execution_id)["steps"] if s["node_id"] == "ask"
    )
    assert step["output"]["comment"] == "<b>ok</b>" and step["output"]["by"] == "link"


def test_cancel_ends_a_waiting_run_at_once_and_closes_its_links(stack, make_actor, api_url):
    owner = make_actor()
    execution_id = waiting_run(owner, [])
    link = next(
        s for s in executions.execution_record(execution_id)["steps"] if s["node_id"] == "ask"
    )["output"]["reject_url"].replace("http://localhost:3000", api_url)
    headers = sign_in(api_url, owner.email)
    answer = httpx.post(
        f"{api_url}/api/workflows/executions/{execution_id}/cancel", headers=headers
    )
    assert answer.status_code == 202 and answer.json()["status"] == "cancelled"
    assert "closed" in httpx.get(link).text
    assert httpx.post(link, data={}).status_code == 409


def test_notify_posts_the_question_with_both_links_to_slack(stack, make_actor, workers):
    from agentflow_app.services import credentials
    from tests.fakes.servers import serve_asgi as serve
    from tests.fakes.slack import FakeSlack

    owner = make_actor()
    slack = FakeSlack()
    with serve(slack.app) as slack_url:
        credentials.create_credential(
            owner, "team-slack", "slack", {"token": slack.token, "base_url": slack_url}
        )
        doc = ask_flow([])
        doc["nodes"][1]["data"]["config"]["notify"] = {
            "credential": "team-slack",
            "channel": "#general",
        }
        flow = create_workflow(owner, doc)
        execution_id = executions.start(owner, flow, {"amount": 99})
        wait_until(lambda: status_of(execution_id) == ExecutionStatus.WAITING, "the run to wait")
    assert len(slack.messages) == 1
    text = slack.messages[0]["text"]
    state = next(
        s for s in executions.execution_record(execution_id)["steps"] if s["node_id"] == "ask"
    )["output"]
    assert text.startswith("Pay 99 EUR?")
    assert state["approve_url"] in text and state["reject_url"] in text
