"""Sending work to the workers: the only module the web side imports from ``tasks``.

A run's token is Celery's task message, pushed on the queue's Redis list with the
process's own Redis client (the effective ``REDIS_URL``, which may be the embedded
server's), in one round trip with the run's events that must precede it. kombu's producer
built a broker connection, a Redis client, a retry wrapper and the queue's binding for
every message: 0.39 ms of CPU where the push itself costs 0.06, a tenth of the web
process's work per ``POST /run``. The message is Celery's own (``as_task_v2``); the
envelope around it is kombu's Redis transport format (:func:`task_message`), which
``tests/integration/tasks/test_dispatch.py`` compares with what kombu itself sends (every
execution test has a real worker take the tokens).

A message that cannot be sent is not an error for the caller: the execution is already
stored as ``queued`` and the reaper (``tasks.maintenance``) sends it again.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from agentflow_app.observability import tracing
from agentflow_app.redis_client import get_redis

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger(__name__)

RUN_EXECUTION = "agentflow.executions.run"


def _app() -> Celery:
    from tasks.celery_app import celery_app

    return celery_app


@lru_cache(maxsize=1)
def _queue() -> str:
    """The run queue's name, and its Redis list's: kombu keys a message of priority 0 by the
    queue's name when no key prefix is configured (``tasks.config`` sets none)."""
    return _app().conf.task_default_queue


def task_message(execution_id: int) -> str:
    """The Redis list entry that has a worker run ``agentflow.executions.run(execution_id)``.

    Celery builds the task message (headers and body, protocol 2); this wraps it as kombu's
    Redis transport does a message published to the default exchange with the queue's
    name as routing key: JSON body, base64 in the envelope, persistent, priority 0, a
    fresh delivery tag (the key of the worker's unacknowledged-message bookkeeping).
    """
    app, task_id = _app(), str(uuid.uuid4())
    message = app.amqp.as_task_v2(
        task_id, RUN_EXECUTION, args=[int(execution_id)], ignore_result=True,
        reply_to=app.thread_oid,
    )  # fmt: skip
    body = json.dumps(message.body).encode()
    return json.dumps(
        {
            "body": base64.b64encode(body).decode(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {**message.headers, **tracing.task_headers(execution_id)},
            "properties": {
                **message.properties,
                "delivery_mode": 2,
                "delivery_info": {"exchange": "", "routing_key": _queue()},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": str(uuid.uuid4()),
            },
        }
    )


def enqueue_execution(execution_id: int, *, events: Sequence[dict[str, Any]] = ()) -> bool:
    """Ask a worker to run execution ``execution_id`` (it claims the row before working).

    Args:
        events: Stored events of the run to publish first, in the same round trip (a new
            run's ``execution.queued``): no worker holds the token before they are
            published, so none of its events can overtake them.

    Returns:
        Whether the message reached the broker; when it did not, the execution stays
        ``queued`` and the reaper re-sends it (and its events are stored: viewers read
        them back).
    """
    # services.executions imports this module: its publisher is imported when first used.
    from agentflow_app.services.executions.events import publish_in

    try:
        client = get_redis()  # raises ConfigError where no broker is set up
        with client.pipeline(transaction=False) as pipe:
            publish_in(pipe, events)
            pipe.lpush(_queue(), task_message(execution_id))
            pipe.execute()
    except Exception as exc:  # the broker is away: the reaper re-sends
        log.warning("execution %s: could not queue it (%s); the reaper will", execution_id, exc)
        return False
    return True


#: How many of the queue's oldest messages :func:`oldest_waiting_token` looks through for a
#: run's token (other tasks, the periodic ones, share the queue).
TOKENS_LOOKED_AT = 50


def oldest_waiting_token(client: Any) -> int | None:
    """The execution id of the oldest run token still waiting in the queue, if any.

    Workers pop the list's far end (LPUSH, then BRPOP), so its last entries are the oldest
    messages. The reaper gives fresh tokens only to runs older than this one: a run
    queued after it still has its token waiting behind it, in a backlog, which the
    nudge used to double (a token per queued run, every nudge, each a delivery and a
    claim that found nothing left).

    Raises:
        redis.RedisError: the broker cannot be read.
    """
    for raw in reversed(client.lrange(_queue(), -TOKENS_LOOKED_AT, -1)):
        try:
            message = json.loads(raw)
            if message["headers"]["task"] != RUN_EXECUTION:
                continue
            args = json.loads(base64.b64decode(message["body"]))[0]
        except (ValueError, KeyError, TypeError, IndexError):
            continue  # not a message of ours: another sender, another format
        if args and isinstance(args[0], int):
            return args[0]
    return None
