"""The shared subscriber ``/run`` waiters hear runs' ends through (``redis_client``)."""

from __future__ import annotations

import asyncio

import pytest
import redis

from agentflow_app.redis_client import get_shared_subscriber


@pytest.fixture
def redis_url(sqlite_stack) -> str:
    """A Redis of this test's own (the embedded one): the test cuts its connections."""
    return sqlite_stack.redis_url


async def test_listeners_of_one_connection_hear_their_channels_until_they_leave(redis_url):
    heard: dict[str, list[bytes | None]] = {"a1": [], "a2": [], "b": []}
    shared = get_shared_subscriber()
    await shared.subscribe("test:a", heard["a1"].append)
    await shared.subscribe("test:a", heard["a2"].append)
    await shared.subscribe("test:b", heard["b"].append)
    assert get_shared_subscriber() is shared

    # Subscribed means confirmed: what is published now is heard.
    publisher = redis.Redis.from_url(redis_url)
    assert publisher.publish("test:a", "one") == 1, "one connection carries both listeners"
    publisher.publish("test:b", "two")
    await wait_for(lambda: heard["a2"] and heard["b"])
    await shared.unsubscribe("test:a", heard["a1"].append)
    publisher.publish("test:a", "three")
    await wait_for(lambda: len(heard["a2"]) == 2)
    await shared.unsubscribe("test:a", heard["a2"].append)
    await shared.unsubscribe("test:b", heard["b"].append)

    assert heard == {"a1": [b"one"], "a2": [b"one", b"three"], "b": [b"two"]}
    await wait_for(lambda: publisher.publish("test:a", "nobody") == 0)


async def test_a_lost_connection_tells_every_listener_and_the_next_subscribe_reconnects(
    redis_url,
):
    heard: list[bytes | None] = []
    shared = get_shared_subscriber()
    await shared.subscribe("test:lost", heard.append)
    publisher = redis.Redis.from_url(redis_url)
    publisher.client_kill_filter(_type="pubsub")

    await wait_for(lambda: heard == [None])
    await shared.subscribe("test:lost", heard.append)
    publisher.publish("test:lost", "back")
    await wait_for(lambda: heard == [None, b"back"])
    await shared.unsubscribe("test:lost", heard.append)


async def wait_for(condition, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)
