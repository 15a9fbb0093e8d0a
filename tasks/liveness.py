"""Worker liveness in Redis: what /api/health counts.

Each worker process refreshes ``agentflow:worker:<hostname>`` every few seconds with a TTL
a little longer than that, so a SIGKILLed worker disappears by itself. (A run's own lease
on its ``executions`` row is another thing: ``services.executions.lifecycle``.)
"""

from __future__ import annotations

import contextlib

from celery.signals import worker_shutdown

from agentflow_app.redis_client import WORKER_KEY_PREFIX, get_redis
from tasks.periodic import every_worker

INTERVAL_S = 3
TTL_S = 10


def _alive(hostname: str) -> None:
    get_redis().set(f"{WORKER_KEY_PREFIX}{hostname}", "alive", ex=TTL_S)


every_worker("liveness", INTERVAL_S, _alive, first_at_once=True)


@worker_shutdown.connect
def _gone(sender=None, **_kwargs) -> None:
    if sender is not None:
        with contextlib.suppress(Exception):
            get_redis().delete(f"{WORKER_KEY_PREFIX}{sender.hostname}")
