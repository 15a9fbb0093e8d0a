"""Execute over REST, watch over SSE, cancel, retry and re-run, with a real Celery worker.

The API runs in uvicorn on 127.0.0.1 (real HTTP, so the event stream really streams); the
worker is a ``celery worker`` subprocess on the same stack; the workflows call a local
HTTP server that counts requests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agentflow_app.api.app import create_api
from tests.fakes.servers import serve_asgi
from tests.helpers.documents import chain, node
from tests.helpers.executions import counted_workflow, create_workflow, wait_until
from tests.helpers.users import PASSWORD


@pytest.fixture(scope="module")
def api_url(workers) -> Iterator[str]:
    with serve_asgi(create_api()) as url:
        yield url


@pytest.fixture
def owner(make_actor, api_url) -> tuple[Any, dict[str, str]]:
    actor = make_actor()
    answer = httpx.post(
        f"{api_url}/api/auth/token", json={"email": actor.email, "password": PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    return actor, {"Authorization": f"Bearer {answer.json()['access_token']}"}


def sse(api_url: str, headers: dict[str, str], execution_id: int, **extra: str) -> list[dict]:
    """Read the event stream to its end; every event as ``{id, event, data}``."""
    events: list[dict] = []
    current: dict[str, Any] = {}
    url = f"{api_url}/api/workflows/executions/{execution_id}/events"
    with httpx.stream("GET", url, headers=headers | extra, timeout=120) as answer:
        assert answer.status_code == 200, answer.read()
        assert answer.headers["content-type"].startswith("text/event-stream")
        for line in answer.iter_lines():
            if line.startswith(":"):
                continue
            if not line:
                if current:
                    events.append(current)
                    current = {}
                continue
            key, _, value = line.partition(": ")
            current[key] = json.loads(value) if key == "data" else value
    return events


def execute(api_url: str, headers: dict[str, str], workflow_id: int, **inputs: Any) -> int:
    answer = httpx.post(
        f"{api_url}/api/workflows/{workflow_id}/execute", json={"inputs": inputs}, headers=headers
    )
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["status"] == "queued"
    return body["execution_id"]


def record(api_url: str, headers: dict[str, str], execution_id: int) -> dict[str, Any]:
    answer = httpx.get(f"{api_url}/api/workflows/executions/{execution_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_execute_then_follow_the_stream_to_the_end(api_url, owner, slow_server) -> None:
    actor, headers = owner
    workflow_id = create_workflow(actor, counted_workflow(slow_server))
    execution_id = execute(api_url, headers, workflow_id, n=7)

    events = sse(api_url, headers, execution_id)

    seqs = [int(e["id"]) for e in events]
    assert seqs == list(range(1, len(events) + 1)), "every event once, in order"
    assert events[0]["event"] == "execution.queued"
    assert events[-1]["event"] == "execution.succeeded"
    assert all(e["data"]["execution_id"] == execution_id for e in events)
    assert all(e["data"]["type"] == e["event"] for e in events)
    succeeded = [e["data"]["node_id"] for e in events if e["event"] == "step.succeeded"]
    assert succeeded == ["start", "fetch", "shape", "out"]
    assert events[-1]["data"]["data"]["outputs"] == {"text": "run 7 hit 1"}

    run = record(api_url, headers, execution_id)
    assert run["status"] == "succeeded"
    assert run["workflow_id"] == workflow_id and run["workflow_version"] == 1
    assert run["inputs"] == {"n": 7}
    assert run["outputs"] == {"text": "run 7 hit 1"}
    assert [s["status"] for s in run["steps"]] == ["succeeded"] * 4


def test_a_late_reconnect_with_last_event_id_gets_only_what_it_missed(
    api_url, owner, slow_server
) -> None:
    actor, headers = owner
    workflow_id = create_workflow(actor, counted_workflow(slow_server))
    execution_id = execute(api_url, headers, workflow_id, n=8)
    everything = sse(api_url, headers, execution_id)

    rest = sse(api_url, headers, execution_id, **{"Last-Event-ID": "3"})

    assert [e["id"] for e in rest] == [e["id"] for e in everything[3:]]
    assert rest[-1]["event"] == "execution.succeeded"
    bad = httpx.get(
        f"{api_url}/api/workflows/executions/{execution_id}/events",
        headers=headers | {"Last-Event-ID": "yesterday"},
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["field"] == "Last-Event-ID"  # one 422 shape (issue 14)


def test_inputs_that_do_not_fit_the_trigger_are_refused_by_name(api_url, owner, slow_server):
    actor, headers = owner
    workflow_id = create_workflow(actor, counted_workflow(slow_server))
    url = f"{api_url}/api/workflows/{workflow_id}/execute"

    missing = httpx.post(url, json={"inputs": {}}, headers=headers)
    wrong = httpx.post(url, json={"inputs": {"n": "seven", "typo": 1}}, headers=headers)

    assert missing.status_code == 422
    assert missing.json()["detail"] == [
        {"node_id": "start", "field": "inputs.n", "message": "input 'n' is required"}
    ]
    assert wrong.status_code == 422
    fields = {p["field"]: p["message"] for p in wrong.json()["detail"]}
    assert fields["inputs.n"] == "input 'n' must be an integer, got the text 'seven'"
    assert "unknown input 'typo'" in fields["inputs.typo"]
    listed = httpx.get(f"{api_url}/api/workflows/{workflow_id}/executions", headers=headers)
    assert listed.json() == [], "nothing was queued"


def test_a_missing_credential_is_refused_before_queueing(api_url, owner) -> None:
    actor, headers = owner
    document = chain(
        "Needs a key",
        node("start", "trigger.manual", inputs=[]),
        node("call", "http.request", url="https://example.com", credential="crm-token"),
    )
    workflow_id = create_workflow(actor, document)

    answer = httpx.post(
        f"{api_url}/api/workflows/{workflow_id}/execute", json={"inputs": {}}, headers=headers
    )

    assert answer.status_code == 422
    assert answer.json()["detail"] == [
        {
            "node_id": "call",
            "field": "config.credential",
            "message": "there is no credential named 'crm-token'; add it under Credentials",
        }
    ]
    listed = httpx.get(f"{api_url}/api/workflows/{workflow_id}/executions", headers=headers)
    assert listed.json() == [], "nothing was queued"


def test_another_users_execution_is_not_found(api_url, owner, make_actor, slow_server) -> None:
    actor, headers = owner
    workflow_id = create_workflow(actor, counted_workflow(slow_server))
    execution_id = execute(api_url, headers, workflow_id, n=1)
    sse(api_url, headers, execution_id)
    other = make_actor()
    token = httpx.post(
        f"{api_url}/api/auth/token", json={"email": other.email, "password": PASSWORD}
    ).json()["access_token"]
    theirs = {"Authorization": f"Bearer {token}"}
    base = f"{api_url}/api/workflows"

    answers = [
        httpx.post(f"{base}/{workflow_id}/execute", json={"inputs": {"n": 1}}, headers=theirs),
        httpx.get(f"{base}/{workflow_id}/executions", headers=theirs),
        httpx.get(f"{base}/executions/{execution_id}", headers=theirs),
        httpx.get(f"{base}/executions/{execution_id}/events", headers=theirs),
        httpx.post(f"{base}/executions/{execution_id}/cancel", headers=theirs),
        httpx.post(f"{base}/executions/{execution_id}/retry", headers=theirs),
        httpx.post(f"{base}/executions/{execution_id}/rerun", headers=theirs),
    ]

    assert [a.status_code for a in answers] == [404] * len(answers)
    assert all(str(execution_id) not in a.text or "not found" in a.text for a in answers)


def test_cancel_stops_a_slow_step(api_url, owner, slow_server) -> None:
    actor, headers = owner
    workflow_id = create_workflow(
        actor, counted_workflow(slow_server, delay_ms=60_000, path="/slow")
    )
    before = slow_server.count("/slow/3")
    execution_id = execute(api_url, headers, workflow_id, n=3)
    wait_until(lambda: slow_server.count("/slow/3") > before, "the slow request to arrive")

    answer = httpx.post(
        f"{api_url}/api/workflows/executions/{execution_id}/cancel", headers=headers
    )
    assert answer.status_code == 202
    assert answer.json() == {"execution_id": execution_id, "status": "running"}
    events = sse(api_url, headers, execution_id)

    assert events[-1]["event"] == "execution.cancelled"
    run = record(api_url, headers, execution_id)
    assert run["status"] == "cancelled"
    steps = {s["node_id"]: s["status"] for s in run["steps"]}
    assert steps == {"start": "succeeded", "fetch": "cancelled"}, "the 60 s answer never came"
    again = httpx.post(f"{api_url}/api/workflows/executions/{execution_id}/cancel", headers=headers)
    assert again.status_code == 409
    assert "already cancelled" in again.json()["detail"]


def test_retry_resumes_from_the_failed_step_reusing_finished_outputs(
    api_url, owner, slow_server
) -> None:
    actor, headers = owner
    document = chain(
        "flaky",
        node("start", "trigger.manual"),
        node("first", "http.request", url=f"{slow_server.url}/first", retries=0),
        node("flaky", "http.request", url=f"{slow_server.url}/fail", retries=0),
        node("out", "output", fields={"first_hit": "{{ nodes.first.output.body.hit }}"}),
    )
    workflow_id = create_workflow(actor, document)
    slow_server.healthy.clear()
    execution_id = execute(api_url, headers, workflow_id)
    failed = sse(api_url, headers, execution_id)
    assert failed[-1]["event"] == "execution.failed"
    assert "node 'flaky' failed" in failed[-1]["data"]["data"]["error"]
    first_hits = slow_server.count("/first")

    slow_server.healthy.set()
    answer = httpx.post(f"{api_url}/api/workflows/executions/{execution_id}/retry", headers=headers)
    assert answer.status_code == 202
    assert answer.json()["execution_id"] == execution_id
    events = sse(api_url, headers, execution_id, **{"Last-Event-ID": failed[-1]["id"]})

    assert events[0]["event"] == "execution.queued"
    assert events[-1]["event"] == "execution.succeeded"
    assert slow_server.count("/first") == first_hits, "the finished step was not run again"
    rerun_nodes = [e["data"]["node_id"] for e in events if e["event"] == "step.started"]
    assert rerun_nodes == ["flaky", "out"]
    run = record(api_url, headers, execution_id)
    assert run["status"] == "succeeded" and run["error"] is None
    assert run["outputs"] == {"first_hit": first_hits}
    steps = {s["node_id"]: s for s in run["steps"]}
    assert steps["first"]["attempts"] == 1
    assert steps["flaky"]["attempts"] == 2

    again = httpx.post(f"{api_url}/api/workflows/executions/{execution_id}/retry", headers=headers)
    assert again.status_code == 409
    assert "only a failed or cancelled execution can be retried" in again.json()["detail"]


def test_rerun_starts_a_new_execution_with_the_same_inputs(api_url, owner, slow_server) -> None:
    actor, headers = owner
    workflow_id = create_workflow(actor, counted_workflow(slow_server))
    first = execute(api_url, headers, workflow_id, n=41)
    sse(api_url, headers, first)

    answer = httpx.post(f"{api_url}/api/workflows/executions/{first}/rerun", headers=headers)

    assert answer.status_code == 202
    second = answer.json()["execution_id"]
    assert second != first
    events = sse(api_url, headers, second)
    assert events[-1]["data"]["data"]["outputs"] == {"text": "run 41 hit 2"}
    assert record(api_url, headers, second)["inputs"] == {"n": 41}
    listed = httpx.get(f"{api_url}/api/workflows/{workflow_id}/executions", headers=headers)
    rows = listed.json()
    assert [r["id"] for r in rows] == [second, first], "newest first"
    assert rows[0]["parent_id"] == first and rows[0]["trigger"] == "rerun"
    assert rows[0]["status"] == "succeeded" and rows[0]["duration_s"] >= 0
    failed_only = httpx.get(
        f"{api_url}/api/workflows/{workflow_id}/executions",
        params={"status": "failed"},
        headers=headers,
    )
    assert failed_only.json() == []
