"""Testing one node from the editor, through a real Celery worker (issue 7, point 8).

The workflow is trigger(n) → GET {server}/hit/<n> → a template reading the response →
output. Tests run the template on a sample response (the HTTP step must not run), the
HTTP step with an unsaved URL (it must reach the server once), an LLM step whose tokens
stream, and check what the form is prefilled with and what is refused.
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from agentflow_app.engine.errors import InvalidWorkflow
from agentflow_app.errors import Conflict, InvalidInput, NotFound
from agentflow_app.services import node_tests, users
from agentflow_app.services.executions import dashboard, events_after, list_executions, rerun
from agentflow_app.services.users import Actor
from tests.fakes.llm import FakeLLM, Reply, serve_fake_llm
from tests.fakes.slow_server import SlowServer
from tests.helpers.documents import node
from tests.helpers.executions import counted_workflow, create_workflow, wait_finished
from tests.helpers.stack import Stack
from tests.helpers.users import PASSWORD
from tests.helpers.workers import WorkerPool, worker_pool


@pytest.fixture(scope="module")
def fake_llm(stack: Stack) -> Iterator[FakeLLM]:
    with serve_fake_llm() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(stack: Stack) -> Iterator[SlowServer]:
    made = SlowServer()
    yield made
    made.close()


@pytest.fixture(scope="module")
def worker(
    stack: Stack, fake_llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerPool]:
    env = {"ANTHROPIC_BASE_URL": fake_llm.url, "ANTHROPIC_API_KEY": "sk-ant-fake-node-test"}
    with worker_pool(stack, tmp_path_factory.mktemp("node-test-workers"), **env) as pool:
        pool.start("nodetest", concurrency=1)
        yield pool


@pytest.fixture
def actor(stack: Stack) -> Actor:
    return users.create_user(f"nt{secrets.token_hex(4)}@example.com", PASSWORD)


def _finished(actor: Actor, execution_id: int, node_id: str) -> node_tests.NodeTestResult:
    wait_finished(execution_id)
    return node_tests.result(actor, execution_id, node_id)


def test_a_node_runs_on_its_sample_inputs_without_running_upstream(
    worker: WorkerPool, server: SlowServer, actor: Actor
) -> None:
    document = counted_workflow(server, path="/sampled")
    workflow_id = create_workflow(actor, document)

    setup = node_tests.prepare(actor, workflow_id, document, "shape")
    assert [slot.node_id for slot in setup.samples] == ["fetch"]
    assert setup.samples[0].output == {}
    assert setup.inputs == {"n": 0}  # no run yet: an empty value of the declared type

    execution_id = node_tests.start(
        actor,
        workflow_id,
        document,
        "shape",
        inputs={"n": 7},
        samples={"fetch": {"status": 200, "body": {"hit": 42}}},
    )
    result = _finished(actor, execution_id, "shape")

    assert result.status == "succeeded", result
    assert result.step_status == "succeeded"
    assert result.output == {"text": "run 7 hit 42"}
    assert result.error is None
    assert result.duration_s is not None
    assert server.count("/sampled/7") == 0  # the HTTP step was the sample, not a request
    # A node test is a real execution, but not a run of the workflow: the history and the
    # dashboard leave it out, and it cannot be re-run as one.
    assert list_executions(actor, workflow_id=workflow_id).total == 0
    page = list_executions(actor, workflow_id=workflow_id, include_tests=True)
    assert [(item.id, item.trigger) for item in page.items] == [(execution_id, "test")]
    assert dashboard(actor).total == 0
    with pytest.raises(Conflict, match="tested one node"):
        rerun(actor, execution_id)
    events = events_after(execution_id)
    assert (str(events[0].type), events[0].data) == ("execution.queued", {"test_of": "shape"})


def test_unsaved_config_is_what_runs_and_its_output_prefills_the_next_test(
    worker: WorkerPool, server: SlowServer, actor: Actor
) -> None:
    saved = counted_workflow(server, path="/saved")
    workflow_id = create_workflow(actor, saved)
    working = copy.deepcopy(saved)
    fetch = next(n for n in working["nodes"] if n["id"] == "fetch")
    fetch["data"]["config"]["url"] = server.url + "/edited/{{ inputs.n }}"

    setup = node_tests.prepare(actor, workflow_id, working, "fetch")
    assert setup.samples == []  # only the trigger is upstream: it takes the inputs
    execution_id = node_tests.start(actor, workflow_id, working, "fetch", inputs={"n": 5})
    result = _finished(actor, execution_id, "fetch")

    assert result.status == "succeeded", result
    assert result.output["status"] == 200
    assert result.output["body"] == {"path": "/edited/5", "hit": 1}
    assert server.count("/edited/5") == 1
    assert server.count("/saved/5") == 0

    # The template after it now starts from that real response and those inputs.
    setup = node_tests.prepare(actor, workflow_id, working, "shape")
    assert setup.samples[0].output == result.output
    assert setup.samples[0].from_execution == execution_id
    assert setup.inputs == {"n": 5}
    assert setup.inputs_from_execution == execution_id


def test_a_failing_node_shows_its_error(
    worker: WorkerPool, server: SlowServer, actor: Actor
) -> None:
    document = counted_workflow(server)
    workflow_id = create_workflow(actor, document)
    execution_id = node_tests.start(
        actor, workflow_id, document, "shape", inputs={"n": 1}, samples={"fetch": {"body": 3}}
    )
    result = _finished(actor, execution_id, "shape")

    assert result.status == "failed"
    assert result.step_status == "failed"
    assert "hit" in (result.error or ""), result.error


def test_an_llm_node_streams_its_tokens(
    worker: WorkerPool, fake_llm: FakeLLM, actor: Actor
) -> None:
    document = {
        "schema_version": 1,
        "name": "brief",
        "nodes": [
            node("start", "trigger.manual", inputs=[{"name": "company", "type": "string"}]),
            node(
                "brief",
                "llm.prompt",
                provider="anthropic",
                model="claude-sonnet-4-5",
                prompt="Three facts about {{ inputs.company }}",
            ),
        ],
        "edges": [{"id": "e1", "source": "start", "target": "brief"}],
    }
    workflow_id = create_workflow(actor, document)
    fake_llm.script(Reply.say("Acme makes anvils.", chunks=["Acme ", "makes ", "anvils."]))

    execution_id = node_tests.start(actor, workflow_id, document, "brief", {"company": "Acme"})
    result = _finished(actor, execution_id, "brief")

    assert result.status == "succeeded", result
    assert result.output["text"] == "Acme makes anvils."
    streamed = "".join(
        e.data["text"]
        for e in events_after(execution_id)
        if str(e.type) == "step.token" and e.node_id == "brief"
    )
    assert streamed == "Acme makes anvils."
    assert "Three facts about Acme" in fake_llm.bodies[-1]
    board = dashboard(actor)  # not a run, but the tokens it spent count
    assert board.total == 0
    assert board.output_tokens == result.usage["output_tokens"] > 0


def _problems(exc: pytest.ExceptionInfo) -> list[dict[str, Any]]:
    return [{k: p[k] for k in ("node_id", "field")} for p in exc.value.problems]


def test_what_cannot_be_tested_is_refused_and_says_where(
    stack: Stack, server: SlowServer, actor: Actor
) -> None:
    document = counted_workflow(server)
    workflow_id = create_workflow(actor, document)
    other = users.create_user(f"nt{secrets.token_hex(4)}@example.com", PASSWORD)
    samples = {"fetch": {}}

    with pytest.raises(NotFound):
        node_tests.start(other, workflow_id, document, "shape", {"n": 1}, samples)
    with pytest.raises(NotFound):
        node_tests.prepare(other, workflow_id, document, "shape")
    with pytest.raises(NotFound, match="no node 'ghost'"):
        node_tests.start(actor, workflow_id, document, "ghost", {"n": 1}, samples)
    with pytest.raises(InvalidInput, match="starts the workflow"):
        node_tests.start(actor, workflow_id, document, "start", {"n": 1})

    with pytest.raises(InvalidInput, match="give a sample output for node 'fetch'") as missing:
        node_tests.start(actor, workflow_id, document, "shape", {"n": 1}, {})
    assert _problems(missing) == [{"node_id": "fetch", "field": "sample"}]
    with pytest.raises(InvalidInput, match="not upstream") as extra:
        node_tests.start(actor, workflow_id, document, "shape", {"n": 1}, {**samples, "out": 1})
    assert _problems(extra) == [{"node_id": "out", "field": "sample"}]
    with pytest.raises(InvalidInput, match="JSON object"):
        node_tests.start(actor, workflow_id, document, "shape", ["n"], samples)

    broken = copy.deepcopy(document)
    shape = next(n for n in broken["nodes"] if n["id"] == "shape")
    shape["data"]["config"]["template"] = "{{ nodes.out.output }}"
    with pytest.raises(InvalidWorkflow) as invalid:
        node_tests.start(actor, workflow_id, broken, "shape", {"n": 1}, samples)
    assert _problems(invalid) == [{"node_id": "shape", "field": "config.template"}]

    needs_key = copy.deepcopy(document)
    fetch = next(n for n in needs_key["nodes"] if n["id"] == "fetch")
    fetch["data"]["config"]["credential"] = "missing-key"
    with pytest.raises(InvalidWorkflow, match="no credential named 'missing-key'"):
        node_tests.start(actor, workflow_id, needs_key, "fetch", {"n": 1})

    # Nothing above was queued.
    assert list_executions(actor, workflow_id=workflow_id, include_tests=True).total == 0
