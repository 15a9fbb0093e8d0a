"""The execution store's database threads ("lanes").

The store's database calls are synchronous; each runs on one of a few threads of the
process, fed by a queue, and answers on the caller's event loop. An execution always uses
the same lane, so its writes (and what follows each, its events' publication) stay in
order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class Lane:
    """A thread that runs one store's database calls in order and answers on its loop.

    A dedicated thread fed by a queue wakes faster than ``run_in_executor`` (no
    ``concurrent.futures`` bookkeeping), which is measurable at two calls per step.
    ``then`` runs on the thread once the answer is on its way, before the next call: what
    must follow a call in order but need not be waited for (publishing committed events).
    """

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def call(
        self,
        function: Callable[..., Any],
        *args: Any,
        then: Callable[[], None] | None = None,
    ) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put((function, args, then, loop, future))
        return future

    def _serve(self) -> None:
        while True:
            function, args, then, loop, future = self._queue.get()
            try:
                result, error = function(*args), None
            except BaseException as exc:
                result, error = None, exc
            # A loop that closed while we worked has nobody waiting for the answer.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future, result, error)
            if then is not None:
                try:
                    then()
                except Exception:  # the lane serves every store of the process: keep it
                    log.exception("a store's follow-up on its database thread failed")


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


#: Database threads shared by every store of the process; an execution always uses the
#: same one, so its writes stay in order. Few, because SQLite has one writer anyway and
#: PostgreSQL connections are budgeted by the pool.
_LANE_COUNT = 4


_lanes: list[Lane] = []


_lanes_lock = threading.Lock()


def lane_for(execution_id: int) -> Lane:
    """The lane of ``execution_id``: the same one for every store of the execution."""
    with _lanes_lock:
        if not _lanes:
            _lanes.extend(Lane(f"agentflow-store-{i}") for i in range(_LANE_COUNT))
    return _lanes[hash(execution_id) % _LANE_COUNT]
