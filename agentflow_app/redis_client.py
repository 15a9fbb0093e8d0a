"""Redis clients for the effective REDIS_URL (given, or the embedded server's)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import weakref
from collections.abc import Callable
from functools import lru_cache

import redis
import redis.asyncio as aioredis

from agentflow_app.errors import ConfigError
from agentflow_app.settings import get_settings

log = logging.getLogger(__name__)

#: Key prefix of worker heartbeats: ``agentflow:worker:<hostname>`` with a short TTL.
WORKER_KEY_PREFIX = "agentflow:worker:"


def redis_url() -> str:
    url = get_settings().effective_redis_url()
    if url is None:
        raise ConfigError("no Redis: set REDIS_URL, or run `agentflow serve` (embedded Redis)")
    return url


@lru_cache(maxsize=4)
def _sync_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)


def get_redis() -> redis.Redis:
    return _sync_client(redis_url())


def redis_or_none() -> redis.Redis | None:
    """The Redis client, or None when none is configured: events are stored anyway, and
    followers read the database when nothing is published."""
    try:
        return get_redis()
    except ConfigError as exc:
        log.debug("no Redis to publish on: %s", exc)
        return None


#: The asyncio clients of each event loop (clients are bound to their loop), by URL.
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, aioredis.Redis]]
_async_clients = weakref.WeakKeyDictionary()


def get_async_redis() -> aioredis.Redis:
    """The running loop's asyncio client, made once per loop and URL.

    Its connection pool is kept: a new client per subscription built a connection object
    each time, and redis-py reads its own package metadata for every one (about a third of
    the web process's Redis work on ``/run``). Do not close it; close what you take from it.
    """
    url = redis_url()
    clients = _async_clients.setdefault(asyncio.get_running_loop(), {})
    client = clients.get(url)
    if client is None:
        client = clients[url] = aioredis.Redis.from_url(
            url, socket_connect_timeout=1, socket_timeout=5
        )
    return client


class SharedSubscriber:
    """One connection per event loop, subscribed once to a family of channels, for every
    caller waiting on one of them.

    ``/run`` first subscribed per call (a TCP connection to Redis per run), then per
    channel on a shared connection: still a ``SUBSCRIBE`` and an ``UNSUBSCRIBE`` per run,
    their two confirmations to read, and a round trip before the run could be sent. Here
    the connection subscribes to the family's pattern once (``PSUBSCRIBE``), and a caller
    only adds itself to a dict: no Redis command per call, and it can do so from any
    thread, so a run's end is watched before the thread that queues the run sends it.
    Every end in the family reaches the process; one nobody waits on costs a dict lookup.

    A listener is called in the loop with each message's data, and with None when the
    connection was lost (it stays registered: :meth:`ready` reconnects, and whatever was
    published meanwhile was missed, so read the source of truth after a None).
    """

    def __init__(self, client: aioredis.Redis, pattern: str) -> None:
        self._client = client
        self._pattern = pattern.encode()
        self._lock = asyncio.Lock()
        self._pubsub: aioredis.client.PubSub | None = None
        self._reader: asyncio.Task | None = None
        #: Resolved once Redis has confirmed the pattern on the current connection.
        self._confirmed: asyncio.Future | None = None
        self._listeners: dict[bytes, set[Callable[[bytes | None], None]]] = {}
        self._guard = threading.Lock()  # ``add``/``remove`` may come from other threads

    @property
    def confirmed(self) -> bool:
        """Whether what is published now on the family is heard."""
        return self._confirmed is not None and self._confirmed.done()

    async def ready(self, timeout: float = 1.0) -> None:
        """Connect and subscribe to the pattern if not yet done; returns at once when
        confirmed, else once Redis has confirmed it or after ``timeout`` without its answer.

        Raises:
            RedisError, OSError: Redis is away.
        """
        if self.confirmed:
            return
        confirmed = await self._connected()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await asyncio.shield(confirmed)

    def add(self, channel: str, listener: Callable[[bytes | None], None]) -> None:
        """Call ``listener`` with the messages of ``channel`` (one of the pattern's)."""
        with self._guard:
            self._listeners.setdefault(channel.encode(), set()).add(listener)

    def remove(self, channel: str, listener: Callable[[bytes | None], None]) -> None:
        with self._guard:
            key = channel.encode()
            listeners = self._listeners.get(key)
            if listeners is not None:
                listeners.discard(listener)
                if not listeners:
                    del self._listeners[key]

    def _of(self, key: bytes | None) -> tuple[Callable[[bytes | None], None], ...]:
        with self._guard:
            if key is None:
                return tuple({one for channel in self._listeners.values() for one in channel})
            return tuple(self._listeners.get(key, ()))

    async def _connected(self) -> asyncio.Future:
        async with self._lock:
            if self._pubsub is None:
                pubsub = self._client.pubsub()
                self._confirmed = asyncio.get_running_loop().create_future()
                try:
                    await pubsub.psubscribe(self._pattern)
                except BaseException:
                    self._confirmed = None
                    with contextlib.suppress(redis.RedisError, OSError):
                        await pubsub.aclose()
                    raise
                self._pubsub = pubsub
                self._reader = asyncio.create_task(self._read(pubsub, self._confirmed))
            return self._confirmed

    async def _read(self, pubsub: aioredis.client.PubSub, confirmed: asyncio.Future) -> None:
        try:
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                if message["type"] == "pmessage":
                    for listener in self._of(message["channel"]):
                        listener(message["data"])
                elif message["type"] == "psubscribe" and not confirmed.done():
                    confirmed.set_result(None)
        except Exception as exc:  # Redis went away (or the connection broke): start afresh
            log.info("the shared Redis subscriber lost its connection: %s", exc)
        finally:
            await self._lost(pubsub)

    async def _lost(self, pubsub: aioredis.client.PubSub) -> None:
        """Tell every listener the connection is gone, and reconnect on the next ready()."""
        if self._pubsub is pubsub:
            self._pubsub = self._reader = None
            if self._confirmed is not None and not self._confirmed.done():
                self._confirmed.set_result(None)  # nobody waits on a dead connection
            self._confirmed = None
            for listener in self._of(None):
                listener(None)
        with contextlib.suppress(redis.RedisError, OSError):
            await pubsub.aclose()


#: The shared subscribers of each event loop, by URL and pattern.
_subscribers: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[str, str], SharedSubscriber]
]
_subscribers = weakref.WeakKeyDictionary()


def get_shared_subscriber(pattern: str) -> SharedSubscriber:
    """The running loop's :class:`SharedSubscriber` of ``pattern`` (a ``PSUBSCRIBE``
    pattern, on :func:`get_async_redis`'s client)."""
    subscribers = _subscribers.setdefault(asyncio.get_running_loop(), {})
    key = (redis_url(), pattern)
    subscriber = subscribers.get(key)
    if subscriber is None:
        subscriber = subscribers[key] = SharedSubscriber(get_async_redis(), pattern)
    return subscriber
