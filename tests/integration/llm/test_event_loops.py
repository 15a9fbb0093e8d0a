"""Model clients and event loops: a worker thread keeps one loop for all its runs, while
``asyncio.run`` makes a new one each time; clients follow the loop and never outlive it."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from agentflow_app.llm.nodes import LLMConfig, LLMPrompt
from agentflow_app.llm.providers import aclose_loop_clients
from tests.fakes.llm import FakeLLM, Reply
from tests.helpers.llm import MODELS


@pytest.mark.parametrize("provider", sorted(MODELS))
def test_consecutive_runs_in_new_event_loops_all_succeed(
    fake_llm: FakeLLM, make_ctx, provider: str
) -> None:
    model, credential = MODELS[provider]
    config = LLMConfig(provider=provider, model=model, credential=credential, prompt="Hi")
    answers = []
    for turn in range(3):
        fake_llm.script(Reply.say(f"answer {turn}"))
        answers.append(asyncio.run(LLMPrompt().run(make_ctx(), config))["text"])

    assert answers == ["answer 0", "answer 1", "answer 2"]


@pytest.mark.parametrize("new_loop", [asyncio.new_event_loop, uvloop.new_event_loop])
@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_steps_in_one_event_loop_share_a_kept_alive_connection(
    fake_llm: FakeLLM, make_ctx, provider: str, new_loop
) -> None:
    """A worker thread keeps its loop: its LLM steps reuse one connection to the provider
    instead of opening one per step (a TLS handshake each against the real APIs). Workers
    run on uvloop's loop where it is installed, the CLI on asyncio's: both keep it."""
    model, credential = MODELS[provider]
    config = LLMConfig(provider=provider, model=model, credential=credential, prompt="Hi")

    async def three_steps() -> list[str]:
        texts = []
        for turn in range(3):
            fake_llm.script(Reply.say(f"answer {turn}"))
            texts.append((await LLMPrompt().run(make_ctx(), config))["text"])
        await aclose_loop_clients()
        return texts

    loop = new_loop()
    try:
        assert loop.run_until_complete(three_steps()) == ["answer 0", "answer 1", "answer 2"]
    finally:
        loop.close()
    peers = {request.peer for request in fake_llm.requests}
    assert len(fake_llm.requests) == 3
    assert len(peers) == 1, f"each step opened its own connection: {peers}"


def test_a_dropped_connection_is_replaced_for_the_next_step(fake_llm: FakeLLM, make_ctx) -> None:
    model, credential = MODELS["anthropic"]
    config = LLMConfig(
        provider="anthropic", model=model, credential=credential, prompt="Hi", retries=0
    )

    async def steps() -> tuple[str, str]:
        fake_llm.script(Reply.dropped(), Reply.say("fine again"))
        try:
            await LLMPrompt().run(make_ctx(), config)
        except Exception as exc:  # the step fails on the cut answer
            first = type(exc).__name__
        else:
            first = "no error"
        second = (await LLMPrompt().run(make_ctx(), config))["text"]
        await aclose_loop_clients()
        return first, second

    first, second = asyncio.run(steps())
    assert first != "no error"
    assert second == "fine again"
