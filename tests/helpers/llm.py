"""For LLM steps: the keys each test's vault holds (and the ones the environment gives), a
priced model of each provider, a :class:`Recorder` of what a node emits, and
:func:`fake_llm_environment`, which points every provider's base URL at the scripted
:mod:`tests.fakes.llm` server the way an operator would (SPEC §4).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

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


@dataclass
class Recorder:
    """Collects what a node emits through its context."""

    tokens: list[str] = field(default_factory=list)
    logs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def token(self, text: str) -> None:
        self.tokens.append(text)

    async def log(self, message: str, **data: Any) -> None:
        self.logs.append((message, data))


@contextmanager
def fake_llm_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLM]:
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
