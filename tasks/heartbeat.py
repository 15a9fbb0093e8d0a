"""Worker heartbeats in Redis: what /api/health counts and the reaper trusts.

Each worker process refreshes ``agentflow:worker:<hostname>`` every few seconds with a TTL
a little longer than that, so a SIGKILLed worker disappears by itself.
"""

from __future__ import annotations

import contextlib
import threading

from celery.signals import worker_ready, worker_shutdown

from agentflow_app.redis_client import WORKER_KEY_PREFIX, get_redis

INTERVAL_S = 3
TTL_S = 10

_stop = threading.Event()


def _beat(hostname: str) -> None:
    key = f"{WORKER_KEY_PREFIX}{hostname}"
    while not _stop.is_set():
        with contextlib.suppress(Exception):  # Redis away a moment: the next beat retries
            get_redis().set(key, "alive", ex=TTL_S)
        _stop.wait(INTERVAL_S)


@worker_ready.connect
def _start(sender=None, **_kwargs) -> None:
    hostname = sender.hostname if sender is not None else "worker"
    threading.Thread(
        target=_beat, args=(hostname,), name="agentflow-heartbeat", daemon=True
    ).start()


@worker_shutdown.connect
def _stop_beating(sender=None, **_kwargs) -> None:
    _stop.set()
    if sender is not None:
        with contextlib.suppress(Exception):
            get_redis().delete(f"{WORKER_KEY_PREFIX}{sender.hostname}")
