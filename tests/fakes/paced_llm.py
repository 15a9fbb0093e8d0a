"""The scripted fake LLM (:mod:`tests.fakes.llm`) behind a pacing knob: :class:`PacedStream`
can slow a streamed answer down so a browser test sees tokens arrive while the step is still
running, and :class:`PacedFakeLLM` is the fake and its knob as tests use them."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.fakes.llm import FakeLLM


class PacedStream:
    """ASGI middleware: waits ``delay_s`` before each further piece of a streamed body."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.delay_s = 0.0

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        delay = self.delay_s

        async def paced(message: dict) -> None:
            if delay and message.get("type") == "http.response.body" and message.get("more_body"):
                await asyncio.sleep(delay)
            await send(message)

        await self.app(scope, receive, paced)


class PacedFakeLLM:
    """The fake LLM and its pacing knob, as tests use them."""

    def __init__(self, fake: FakeLLM, pacer: PacedStream) -> None:
        self.fake = fake
        self.pacer = pacer

    @property
    def url(self) -> str:
        return self.fake.url

    def script(self, *replies: Any) -> None:
        self.fake.script(*replies)

    def pace(self, delay_s: float) -> None:
        """Wait ``delay_s`` between the streamed pieces of the next answers (0: no wait)."""
        self.pacer.delay_s = delay_s
