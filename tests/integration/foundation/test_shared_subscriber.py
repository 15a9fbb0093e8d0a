"""The shared subscriber ``/run`` waiters hear runs' ends through (``redis_client``)."""

from __future__ import annotations

import asyncio
import threading

import pytest
import redis

from agentflow_app.redis_client import get_shared_subscriber


@pytest.fixture
def redis_url(sqlite_stack) -> str:
    """A Redis of this test's own (the embedded one): the test cuts its connections."""
    return sqlite_stack.redis_url


async def test_listeners_of_one_connection_hear_their_channels_until_they_leave(redis_url):
    heard: dict[str, list[bytes | None]] = {"a1": [], "a2": [], "b": []}
    shared = get_shared_subscriber("test:*")
    await shared.ready()
    assert shared.confirmed
    assert get_shared_subscriber("test:*") is shared
    assert get_shared_subscriber("other:*") is not shared
    shared.add("test:a", heard["a1"].append)
    # Added from another thread, as the thread queueing a run does before it sends it.
    adding = threading.Thread(target=shared.add, args=("test:a", heard["a2"].append))
    adding.start()
    adding.join()
    shared.add("test:b", heard["b"].append)

    # Ready means confirmed: what is published now is heard, by one pattern subscription.
    publisher = redis.Redis.from_url(redis_url)
    assert publisher.publish("test:a", "one") == 1, "one connection carries every listener"
    publisher.publish("test:b", "two")
    publisher.publish("test:nobody", "unheard")
    await wait_for(lambda: heard["a2"] and heard["b"])
    shared.remove("test:a", heard["a1"].append)
    publisher.publish("test:a", "three")
    await wait_for(lambda: len(heard["a2"]) == 2)
    shared.remove("test:a", heard["a2"].append)
    shared.remove("test:b", heard["b"].append)
    publisher.publish("test:a", "gone")
    publisher.publish("test:b", "gone")
    shared.add("test:last", heard["b"].append)
    publisher.publish("test:last", "four")
    await wait_for(lambda: len(heard["b"]) == 2)

    assert heard == {"a1": [b"one"], "a2": [b"one", b"three"], "b": [b"two", b"four"]}
    assert publisher.execute_command("PUBSUB", "NUMPAT") == 1


async def test_a_lost_connection_tells_every_listener_and_ready_reconnects(redis_url):
    heard: list[bytes | None] = []
    shared = get_shared_subscriber("test:*")
    await shared.ready()
    shared.add("test:lost", heard.append)
    publisher = redis.Redis.from_url(redis_url)
    publisher.client_kill_filter(_type="pubsub")

    await wait_for(lambda: heard == [None])
    assert not shared.confirmed
    await shared.ready()  # the listener stays registered across the loss
    publisher.publish("test:lost", "back")
    await wait_for(lambda: heard == [None, b"back"])
    shared.remove("test:lost", heard.append)


async def wait_for(condition, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)
