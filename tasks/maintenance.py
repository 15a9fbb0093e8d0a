"""The reaper, run on a timer by every worker and periodically by celery beat.

``services.executions.reap`` does the work (stale runs queued again to resume or failed,
queued runs nobody picked up sent again). Every worker's main process runs it every
``REAP_EVERY_S`` on a thread, so a lone ``agentflow serve`` (no beat) recovers a run whose
worker was killed within about ``STALE_S + REAP_EVERY_S`` seconds; deployments with
``agentflow worker --beat`` get the same from the schedule. A short Redis lock keeps it to
one reaper at a time across all of them; everything it changes is a compare-and-set, so
overlapping runs would be harmless anyway.
"""

from __future__ import annotations

import logging
import threading

from celery.signals import worker_ready, worker_shutdown

from agentflow_app.redis_client import get_redis
from agentflow_app.services import executions
from tasks.celery_app import celery_app

log = logging.getLogger(__name__)

REAP = "agentflow.maintenance.reap"
LOCK_KEY = "agentflow:reaper:lock"

_stop = threading.Event()


def reap_once() -> executions.ReapReport | None:
    """Run the reaper unless another process ran it within the last period.

    Returns:
        What it did, or None when another reaper holds the lock.
    """
    lock_ttl_ms = int(executions.REAP_EVERY_S * 1000 * 0.8)
    if not get_redis().set(LOCK_KEY, "1", nx=True, px=lock_ttl_ms):
        return None
    return executions.reap()


@celery_app.task(name=REAP, ignore_result=True, acks_late=False)
def reap() -> None:
    """The scheduled reaper (celery beat)."""
    reap_once()


@celery_app.on_after_finalize.connect
def _schedule(sender, **_kwargs) -> None:
    sender.add_periodic_task(executions.REAP_EVERY_S, reap.s(), name="reap executions")


def _timer() -> None:
    while not _stop.wait(executions.REAP_EVERY_S):
        try:
            reap_once()
        except Exception as exc:  # the database or Redis is away a moment: next period
            log.warning("reaper: %s", exc)


@worker_ready.connect
def _start_timer(**_kwargs) -> None:
    _stop.clear()
    threading.Thread(target=_timer, name="agentflow-reaper", daemon=True).start()


@worker_shutdown.connect
def _stop_timer(**_kwargs) -> None:
    _stop.set()
