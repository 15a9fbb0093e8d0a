"""LLM steps inside a real run: batched tokens before success, retries counted by the runner."""

from __future__ import annotations

from typing import Any

import pytest

from agentflow_app.catalog import register_builtins
from agentflow_app.engine.events import EventType
from agentflow_app.engine.registry import Registry
from agentflow_app.engine.runner import run
from agentflow_app.engine.status import ExecutionStatus, StepStatus
from agentflow_app.engine.store import MemoryStore
from agentflow_app.net.client import GuardedClient
from agentflow_app.nodes.credentials import StaticCredentials
from tests.fakes.llm import FakeLLM, Reply
from tests.helpers.llm import MODELS


def document(provider: str = "anthropic", **config: Any) -> dict[str, Any]:
    model, credential = MODELS[provider]
    return {
        "schema_version": 1,
        "name": "Lead research",
        "nodes": [
            {
                "id": "start",
                "type": "trigger.manual",
                "position": {"x": 0, "y": 0},
                "data": {
                    "label": "Start",
                    "config": {"inputs": [{"name": "company", "type": "string", "required": True}]},
                },
            },
            {
                "id": "brief",
                "type": "llm.prompt",
                "position": {"x": 0, "y": 160},
                "data": {
                    "label": "Brief",
                    "config": {
                        "provider": provider,
                        "model": model,
                        "credential": credential,
                        "prompt": "Three facts about {{ inputs.company }}",
                        **config,
                    },
                },
            },
        ],
        "edges": [
            {
                "id": "e1",
                "source": "start",
                "target": "brief",
                "sourceHandle": "out",
                "targetHandle": "in",
            }
        ],
    }


@pytest.fixture
def registry() -> Registry:
    registry = Registry()
    register_builtins(registry)
    return registry


async def execute(
    doc: dict[str, Any], registry: Registry, vault: StaticCredentials
) -> tuple[Any, MemoryStore]:
    store = MemoryStore("exec-1")
    async with GuardedClient(allow_private=True) as http:
        result = await run(
            doc,
            {"company": "Acme"},
            store,
            registry=registry,
            http=http,
            credentials=vault,
            retry_backoff_s=0.01,
        )
    return result, store


@pytest.mark.parametrize("provider", sorted(MODELS))
async def test_a_prompt_step_streams_tokens_before_it_succeeds(
    fake_llm: FakeLLM, registry: Registry, vault: StaticCredentials, provider: str
) -> None:
    words = [f"w{i} " for i in range(40)]
    fake_llm.script(Reply.say("".join(words), chunks=words, input_tokens=1000, output_tokens=500))

    result, store = await execute(document(provider), registry, vault)

    assert result.status == ExecutionStatus.SUCCEEDED
    step = result.steps["brief"]
    assert step.status == StepStatus.SUCCEEDED
    assert step.output["text"] == "".join(words)
    assert step.usage["input_tokens"] == 1000 and step.usage["output_tokens"] == 500
    assert result.usage["cost_usd"] == step.usage["cost_usd"] > 0
    assert "Three facts about Acme" in fake_llm.bodies[0]

    events = [e for e in store.events if e.node_id == "brief"]
    kinds = [e.type for e in events]
    assert kinds[0] == EventType.STEP_STARTED and kinds[-1] == EventType.STEP_SUCCEEDED
    tokens = [e for e in events if e.type == EventType.STEP_TOKEN]
    assert tokens, "the answer was streamed"
    last_token = max(i for i, k in enumerate(kinds) if k == EventType.STEP_TOKEN)
    assert last_token < kinds.index(EventType.STEP_SUCCEEDED)
    assert "".join(e.data["text"] for e in tokens) == "".join(words)
    assert [e.seq for e in tokens] == sorted(e.seq for e in tokens)


@pytest.mark.parametrize("provider", sorted(MODELS))
async def test_429_and_500_are_retried_by_the_runner(
    fake_llm: FakeLLM, registry: Registry, vault: StaticCredentials, provider: str
) -> None:
    fake_llm.script(
        Reply.error(429, "slow down", headers={"retry-after": "0"}),
        Reply.error(500, "oops"),
        Reply.say("third time lucky"),
    )

    result, store = await execute(document(provider), registry, vault)

    assert result.status == ExecutionStatus.SUCCEEDED
    assert result.steps["brief"].attempts == 3
    assert result.steps["brief"].output["text"] == "third time lucky"
    assert len(fake_llm.requests) == 3
    retries = [
        e.data["message"]
        for e in store.events
        if e.type == EventType.STEP_LOG and "retrying" in e.data.get("message", "")
    ]
    assert len(retries) == 2
    assert "rate limiting" in retries[0] and "server error (500" in retries[1]


async def test_retries_run_out_with_a_clear_failure(
    fake_llm: FakeLLM, registry: Registry, vault: StaticCredentials
) -> None:
    fake_llm.script(*[Reply.error(503, "overloaded") for _ in range(3)])

    result, _ = await execute(document("openai"), registry, vault)

    assert result.status == ExecutionStatus.FAILED
    assert len(fake_llm.requests) == 3
    assert (
        result.steps["brief"].error
        == "openai had a server error (503: overloaded) (after 3 attempts)"
    )


@pytest.mark.parametrize("provider", sorted(MODELS))
async def test_a_refused_key_is_not_retried(
    fake_llm: FakeLLM, registry: Registry, vault: StaticCredentials, provider: str
) -> None:
    fake_llm.script(Reply.error(403 if provider == "bedrock" else 401, "bad key"))

    result, _ = await execute(document(provider), registry, vault)

    assert result.status == ExecutionStatus.FAILED
    assert len(fake_llm.requests) == 1
    credential = MODELS[provider][1]
    assert (
        result.steps["brief"].error
        == f"the {provider} key in credential {credential!r} was refused: bad key"
    )
