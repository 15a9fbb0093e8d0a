"""Streamed model tokens, sent as ``step.token`` events in batches, not one per token."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from agentflow_app.engine.events import EventType

#: Streamed tokens are sent at most this often per step (seconds), in batches.
TOKEN_FLUSH_S = 0.05


class TokenBatcher:
    """Batches ``step.token`` events: at most one per :data:`TOKEN_FLUSH_S` per step."""

    def __init__(self, emit: Callable[..., Awaitable[Any]], node_id: str) -> None:
        self._emit = emit
        self._node_id = node_id
        self._buffer: list[str] = []
        self._last = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._inflight: asyncio.Task | None = None

    async def add(self, text: str) -> None:
        self._buffer.append(str(text))
        loop = asyncio.get_running_loop()
        wait = TOKEN_FLUSH_S - (loop.time() - self._last)
        if wait <= 0:
            await self.flush()
        elif self._timer is None:
            self._timer = loop.call_later(wait, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._inflight = asyncio.get_running_loop().create_task(self.flush())

    async def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._buffer:
            return
        text = "".join(self._buffer)
        self._buffer.clear()
        self._last = asyncio.get_running_loop().time()
        await self._emit(EventType.STEP_TOKEN, self._node_id, text=text)

    async def close(self) -> None:
        """Send what is left, after any timed flush already under way."""
        if self._inflight is not None and not self._inflight.done():
            await self._inflight
        await self.flush()
