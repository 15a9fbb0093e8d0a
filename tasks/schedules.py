"""The scheduler: fires due ``trigger.schedule`` workflows, on every worker and by beat.

``services.schedules.fire_due`` does the work. Like the reaper (``tasks.maintenance``),
every worker's main process runs it every ``TICK_S`` on a thread, so a lone
``agentflow serve`` (no beat) fires schedules too, and ``agentflow worker --beat`` sends
it on the same period. A short Redis lock keeps it to one tick at a time across all of
them; firing itself is a compare-and-set per fire time, so overlapping ticks would still
queue each run once.
"""

from __future__ import annotations

import logging
import threading

from celery.signals import worker_ready, worker_shutdown

from agentflow_app.redis_client import get_redis
from agentflow_app.services import schedules
from tasks.celery_app import celery_app

log = logging.getLogger(__name__)

TICK = "agentflow.schedules.tick"
LOCK_KEY = "agentflow:scheduler:lock"

_stop = threading.Event()


def tick_once() -> list[int] | None:
    """Fire due schedules unless another process ticked within the last period.

    Returns:
        The executions queued, or None when another scheduler holds the lock.
    """
    lock_ttl_ms = int(schedules.TICK_S * 1000 * 0.8)
    if not get_redis().set(LOCK_KEY, "1", nx=True, px=lock_ttl_ms):
        return None
    return schedules.fire_due()


@celery_app.task(name=TICK, ignore_result=True, acks_late=False)
def tick() -> None:
    """The scheduled tick (celery beat)."""
    tick_once()


@celery_app.on_after_finalize.connect
def _schedule(sender, **_kwargs) -> None:
    sender.add_periodic_task(schedules.TICK_S, tick.s(), name="fire schedules")


def _timer() -> None:
    while not _stop.wait(schedules.TICK_S):
        try:
            tick_once()
        except Exception as exc:  # the database or Redis is away a moment: next period
            log.warning("scheduler: %s", exc)


@worker_ready.connect
def _start_timer(**_kwargs) -> None:
    _stop.clear()
    threading.Thread(target=_timer, name="agentflow-scheduler", daemon=True).start()


@worker_shutdown.connect
def _stop_timer(**_kwargs) -> None:
    _stop.set()
