"""Work that every worker process repeats on a timer: one helper for all of it.

Three things run this way: the reaper and the scheduler (:mod:`tasks.maintenance`), which
must run once per period across the whole deployment, and the worker's liveness key
(:mod:`tasks.liveness`), which every worker writes for itself. :func:`every_worker` is the
thread each worker's main process runs from ``worker_ready`` to ``worker_shutdown``;
:func:`singleton` adds a short Redis lock, so that however many workers (and celery beat,
which sends the same work as a task) run it, it runs about once a period. Everything the
singletons change is a compare-and-set, so an overlap would be harmless anyway.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from celery.signals import worker_ready, worker_shutdown

from agentflow_app.redis_client import get_redis
from tasks.celery_app import celery_app

log = logging.getLogger(__name__)

T = TypeVar("T")


def every_worker(
    name: str, period_s: float, work: Callable[[str], object], *, first_at_once: bool = False
) -> None:
    """Run ``work(hostname)`` every ``period_s`` on a thread of each worker's main process.

    An exception is logged and the next period tries again (the database or Redis may be
    away a moment).
    """
    stop = threading.Event()

    def loop(hostname: str) -> None:
        if first_at_once:
            _guarded(name, work, hostname)
        while not stop.wait(period_s):
            _guarded(name, work, hostname)

    def start(sender=None, **_kwargs) -> None:
        stop.clear()
        hostname = getattr(sender, "hostname", None) or "worker"
        threading.Thread(
            target=loop, args=(hostname,), name=f"agentflow-{name}", daemon=True
        ).start()

    def end(**_kwargs) -> None:
        stop.set()

    worker_ready.connect(start, weak=False)
    worker_shutdown.connect(end, weak=False)


def singleton(
    name: str, task_name: str, period_s: float, lock_key: str, work: Callable[[], T]
) -> Callable[[], T | None]:
    """Run ``work`` about once per ``period_s`` across every worker and celery beat.

    Returns:
        ``once()``: runs ``work`` unless another process ran it within the period (then
        None); the worker threads and the beat task both call it.
    """

    def once() -> T | None:
        lock_ttl_ms = int(period_s * 1000 * 0.8)
        if not get_redis().set(lock_key, "1", nx=True, px=lock_ttl_ms):
            return None
        return work()

    def beat_task() -> None:
        once()

    task = celery_app.task(name=task_name, ignore_result=True, acks_late=False)(beat_task)

    def schedule(sender, **_kwargs) -> None:
        sender.add_periodic_task(period_s, task.s(), name=name)

    celery_app.on_after_finalize.connect(schedule, weak=False)
    every_worker(name, period_s, lambda _hostname: once())
    return once


def _guarded(name: str, work: Callable[[str], object], hostname: str) -> None:
    try:
        work(hostname)
    except Exception as exc:
        log.warning("%s: %s", name, exc)
