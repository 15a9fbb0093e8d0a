"""Waiting for a run's end on the caller's behalf: ``POST …/run`` and ``?wait=true`` webhooks.

The caller is woken by the run's terminal event (the same subscription as the live view,
with its database fallback), not by polling the row; a run that has not ended within
``timeout_s`` (or that waits for a person) is left running and the caller gets its id.
"""

from __future__ import annotations

import asyncio
from typing import Any

from agentflow_app.services.executions.reading import execution_record, follow_checked

#: Longest a caller may ask to wait (seconds); ``timeout_s`` above it is refused.
MAX_WAIT_S = 300.0
#: What ``timeout_s`` is when the caller names none.
DEFAULT_WAIT_S = 30.0


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
