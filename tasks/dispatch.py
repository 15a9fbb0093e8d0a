"""Sending work to the workers: the only module the web side imports from ``tasks``.

The broker URL is looked up on every call (it is the effective ``REDIS_URL``, which may be
the embedded server's), and connections are pooled per URL. Celery is imported lazily, so
importing this module never needs a broker.

A message that cannot be sent is not an error for the caller: the execution is already
stored as ``queued`` and the reaper (``tasks.maintenance``) sends it again.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from agentflow_app.observability import tracing
from agentflow_app.redis_client import redis_url

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger(__name__)

RUN_EXECUTION = "agentflow.executions.run"
#: Producer connections kept per broker URL (the web server sends from several threads).
POOL_LIMIT = 16


def _app() -> Celery:
    from tasks.celery_app import celery_app

    return celery_app


@lru_cache(maxsize=4)
def _pool(url: str) -> Any:
    """A connection pool to ``url``, with the task queue declared once."""
    app = _app()
    pool = app.connection_for_write(url).Pool(limit=POOL_LIMIT)
    with pool.acquire(block=True) as connection:
        for queue in app.amqp.queues.values():
            queue(connection.default_channel).declare()
    return pool


def enqueue_execution(execution_id: int) -> bool:
    """Ask a worker to run execution ``execution_id`` (it claims the row before working).

    Returns:
        Whether the message reached the broker; when it did not, the execution stays
        ``queued`` and the reaper re-sends it.
    """
    try:
        app = _app()  # raises ConfigError where no broker is set up (``agentflow run``)
        url = redis_url()
        with _pool(url).acquire(block=True, timeout=10) as connection:
            app.send_task(
                RUN_EXECUTION,
                args=[int(execution_id)],
                connection=connection,
                queue=app.conf.task_default_queue,
                ignore_result=True,
                headers=tracing.task_headers(execution_id),
                retry_policy={"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2},
            )
    except Exception as exc:  # the broker is away: the reaper re-sends
        log.warning("execution %s: could not queue it (%s); the reaper will", execution_id, exc)
        return False
    return True
