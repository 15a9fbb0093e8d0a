"""``llm.agent``: the tool loop over real SDKs, with registry and plugin tools."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from agentflow_app.engine.errors import NodeError
from agentflow_app.engine.node import RunContext, Tool
from agentflow_app.engine.registry import Registry
from agentflow_app.llm.nodes import AgentConfig, LLMAgent
from agentflow_app.nodes.http import HttpRequestTool
from tests.fakes.llm import FakeLLM, Reply
from tests.fakes.servers import serve_asgi
from tests.helpers.llm import MODELS, Recorder


class WordCount(Tool):
    """A plugin-style tool: what a team would register from its own package."""

    id = "word_count"
    description = "Count the words in a text."

    class Args(BaseModel):
        text: str = Field(description="The text to count the words of")

    async def run(self, ctx: RunContext, args: Args) -> dict[str, int]:
        return {"words": len(args.text.split())}


class Directory(Tool):
    id = "acme.lookup"
    description = "Look a company up in the directory."

    class Args(BaseModel):
        company: str

    async def run(self, ctx: RunContext, args: Args) -> dict[str, Any]:
        raise RuntimeError("the directory is down for maintenance")


@pytest.fixture
def registry() -> Registry:
    registry = Registry()
    for tool in (WordCount, Directory, HttpRequestTool):
        registry.register_tool(tool)
    return registry


def agent_config(provider: str = "anthropic", **overrides: object) -> AgentConfig:
    model, credential = MODELS[provider]
    values = {
        "provider": provider,
        "model": model,
        "credential": credential,
        "prompt": "How many words are in 'one two three'?",
        "tools": ["word_count"],
    }
    values.update(overrides)
    return AgentConfig.model_validate(values)


def tool_schemas(provider: str, body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Tool name → JSON schema of its arguments, as each provider's request carries them."""
    if provider == "anthropic":
        return {t["name"]: t["input_schema"] for t in body["tools"]}
    if provider == "openai":
        return {t["function"]["name"]: t["function"]["parameters"] for t in body["tools"]}
    return {
        t["toolSpec"]["name"]: t["toolSpec"]["inputSchema"]["json"]
        for t in body["toolConfig"]["tools"]
    }


@pytest.mark.parametrize("provider", sorted(MODELS))
async def test_the_agent_calls_a_plugin_tool_then_answers(
    fake_llm: FakeLLM, make_ctx, recorder: Recorder, registry: Registry, provider: str
) -> None:
    fake_llm.script(
        Reply.call("word_count", {"text": "one two three"}, input_tokens=100, output_tokens=20),
        Reply.say("There are 3 words.", input_tokens=150, output_tokens=10),
    )

    output = await LLMAgent().run(make_ctx(registry=registry), agent_config(provider))

    assert output["text"] == "There are 3 words."
    [step] = output["steps"]
    assert step.pop("duration_ms") >= 0
    assert step == {
        "tool": "word_count",
        "input": {"text": "one two three"},
        "output": {"words": 3},
    }
    assert output["usage"]["input_tokens"] == 250
    assert output["usage"]["output_tokens"] == 30
    assert output["usage"]["cost_usd"] > 0
    assert output["model"] == MODELS[provider][0]
    assert "".join(recorder.tokens) == "There are 3 words."
    [(message, data)] = [(m, d) for m, d in recorder.logs if d.get("tool") == "word_count"]
    assert message == f"called tool word_count ({data.pop('duration_ms'):g} ms)"
    assert data == {
        "tool": "word_count",
        "input": {"text": "one two three"},
        "output": {"words": 3},
    }

    first, second = fake_llm.requests
    schema = tool_schemas(provider, first.body)["word_count"]
    assert schema["properties"]["text"]["type"] == "string"
    assert schema["properties"]["text"]["description"] == "The text to count the words of"
    assert schema["required"] == ["text"]
    assert '\\"words\\": 3' in second.raw.decode() or '"words": 3' in second.raw.decode()


