"""Calling a workflow like a function: ``POST …/run`` and webhooks with ``?wait=true``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agentflow_app.api.app import create_api
from agentflow_app.services import executions, workflows
from tests.fakes.servers import serve_asgi
from tests.helpers.documents import chain, node
from tests.helpers.executions import create_workflow, status_of, wait_until
from tests.helpers.users import PASSWORD


@pytest.fixture(scope="module")
def api_url(workers) -> Iterator[str]:
    with serve_asgi(create_api()) as url:
        yield url


def headers_for(api_url: str, actor) -> dict[str, str]:
    answer = httpx.post(
        f"{api_url}/api/auth/token", json={"email": actor.email, "password": PASSWORD}
    )
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def greet(trigger: str = "trigger.manual", **output: Any) -> dict[str, Any]:
    return chain(
        "greet",
        node("start", trigger, inputs=[{"name": "who", "type": "string", "required": True}]),
        node("out", "output", fields={"hello": "Hello {{ inputs.who }}"}, **output),
    )


def test_run_answers_with_the_finished_record(stack, make_actor, api_url):
    owner = make_actor()
    flow = create_workflow(owner, greet())
    answer = httpx.post(
        f"{api_url}/api/workflows/{flow}/run",
        json={"inputs": {"who": "Ada"}},
        headers=headers_for(api_url, owner),
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    record = answer.json()
    assert record["status"] == "succeeded" and record["outputs"] == {"hello": "Hello Ada"}
    assert [s["status"] for s in record["steps"]] == ["succeeded", "succeeded"]
    bad = httpx.post(
        f"{api_url}/api/workflows/{flow}/run",
        json={"inputs": {}},
        headers=headers_for(api_url, owner),
        timeout=60,
    )
    assert bad.status_code == 422 and "who" in bad.text


def test_run_times_out_into_202_with_a_usable_id_and_a_failure_answers_its_error(
    stack, make_actor, api_url, slow_server
):
    owner = make_actor()
    headers = headers_for(api_url, owner)
    slow = create_workflow(
        owner,
        chain(
            "slow",
            node("start", "trigger.manual"),
            node("wait", "http.request", url=slow_server.url + "/sync", query={"delay_ms": "3000"}),
        ),
    )
    answer = httpx.post(
        f"{api_url}/api/workflows/{slow}/run",
        json={"timeout_s": 0.5},
        headers=headers,
        timeout=60,
    )
    assert answer.status_code == 202, answer.text
    execution_id = answer.json()["execution_id"]
    record = httpx.get(
        f"{api_url}/api/workflows/executions/{execution_id}", headers=headers, timeout=60
    )
    assert record.status_code == 200 and record.json()["status"] in ("queued", "running")

    failing = create_workflow(
        owner,
        chain(
            "fails",
            node("start", "trigger.manual"),
            node("boom", "http.request", url="http://127.0.0.1:9/", retries=0, timeout_s=2),
        ),
    )
    answer = httpx.post(f"{api_url}/api/workflows/{failing}/run", headers=headers, timeout=60)
    assert answer.status_code == 200
    assert answer.json()["status"] == "failed" and "boom" in answer.json()["error"]
    too_long = httpx.post(
        f"{api_url}/api/workflows/{failing}/run",
        json={"timeout_s": 10_000},
        headers=headers,
        timeout=60,
    )
    assert too_long.status_code == 422 and "timeout_s" in too_long.text


def test_cancel_while_a_caller_waits_answers_the_cancelled_record(stack, make_actor, api_url):
    owner = make_actor()
    headers = headers_for(api_url, owner)
    flow = create_workflow(
        owner,
        chain("asks", node("start", "trigger.manual"), node("ask", "human.approval", message="?")),
    )
    answers: list[httpx.Response] = []
    caller = threading.Thread(
        target=lambda: answers.append(
            httpx.post(f"{api_url}/api/workflows/{flow}/run", headers=headers, timeout=60)
        )
    )
    caller.start()
    wait_until(
        lambda: any(
            status_of(e.id) == "waiting"
            for e in executions.list_executions(owner, workflow_id=flow).items
        ),
        "the run to wait",
    )
    execution_id = executions.list_executions(owner, workflow_id=flow).items[0].id
    executions.cancel(owner, execution_id)
    caller.join(timeout=60)
    assert answers and answers[0].status_code == 200
    assert answers[0].json()["status"] == "cancelled"


def test_a_waiting_webhook_answers_with_the_outputs_status_and_headers(stack, make_actor, api_url):
    owner = make_actor()
    flow = create_workflow(
        owner,
        greet("trigger.webhook", status_code="201", headers={"X-Greeting": "{{ inputs.who }}"}),
    )
    hook = workflows.get(owner, flow).webhook_path
    answer = httpx.post(f"{api_url}{hook}?wait=true", json={"who": "Lin"}, timeout=60)
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"hello": "Hello Lin"}, "the $response directive is no output"
    assert answer.headers["x-greeting"] == "Lin"
    queued = httpx.post(f"{api_url}{hook}", json={"who": "Lin"}, timeout=60)
    assert queued.status_code == 202 and "execution_id" in queued.json()
