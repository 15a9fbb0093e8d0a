"""A worker process's runs: one event loop on a thread of its own, several runs at once.

A pool process used to run one execution at a time: the task ran it to its end and only
then did Celery hand the process its next message. A run mostly waits (on its LLM, the
database, a tool), so the process sat idle most of the time; a worker of 4 processes held
4 runs whose LLM calls take seconds. Now the task claims its execution, hands it to this
loop and returns once the process has room for another run, and Celery fetches the next
message while the run goes on (a process whose slots are full looks busy to Celery, so
a message never waits there for a slot while another process has one).
``AGENTFLOW_RUNS_PER_PROCESS`` sets the slots.

The message is acknowledged while its run goes on. That loses nothing: from its
claim on, a run is kept by its lease, not by its message (a redelivered message finds the
run claimed and does nothing); a process that dies stops renewing the leases of its runs
and the reaper gives them back. A process that stops on purpose (a warm shutdown, a pool
child replaced) first lets its runs end: :func:`drain` runs on its way out.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

log = logging.getLogger(__name__)


class RunLoop:
    """The event loop a process's runs share, and the slots that bound them."""

    def __init__(self, slots: int) -> None:
        self._slots = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0
        self._running: set[concurrent.futures.Future] = set()

    @contextlib.contextmanager
    def slot(self) -> Iterator[Callable[[Coroutine[Any, Any, None]], None]]:
        """A slot for a run about to be claimed (one is free: see :meth:`wait_for_room`),
        and the function that starts the run on the loop with it; given back at once
        unless a run was started."""
        self._slots.acquire()
        started = False

        def start(coro: Coroutine[Any, Any, None]) -> None:
            nonlocal started
            future = asyncio.run_coroutine_threadsafe(coro, self._running_loop())
            started = True
            with self._lock:
                self._running.add(future)
            future.add_done_callback(self._ended)  # gives the slot back

        try:
            yield start
        finally:
            if not started:
                self._slots.release()

    def wait_for_room(self) -> None:
        """Block until another run could start here.

        The task calls this last: while a process's slots are full it looks busy to
        Celery, which then hands the next message to a process (or a worker) with room,
        instead of to one where its run would wait for a slot."""
        self._slots.acquire()
        self._slots.release()

    def drain(self) -> None:
        """Wait for this process's runs to end (a worker stopping on purpose; one that
        is killed leaves them to the reaper)."""
        with self._lock:
            running = list(self._running)
        if running:
            log.info("waiting for %d run(s) to end before this process exits", len(running))
            concurrent.futures.wait(running)

    def _ended(self, future: concurrent.futures.Future) -> None:
        with self._lock:
            self._running.discard(future)
        self._slots.release()
        if not future.cancelled() and (exc := future.exception()) is not None:
            log.error("a run ended on an error it did not record: %r", exc)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                self._loop, self._pid = _new_loop(), os.getpid()
                threading.Thread(
                    target=self._loop.run_forever, name="agentflow-runs", daemon=True
                ).start()
            return self._loop


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop's where installed (not on Windows): its scheduling and sockets cost a run's
    steps, database calls and LLM stream less CPU than asyncio's pure-Python loop."""
    try:
        import uvloop
    except ImportError:  # Windows: uvloop does not build there
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()
