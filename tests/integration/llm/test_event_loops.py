"""A worker runs each task in a fresh event loop: the model clients must not outlive one."""

from __future__ import annotations

import asyncio

import pytest

from agentflow_app.llm.nodes import LLMConfig, LLMPrompt
from tests.fakes.llm import FakeLLM, Reply
from tests.integration.llm.conftest import MODELS


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
