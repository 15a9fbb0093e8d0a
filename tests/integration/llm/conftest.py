"""Fixtures for LLM steps: the scripted fake provider, a vault, and a recording context.

The real SDKs and LangChain classes talk to :mod:`tests.fakes.llm` over HTTP; the base URLs
reach them through the same environment variables an operator would set (SPEC §4).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from agentflow_app.engine.node import RunContext
from agentflow_app.engine.registry import Registry
from agentflow_app.net.client import GuardedClient
from agentflow_app.nodes.credentials import StaticCredentials
from agentflow_app.settings import reset_settings
from tests.fakes.llm import FakeLLM, serve_fake_llm

ANTHROPIC_KEY = "sk-ant-test-0123456789abcdef"
OPENAI_KEY = "sk-openai-test-0123456789abcdef"
AWS_KEY_ID = "AKIAFAKEFAKEFAKE0001"
AWS_SECRET = "aws-secret-test-0123456789abcdefABCDEF"
ENV_ANTHROPIC_KEY = "sk-ant-from-environment-0000"
ENV_OPENAI_KEY = "sk-openai-from-environment-0000"

#: A model of each provider that has a price, and the credential that reaches it.
MODELS = {
    "anthropic": ("claude-sonnet-4-5", "ant"),
    "openai": ("gpt-4o-mini", "oai"),
    "bedrock": ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "aws"),
}


@dataclass
class Recorder:
    """Collects what a node emits through its context."""

    tokens: list[str] = field(default_factory=list)
    logs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def token(self, text: str) -> None:
        self.tokens.append(text)

    async def log(self, message: str, **data: Any) -> None:
        self.logs.append((message, data))


@pytest.fixture
def fake_llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLM]:
    """The fake provider, with every base URL and environment key pointing at it."""
    with serve_fake_llm() as fake:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
        monkeypatch.setenv("OPENAI_BASE_URL", f"{fake.url}/v1")
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", fake.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", ENV_ANTHROPIC_KEY)
        monkeypatch.setenv("OPENAI_API_KEY", ENV_OPENAI_KEY)
        monkeypatch.setenv("AGENTFLOW_ALLOW_PRIVATE_NETWORK", "true")
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        reset_settings()
        yield fake
    reset_settings()


#: The credentials every test's vault holds.
CREDENTIALS: dict[str, tuple[str, dict[str, Any]]] = {
    "ant": ("anthropic", {"api_key": ANTHROPIC_KEY}),
    "oai": ("openai", {"api_key": OPENAI_KEY}),
    "aws": (
        "aws",
        {
            "access_key_id": AWS_KEY_ID,
            "secret_access_key": AWS_SECRET,
            "region": "us-east-1",
        },
    ),
}


@pytest.fixture
def vault() -> StaticCredentials:
    return StaticCredentials(CREDENTIALS)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def http(fake_llm: FakeLLM) -> AsyncIterator[GuardedClient]:
    async with GuardedClient(allow_private=True) as client:
        yield client


@pytest.fixture
def make_ctx(recorder: Recorder, vault: StaticCredentials, http: GuardedClient) -> Any:
    """Build a RunContext for node ``node_id`` whose events land in ``recorder``."""

    def make(
        node_id: str = "ask",
        registry: Registry | None = None,
        credentials: StaticCredentials | None = None,
    ) -> RunContext:
        return RunContext(
            execution_id="test-exec",
            node_id=node_id,
            attempt=1,
            inputs={},
            http=http,
            credentials=credentials or vault,
            cancelled=asyncio.Event(),
            log=recorder.log,
            token=recorder.token,
            registry=registry if registry is not None else Registry(),
        )

    return make
