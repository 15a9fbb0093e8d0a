"""Waiting for a run's end on the caller's behalf: ``POST …/run`` and ``?wait=true`` webhooks.

The caller is woken by the run's terminal event, published a second time on the run's
end channel (``events.end_channel``: nothing else is heard there), through the process's
shared subscriber (``redis_client.SharedSubscriber``: one Redis connection subscribed
once to every end channel, so waiting costs no Redis command per call), with the row
read as the fallback whenever the channel stays quiet; a run that has not ended within
``timeout_s`` (or that waits for a person) is left running and the caller gets its id.

A caller that queues the run itself makes an :class:`EndOfRun` first and hands its
``watch`` to the queueing (``on_stored``): the run is watched before it is sent to the
workers, so its end cannot be missed and the row need not be read first.
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
from agentflow_app.redis_client import SharedSubscriber, get_shared_subscriber
from agentflow_app.services.executions.events import END_PATTERN, end_channel
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
    execution_id: int, timeout_s: float, *, end: EndOfRun | None = None
) -> dict[str, Any] | None:
    """The execution record once the run ends, or None if ``timeout_s`` passes first.

    The caller has checked who may see the run (it queued it). Only the end matters here,
    so unlike :func:`.reading.follow` nothing is read back but the record once a terminal
    event is heard, and the row's status whenever the channel stays quiet for
    ``FOLLOW_POLL_S`` (a lost publish, Redis away).

    Args:
        end: What has watched the run since before it was sent (its ``watch`` was the
            queueing's ``on_stored``; the caller closes it): no end can have been missed.
            Without it the run is watched from now on and the row is read first, in case
            it ended already.
    """
    if end is None:
        async with EndOfRun() as end:
            end.watch(execution_id)
            return await _outcome(execution_id, timeout_s, end, read_first=True)
    return await _outcome(execution_id, timeout_s, end, read_first=False)


async def _outcome(
    execution_id: int, timeout_s: float, end: EndOfRun, *, read_first: bool
) -> dict[str, Any] | None:
    try:
        async with asyncio.timeout(timeout_s):
            # Not watched since before it was sent, it may have ended already.
            ended = await asyncio.to_thread(_ended, execution_id) if read_first else False
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


class EndOfRun:
    """One run's terminal event, heard through the loop's shared subscriber.

    Entered in the loop (``async with``: it makes sure the subscriber hears ends, and stops
    watching on the way out); :meth:`watch` may be called from the thread that queues the
    run, before it sends it.
    """

    def __init__(self) -> None:
        self._shared: SharedSubscriber | None = None
        self._channel: str | None = None
        self._lost = False
        self._wake = asyncio.Event()

    async def __aenter__(self) -> EndOfRun:
        await self.listen()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    async def listen(self) -> None:
        """Make sure the subscriber hears ends (1 s at most; at once once it does):
        whatever is published after this is heard. Without Redis, note it: the row is
        read instead."""
        try:
            if self._shared is None:
                self._shared = get_shared_subscriber(END_PATTERN)
                if self._channel is not None:
                    self._shared.add(self._channel, self._on_message)
            await self._shared.ready()
        except (AgentFlowError, RedisError, OSError) as exc:
            log.info("waiting for runs' ends without Redis for now: %s", exc)

    def watch(self, execution_id: int) -> None:
        """Listen for the end of ``execution_id`` (from any thread; once)."""
        self._channel = end_channel(execution_id)
        if self._shared is not None:
            self._shared.add(self._channel, self._on_message)

    async def heard(self, timeout: float) -> bool | None:
        """True once a terminal event is heard; None after ``timeout`` of quiet, or when
        Redis is away (then it connects again on the next call)."""
        if self._shared is None or not self._shared.confirmed:
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
            self._lost = False
            return None
        return True

    def close(self) -> None:
        if self._shared is not None and self._channel is not None:
            self._shared.remove(self._channel, self._on_message)
        self._channel = None

    def _on_message(self, data: bytes | None) -> None:
        if data is None:  # the connection was lost: read the row
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