async def test_a_failing_tool_answers_the_model_instead_of_failing_the_step(
    fake_llm: FakeLLM, make_ctx, recorder: Recorder, registry: Registry
) -> None:
    fake_llm.script(
        Reply.call("acme_lookup", {"company": "Acme"}),
        Reply.say("The directory is unavailable right now."),
    )

    output = await LLMAgent().run(
        make_ctx(registry=registry), agent_config(tools=["acme.lookup"], prompt="Who is Acme?")
    )

    assert output["text"] == "The directory is unavailable right now."
    [step] = output["steps"]
    assert step["tool"] == "acme.lookup"
    assert step["output"] is None
    assert "the directory is down for maintenance" in step["error"]
    assert "the directory is down for maintenance" in fake_llm.bodies[1]
    assert any(m.startswith("tool acme.lookup failed") for m, _ in recorder.logs)
    # Tool ids with dots are renamed for the providers, which allow [A-Za-z0-9_-] only.
    assert [t["name"] for t in fake_llm.requests[0].body["tools"]] == ["acme_lookup"]


async def test_arguments_that_do_not_fit_the_schema_go_back_to_the_model(
    fake_llm: FakeLLM, make_ctx, registry: Registry
) -> None:
    fake_llm.script(
        Reply.call("word_count", {"txt": "oops"}),
        Reply.call("word_count", {"text": "one two"}),
        Reply.say("2 words."),
    )

    output = await LLMAgent().run(make_ctx(registry=registry), agent_config("openai"))

    assert output["text"] == "2 words."
    refused, accepted = output["steps"]
    assert refused["input"] == {"txt": "oops"}
    assert "text" in refused["error"] and refused["output"] is None
    assert accepted["output"] == {"words": 2}


async def test_max_steps_stops_an_agent_that_keeps_calling_tools(
    fake_llm: FakeLLM, make_ctx, registry: Registry
) -> None:
    fake_llm.script(*[Reply.call("word_count", {"text": "again"}) for _ in range(3)])

    with pytest.raises(
        NodeError, match=r"used all 2 steps \(max_steps\) and was still calling tools"
    ):
        await LLMAgent().run(make_ctx(registry=registry), agent_config(max_steps=2))

    assert len(fake_llm.requests) == 2


async def test_the_agent_calls_http_request_against_a_local_server(
    fake_llm: FakeLLM, make_ctx, registry: Registry
) -> None:
    seen: list[str] = []

    async def weather(request: Request) -> JSONResponse:
        seen.append(str(request.url))
        return JSONResponse({"city": request.query_params["city"], "temp_c": 21})

    with serve_asgi(Starlette(routes=[Route("/weather", weather)])) as api:
        fake_llm.script(
            Reply.call("http_request", {"url": f"{api}/weather", "query": {"city": "Oslo"}}),
            Reply.say("It is 21°C in Oslo."),
        )
        output = await LLMAgent().run(
            make_ctx(registry=registry),
            agent_config("bedrock", tools=["http_request"], prompt="Weather in Oslo?"),
        )

    assert output["text"] == "It is 21°C in Oslo."
    [step] = output["steps"]
    assert step["tool"] == "http_request"
    assert step["output"]["status"] == 200
    assert step["output"]["body"] == {"city": "Oslo", "temp_c": 21}
    assert seen == [f"{api}/weather?city=Oslo"]
    tool_result = fake_llm.requests[1].body["messages"][-1]["content"][0]["toolResult"]
    assert json.loads(tool_result["content"][0]["text"])["body"]["temp_c"] == 21


async def test_an_unknown_tool_id_lists_the_known_ones(
    fake_llm: FakeLLM, make_ctx, registry: Registry
) -> None:
    with pytest.raises(
        NodeError,
        match=r"unknown tool 'wrd_count' in tools \(known tools: acme.lookup, http_request, word_count\)",
    ):
        await LLMAgent().run(make_ctx(registry=registry), agent_config(tools=["wrd_count"]))
    assert fake_llm.requests == []


