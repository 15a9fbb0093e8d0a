"""Browser-test fixtures: the suite's server, talking to the scripted fake LLM.

``live_server`` (tests/conftest.py) starts ``agentflow serve`` with this process's
environment; overriding it here first starts :class:`tests.fakes.llm.FakeLLM` and points
the Anthropic and OpenAI base URLs at it, so every browser test's workers reach the fake,
never a real provider. The fake is served through :class:`tests.fakes.paced_llm.PacedStream`,
which can slow a streamed answer down (``fake_llm.pace(0.1)``) so a test sees tokens arrive
while the step is still running.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.fakes.llm import FakeLLM
from tests.fakes.paced_llm import PacedFakeLLM, PacedStream
from tests.fakes.servers import serve_asgi
from tests.helpers.stack import apply_env


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[PacedFakeLLM]:
    fake = FakeLLM()
    pacer = PacedStream(fake.app)
    keys = ("ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_KEY")
    saved = {key: os.environ.get(key) for key in keys}
    with serve_asgi(pacer) as url:
        fake.url = url
        apply_env(
            ANTHROPIC_BASE_URL=url,
            ANTHROPIC_API_KEY="sk-ant-fake-e2e",
            OPENAI_BASE_URL=f"{url}/v1",
            OPENAI_API_KEY="sk-fake-e2e",
        )
        try:
            yield PacedFakeLLM(fake, pacer)
        finally:
            apply_env(**saved)


@pytest.fixture(scope="session")
def live_server(fake_llm: PacedFakeLLM, live_server: str) -> str:
    """The suite's server, started after (and so with the environment of) ``fake_llm``."""
    return live_server
