"""Waiting for a run's end on the caller's behalf: ``POST …/run`` and ``?wait=true`` webhooks.

The caller is woken by the run's terminal event, published a second time on the run's
end channel (``events.end_channel``: nothing else is heard there), through the process's
shared subscriber (``redis_client.SharedSubscriber``: one Redis connection for every
waiting caller, where a subscription per call opened and closed a connection per run),
with the row read as the fallback whenever the channel stays quiet; a run that has not
ended within ``timeout_s`` (or that waits for a person) is left running and the caller
gets its id.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import select

from agentflow_app.db import reading
from agentflow_app.engine.events import EventType
from agentflow_app.engine.status import ExecutionStatus
from agentflow_app.errors import AgentFlowError
from agentflow_app.redis_client import get_shared_subscriber
from agentflow_app.services.executions import waits
from agentflow_app.services.executions.events import end_channel
from agentflow_app.services.executions.reading import FOLLOW_POLL_S, execution_record
from agentflow_app.services.executions.rows import EXECUTIONS
from agentflow_app.settings import get_settings

#: What ``timeout_s`` is when the caller names none (or the maximum, if lower).
DEFAULT_WAIT_S = 30.0
_ENDS = {str(type) for type in EventType if type.terminal}

log = logging.getLogger(__name__)


def max_wait_s() -> float:
    """Longest a caller may ask to wait (``AGENTFLOW_RUN_WAIT_MAX_S``); more is refused."""
    return get_settings().agentflow_run_wait_max_s


def default_wait_s() -> float:
    return min(DEFAULT_WAIT_S, max_wait_s())


async def outcome(
    execution_id: int, timeout_s: float, *, send: bool = False
) -> dict[str, Any] | None:
    """The execution record once the run ends, or None if ``timeout_s`` passes first.

    The caller has checked who may see the run (it queued it). Only the end matters here,
    so unlike :func:`.reading.follow` nothing is read back but the record once a terminal
    event is heard, and the row's status whenever the channel stays quiet for
    ``FOLLOW_POLL_S`` (a lost publish, Redis away).

    Args:
        send: The run was queued held (``queue_run(hold=True)``): send it to the workers
            once subscribed, so its end cannot have been missed and the row need not be
            read first. It is sent even if the caller goes away meanwhile.
    """
    end = _EndOfRun(execution_id)
    sent = not send
    try:
        await end.listen()
        if send:
            await asyncio.to_thread(waits.send, [execution_id])
            sent = True
        async with asyncio.timeout(timeout_s):
            ended = False if send else await asyncio.to_thread(_ended, execution_id)
            while True:
                if ended:
                    record = await asyncio.to_thread(execution_record, execution_id)
                    if ExecutionStatus(record["status"]).finished:
                        return record
                    # A retry queued it again after the end we heard: wait for its end.
                ended = await end.heard(FOLLOW_POLL_S)
                if ended is None:  # quiet, or Redis is away: the row says
                    ended = await asyncio.to_thread(_ended, execution_id)
    except TimeoutError:
        return None
    finally:
        if not sent:  # cancelled before it was sent: it must run all the same
            waits.send([execution_id])
        await end.close()


class _EndOfRun:
    """A run's terminal event, heard through the loop's shared subscriber."""

    def __init__(self, execution_id: int) -> None:
        self._channel = end_channel(execution_id)
        self._subscribed = False
        self._lost = False
        self._wake = asyncio.Event()

    async def listen(self) -> None:
        """Subscribe, and wait (1 s at most) until Redis has registered it: whatever is
        published after this is heard. Without Redis, note it: the row is read instead."""
        try:
            await get_shared_subscriber().subscribe(self._channel, self._on_message)
            self._subscribed = True
        except (AgentFlowError, RedisError, OSError) as exc:
            log.info("waiting for %s without Redis for now: %s", self._channel, exc)

    async def heard(self, timeout: float) -> bool | None:
        """True once a terminal event is heard; None after ``timeout`` of quiet, or when
        Redis is away (then it subscribes again on the next call)."""
        if not self._subscribed:
            await asyncio.sleep(timeout)
            await self.listen()
            return None
        try:
            async with asyncio.timeout(timeout):
                await self._wake.wait()
        except TimeoutError:
            return None
        self._wake.clear()
        if self._lost:
            self._lost = self._subscribed = False
            return None
        return True

    async def close(self) -> None:
        if self._subscribed:
            self._subscribed = False
            await get_shared_subscriber().unsubscribe(self._channel, self._on_message)

    def _on_message(self, data: bytes | None) -> None:
        if data is None:  # the connection was lost: read the row, then subscribe again
            self._lost = True
            self._wake.set()
            return
        try:
            if json.loads(data).get("type") in _ENDS:
                self._wake.set()
        except (ValueError, AttributeError):
            pass  # not an event: the row is read on the next quiet spell


def _ended(execution_id: int) -> bool:
    with reading() as conn:
        status = conn.execute(
            select(EXECUTIONS.c.status).where(EXECUTIONS.c.id == execution_id)
        ).scalar_one()
    return ExecutionStatus(status).finished
