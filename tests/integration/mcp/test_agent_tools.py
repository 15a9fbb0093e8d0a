"""``llm.agent`` with ``mcp_servers``: a model (the scripted fake LLM) calls a real MCP server.

The run goes through the durable store with the owner's vault, as a worker runs it, so the
test reads what a user sees: the step log of the live view, the execution record, and what
the MCP server itself received.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from agentflow_app.engine.status import ExecutionStatus
from agentflow_app.net.client import GuardedClient
from agentflow_app.secrets.vault import Vault
from agentflow_app.services import credentials
from agentflow_app.services.executions import create, events_after, execution_record, run_execution
from tests.fakes.llm import FakeLLM, Reply
from tests.fakes.mcp_server import PNG, McpFake, gallery_server, serve_mcp
from tests.helpers.llm import MODELS, fake_llm_environment
from tests.helpers.users import Account

TOKEN = "mcp-dir-token-SECRET-0123456789"


@pytest.fixture
def fake_llm(monkeypatch: pytest.MonkeyPatch):
    with fake_llm_environment(monkeypatch) as fake:
        yield fake


def _document(agent: dict[str, Any]) -> dict[str, Any]:
    model, _ = MODELS["anthropic"]
    config = {"provider": "anthropic", "model": model, "prompt": "How big is Acme?", **agent}
    return {
        "schema_version": 1,
        "name": "mcp agent",
        "nodes": [
            {"id": "start", "type": "trigger.manual", "data": {"config": {}}},
            {"id": "ask", "type": "llm.agent", "data": {"config": config}},
        ],
        "edges": [{"id": "e1", "source": "start", "target": "ask"}],
    }


async def _run(account: Account, document: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    actor = account.actor
    execution_id = create(document, {}, owner_id=actor.id, workspace_id=actor.workspace_id)
    vault = Vault(actor.workspace_id)
    async with GuardedClient(allow_private=True) as http:
        await run_execution(execution_id, http=http, credentials=vault, redact=vault.redactor)
    return execution_id, execution_record(execution_id)


def _tools_offered(request_body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {tool["name"]: tool for tool in request_body.get("tools", [])}


async def test_the_agent_calls_one_tool_of_a_real_mcp_server(
    account: Account, directory: McpFake, fake_llm: FakeLLM
) -> None:
    credentials.create_credential(
        account.actor, "dir", "mcp", {"url": directory.url, "token": TOKEN}
    )
    directory.calls.clear()
    fake_llm.script(
        Reply.call("dir__lookup_company", {"name": "Acme"}),
        Reply.say("Acme has 42 employees."),
    )

    execution_id, record = await _run(account, _document({"mcp_servers": ["dir"]}))

    assert record["status"] == ExecutionStatus.SUCCEEDED, record
    # the server saw exactly one call, with the model's arguments and the credential's token
    assert directory.calls == [("lookup_company", {"name": "Acme"})]
    assert f"Bearer {TOKEN}" in directory.authorizations
    # the model was offered both tools, with the server's descriptions and schemas
    offered = _tools_offered(fake_llm.requests[0].body)
    assert set(offered) == {"dir__lookup_company", "dir__add"}
    assert offered["dir__lookup_company"]["description"].startswith("Look a company up")
    assert offered["dir__add"]["input_schema"]["required"] == ["a", "b"]
    tool_result = fake_llm.requests[1].body["messages"][-1]["content"][0]
    assert json.loads(tool_result["content"])["employees"] == 42
    # the execution record holds the call as a sub-step of the agent step
    [step] = record["steps"][1]["output"]["steps"]
    assert step["tool"] == "mcp:dir/lookup_company"
    assert step["input"] == {"name": "Acme"}
    assert step["output"]["data"] == {"name": "Acme", "employees": 42, "city": "Oslo"}
    assert step["duration_ms"] > 0
    assert record["steps"][1]["output"]["text"] == "Acme has 42 employees."
    # the live view's step log shows the same call
    logs = [e for e in events_after(execution_id) if e.type == "step.log" and e.node_id == "ask"]
    [call] = [e.data for e in logs if e.data.get("tool")]
    assert call["tool"] == "mcp:dir/lookup_company" and call["input"] == {"name": "Acme"}
    assert call["output"]["data"]["employees"] == 42 and call["duration_ms"] > 0
    assert call["message"].startswith("called tool mcp:dir/lookup_company (")
    assert TOKEN not in json.dumps(record)


async def test_only_ticked_tools_are_offered_and_a_tool_error_goes_back_to_the_model(
    account: Account, directory: McpFake, trouble: McpFake, fake_llm: FakeLLM
) -> None:
    credentials.create_credential(account.actor, "dir", "mcp", {"url": directory.url})
    credentials.create_credential(account.actor, "bad", "mcp", {"url": trouble.url})
    fake_llm.script(
        Reply.call("bad__fail", {"reason": "closed today"}),
        Reply.say("The directory is closed today."),
    )

    _, record = await _run(
        account,
        _document({"mcp_servers": ["dir", "bad"], "mcp_tools": {"dir": ["add"], "bad": ["fail"]}}),
    )

    assert record["status"] == ExecutionStatus.SUCCEEDED, record
    assert set(_tools_offered(fake_llm.requests[0].body)) == {"dir__add", "bad__fail"}
    [step] = record["steps"][1]["output"]["steps"]
    assert step["tool"] == "mcp:bad/fail" and step["output"] is None
    assert "the directory refused: closed today" in step["error"]
    assert "the directory refused: closed today" in fake_llm.bodies[1]


async def test_a_hanging_tool_is_a_tool_error_at_the_call_timeout(
    account: Account, trouble: McpFake, fake_llm: FakeLLM
) -> None:
    credentials.create_credential(account.actor, "slow", "mcp", {"url": trouble.url})
    fake_llm.script(Reply.call("slow__hang", {}), Reply.say("The directory did not answer."))

    _, record = await _run(
        account,
        _document({"mcp_servers": ["slow"], "mcp_tools": {"slow": ["hang"]}, "mcp_timeout_s": 1}),
    )

    assert record["status"] == ExecutionStatus.SUCCEEDED, record
    [step] = record["steps"][1]["output"]["steps"]
    assert step["tool"] == "mcp:slow/hang"
    assert "did not answer within 1 s (calling tool 'hang')" in step["error"]
    assert 1000 <= step["duration_ms"] < 10_000


@pytest.mark.parametrize(("provider", "sees_the_image"), [("anthropic", True), ("openai", False)])
async def test_an_image_result_reaches_a_model_that_takes_images(
    account: Account, fake_llm: FakeLLM, provider: str, sees_the_image: bool
) -> None:
    model, _ = MODELS[provider]
    with serve_mcp(gallery_server) as gallery:
        credentials.create_credential(account.actor, "gallery", "mcp", {"url": gallery.url})
        fake_llm.script(Reply.call("gallery__logo", {"company": "Acme"}), Reply.say("A dot."))
        _, record = await _run(
            account,
            _document({"mcp_servers": ["gallery"], "provider": provider, "model": model}),
        )

    assert record["status"] == ExecutionStatus.SUCCEEDED, record
    [step] = record["steps"][1]["output"]["steps"]
    assert step.get("error") is None, step["error"]
    assert step["output"]["content"] == [
        {"type": "image", "mime_type": "image/png", "data": base64.b64encode(PNG).decode()}
    ]
    sent = fake_llm.bodies[1]
    assert "the logo of Acme" in sent
    assert (base64.b64encode(PNG).decode() in sent) is sees_the_image
    assert f"[image image/png, {len(PNG)} bytes, kept in the step output]" in sent
