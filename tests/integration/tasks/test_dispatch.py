"""A run's token, as the workers' broker receives it: the message kombu itself would send,
pushed after the run's ``execution.queued`` event is published.

No worker runs in this module (tokens stay on the list to be read); every other execution
test has a real worker take the tokens this module's code sends.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator

import pytest
import redis

from agentflow_app.services import executions, users
from tasks.config import task_default_queue as QUEUE
from tasks.dispatch import RUN_EXECUTION, enqueue_execution, oldest_waiting_token
from tests.helpers.documents import chain, node
from tests.helpers.executions import create_workflow
from tests.helpers.stack import Stack
from tests.helpers.users import PASSWORD


@pytest.fixture
def broker(stack: Stack) -> Iterator[redis.Redis]:
    """The stack's Redis with the run queue empty before and after the test."""
    client = redis.Redis.from_url(stack.redis_url)
    client.delete(QUEUE)
    yield client
    client.delete(QUEUE)


def _kombu_sends(url: str, execution_id: int) -> None:
    """What dispatch sent before it pushed tokens itself: Celery's producer, via kombu."""
    from tasks.celery_app import celery_app  # needs the stack's Redis to import

    with celery_app.connection_for_write(url) as connection:
        celery_app.send_task(
            RUN_EXECUTION,
            args=[execution_id],
            connection=connection,
            queue=QUEUE,
            ignore_result=True,
        )


def _without_ids(message: dict) -> dict:
    """A message with what differs between any two sends blanked: the task and delivery ids."""
    headers = {**message["headers"], "id": "*", "root_id": "*"}
    properties = {**message["properties"], "correlation_id": "*", "delivery_tag": "*"}
    return {**message, "headers": headers, "properties": properties}


def test_a_token_is_the_message_kombu_sends(stack: Stack, broker: redis.Redis) -> None:
    _kombu_sends(stack.redis_url, 41)
    assert enqueue_execution(41)
    ours, kombus = (json.loads(raw) for raw in broker.lrange(QUEUE, 0, -1))  # LPUSH: newest first
    assert _without_ids(ours) == _without_ids(kombus)
    assert base64.b64decode(ours["body"]) == base64.b64decode(kombus["body"])
    assert json.loads(base64.b64decode(ours["body"]))[0] == [41]
    assert (
        ours["headers"]["id"] == ours["headers"]["root_id"] == ours["properties"]["correlation_id"]
    )
    assert ours["properties"]["delivery_tag"] != kombus["properties"]["delivery_tag"]
    assert ours["headers"]["id"] != kombus["headers"]["id"]


def test_a_new_run_is_announced_before_its_token_is_queued(broker: redis.Redis) -> None:
    actor = users.create_user(f"dispatch-{secrets.token_hex(4)}@example.com", PASSWORD)
    workflow_id = create_workflow(
        actor, chain("announce", node("start", "trigger.manual"), node("out", "output", value="hi"))
    )
    listener = broker.pubsub()
    listener.psubscribe("agentflow:execution:*")
    try:
        confirmed = listener.get_message(timeout=5)
        assert confirmed is not None and confirmed["type"] == "psubscribe"
        execution_id = executions.start(actor, workflow_id, {})
        heard = listener.get_message(timeout=5)
    finally:
        listener.close()
    assert heard is not None, "the execution.queued event was not published"
    event = json.loads(heard["data"])
    assert (event["execution_id"], event["seq"], event["type"]) == (
        execution_id,
        1,
        "execution.queued",
    )
    (token,) = broker.lrange(QUEUE, 0, -1)
    assert json.loads(base64.b64decode(json.loads(token)["body"]))[0] == [execution_id]


def test_no_broker_leaves_the_run_queued_for_the_reaper(
    broker: redis.Redis, set_env, caplog: pytest.LogCaptureFixture
) -> None:
    set_env(REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens on port 1
    assert not enqueue_execution(42)
    assert "execution 42: could not queue it" in caplog.text


def test_the_oldest_waiting_token_is_found_past_other_messages(
    stack: Stack, broker: redis.Redis
) -> None:
    assert oldest_waiting_token(broker) is None
    broker.lpush(QUEUE, b"not a message")
    from tasks.celery_app import celery_app

    with celery_app.connection_for_write(stack.redis_url) as connection:
        celery_app.send_task("agentflow.maintenance", connection=connection, queue=QUEUE)
    assert oldest_waiting_token(broker) is None
    enqueue_execution(7)
    enqueue_execution(5)
    assert oldest_waiting_token(broker) == 7
