"""Waiting for a run's end on the caller's behalf: ``POST …/run`` and ``?wait=true`` webhooks.

The caller is woken by the run's terminal event (the same subscription as the live view,
with its database fallback), not by polling the row; a run that has not ended within
``timeout_s`` (or that waits for a person) is left running and the caller gets its id.
"""

from __future__ import annotations

import asyncio
from typing import Any

from agentflow_app.services.executions.reading import execution_record, follow_checked
from agentflow_app.settings import get_settings

#: What ``timeout_s`` is when the caller names none (or the maximum, if lower).
DEFAULT_WAIT_S = 30.0


def max_wait_s() -> float:
    """Longest a caller may ask to wait (``AGENTFLOW_RUN_WAIT_MAX_S``); more is refused."""
    return get_settings().agentflow_run_wait_max_s


def default_wait_s() -> float:
    return min(DEFAULT_WAIT_S, max_wait_s())


async def outcome(execution_id: int, timeout_s: float) -> dict[str, Any] | None:
    """The execution record once the run ends, or None if ``timeout_s`` passes first.

    The caller has checked who may see the run (it queued it).
    """
    try:
        async with asyncio.timeout(timeout_s):
            async for event in follow_checked(execution_id, 0):
                if event.type.terminal:
                    break
    except TimeoutError:
        return None
    record = await asyncio.to_thread(execution_record, execution_id)
    return record if record["status"] in ("succeeded", "failed", "cancelled") else None