def test_tool_credentials_must_name_listed_tools() -> None:
    with pytest.raises(
        ValidationError, match="tool_credentials names slack_message, which is not in tools"
    ):
        agent_config(tool_credentials={"slack_message": "team-slack"})


class Notify(Tool):
    """A tool that changes the world: it must never run twice for one answer."""

    id = "notify"
    description = "Tell the team."
    side_effects = True
    sent: list[str] = []

    class Args(BaseModel):
        message: str

    async def run(self, ctx: RunContext, args: Args) -> dict[str, bool]:
        Notify.sent.append(args.message)
        return {"sent": True}


async def test_after_tools_ran_a_failed_model_call_is_retried_in_place(
    fake_llm: FakeLLM, make_ctx, recorder: Recorder, registry: Registry
) -> None:
    fake_llm.script(
        Reply.call("word_count", {"text": "a b"}),
        Reply.error(429, "slow down", headers={"retry-after": "0"}),
        Reply.say("2 words."),
    )

    output = await LLMAgent().run(make_ctx(registry=registry), agent_config())

    assert output["text"] == "2 words."
    assert len(output["steps"]) == 1, "the tool was not run again"
    assert len(fake_llm.requests) == 3
    assert any("retrying in 0.0 s, keeping the tool results" in m for m, _ in recorder.logs)


async def test_a_side_effect_is_never_repeated_when_the_model_keeps_failing(
    fake_llm: FakeLLM, make_ctx, registry: Registry
) -> None:
    registry.register_tool(Notify)
    Notify.sent = []
    fake_llm.script(
        Reply.call("notify", {"message": "deal closed"}),
        *[Reply.error(500, "boom", headers={"retry-after": "0"}) for _ in range(2)],
    )

    with pytest.raises(NodeError) as caught:
        await LLMAgent().run(make_ctx(registry=registry), agent_config(tools=["notify"], retries=1))

    assert Notify.sent == ["deal closed"]
    assert str(caught.value) == (
        "anthropic had a server error (500: boom) (after 2 attempts); the step is not "
        "retried as a whole because notify already ran and would run again"
    )
    assert len(fake_llm.requests) == 3


def test_an_agent_is_idempotent_only_without_side_effecting_tools(registry: Registry) -> None:
    agent = LLMAgent()
    assert agent.is_idempotent(agent_config(tools=[]), registry)
    assert not agent.is_idempotent(agent_config(tools=["http_request"]), registry)
    assert not agent.is_idempotent(agent_config(tools=["not_installed"]), registry)


def test_an_agent_asks_the_registry_it_is_given_about_its_tools(registry: Registry) -> None:
    agent = LLMAgent()
    assert agent.is_idempotent(agent_config(tools=["word_count"]), registry)
    # without a registry no tool is known, so only a tool-less agent counts as safe
    assert not agent.is_idempotent(agent_config(tools=["word_count"]))
    assert agent.is_idempotent(agent_config(tools=[]))


async def test_an_agent_with_json_output_parses_its_final_answer(
    fake_llm: FakeLLM, make_ctx, registry: Registry
) -> None:
    fake_llm.script(
        Reply.call("word_count", {"text": "a b c"}),
        Reply.say("three words"),
        Reply.say('{"words": 3}'),
    )

    output = await LLMAgent().run(
        make_ctx(registry=registry), agent_config("openai", json_output=True)
    )

    assert output["data"] == {"words": 3}
    assert len(output["steps"]) == 1
    assert "one JSON value" in fake_llm.requests[0].body["messages"][0]["content"]
    repair = fake_llm.requests[2].body["messages"]
    assert [m["role"] for m in repair] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
    ]
    assert repair[-2]["content"] == "three words"
    assert "not valid JSON" in repair[-1]["content"]
