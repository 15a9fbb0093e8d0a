"""Waiting for a run's end on the caller's behalf: ``POST …/run`` and ``?wait=true`` webhooks.

The caller is woken by the run's terminal event (the same subscription as the live view,
with its database fallback), not by polling the row; a run that has not ended within
``timeout_s`` (or that waits for a person) is left running and the caller gets its id.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import select

from agentflow_app.db import get_engine
from agentflow_app.engine.events import EventType
from agentflow_app.engine.status import ExecutionStatus
from agentflow_app.services.executions import waits
from agentflow_app.services.executions.reading import FOLLOW_POLL_S, execution_record
from agentflow_app.services.executions.rows import EXECUTIONS
from agentflow_app.services.executions.subscription import Subscription
from agentflow_app.settings import get_settings

#: What ``timeout_s`` is when the caller names none (or the maximum, if lower).
DEFAULT_WAIT_S = 30.0
_ENDS = {str(type) for type in EventType if type.terminal}


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
    subscription = Subscription(execution_id)
    sent = not send
    try:
        await subscription.open()
        if send:
            await subscription.confirmed()
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
                ended = await _end_heard(subscription)
                if ended is None:  # quiet, or Redis is away: the row says
                    ended = await asyncio.to_thread(_ended, execution_id)
    except TimeoutError:
        return None
    finally:
        if not sent:  # cancelled before it was sent: it must run all the same
            waits.send([execution_id])
        await subscription.close()


async def _end_heard(subscription: Subscription) -> bool | None:
    """True once a terminal event is heard; None after ``FOLLOW_POLL_S`` of quiet."""
    while True:
        message = await subscription.next(FOLLOW_POLL_S)
        if message is None:
            return None
        try:
            if json.loads(message["data"]).get("type") in _ENDS:
                return True
        except (ValueError, AttributeError):
            continue  # not an event: the row is read on the next quiet spell


def _ended(execution_id: int) -> bool:
    with get_engine().connect() as conn:
        status = conn.execute(
            select(EXECUTIONS.c.status).where(EXECUTIONS.c.id == execution_id)
        ).scalar_one()
    return ExecutionStatus(status).finished
