"""Fixtures for LLM steps: the scripted fake provider, a vault, and a recording context.

The real SDKs and LangChain classes talk to :mod:`tests.fakes.llm` over HTTP; the base URLs
reach them through the same environment variables an operator would set (SPEC §4). The keys,
models and :class:`~tests.helpers.llm.Recorder` are in :mod:`tests.helpers.llm`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from agentflow_app.engine.node import RunContext
from agentflow_app.engine.registry import Registry
from agentflow_app.net.client import GuardedClient
from agentflow_app.nodes.credentials import StaticCredentials
from tests.fakes.llm import FakeLLM
from tests.helpers.llm import CREDENTIALS, Recorder, fake_llm_environment


@pytest.fixture
def fake_llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLM]:
    """The fake provider, with every base URL and environment key pointing at it."""
    with fake_llm_environment(monkeypatch) as fake:
        yield fake


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
