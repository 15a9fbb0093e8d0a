"""Redis clients for the effective REDIS_URL (given, or the embedded server's)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
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
    """One subscriber connection per event loop, for every caller waiting on a channel.

    ``/run`` subscribed per call: redis-py's ``PubSub`` takes a connection from the pool
    and disconnects it on close, so every run cost a TCP connection to Redis, its
    handshake and its teardown, in the web process and in Redis. Here the loop's one
    connection carries every channel; a channel is subscribed while it has listeners.

    A listener is called in the loop with each message's data, and with None when the
    connection was lost: it is then no longer subscribed (subscribe again to go on).
    """

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._lock = asyncio.Lock()
        self._pubsub: aioredis.client.PubSub | None = None
        self._reader: asyncio.Task | None = None
        self._listeners: dict[bytes, set[Callable[[bytes | None], None]]] = {}
        #: Per subscribed channel: resolved once Redis has confirmed the subscription.
        self._confirmed: dict[bytes, asyncio.Future] = {}

    async def subscribe(
        self, name: str, listener: Callable[[bytes | None], None], timeout: float = 1.0
    ) -> None:
        """Call ``listener`` with the messages of channel ``name``.

        Returns once Redis has registered the subscription (whatever is published after
        this reaches the listener), or after ``timeout`` without its answer.

        Raises:
            RedisError, OSError: Redis is away (the listener is not subscribed).
        """
        key = name.encode()
        listeners = self._listeners.setdefault(key, set())
        listeners.add(listener)
        if key not in self._confirmed:
            self._confirmed[key] = asyncio.get_running_loop().create_future()
            try:
                pubsub = await self._connected()
                await pubsub.subscribe(key)
            except BaseException:
                self._forget(key, listener)
                raise
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await asyncio.shield(self._confirmed[key])

    async def unsubscribe(self, name: str, listener: Callable[[bytes | None], None]) -> None:
        key = name.encode()
        if not self._forget(key, listener) or self._pubsub is None:
            return
        try:
            await self._pubsub.unsubscribe(key)
        except (redis.RedisError, OSError) as exc:  # the reader sees the loss too
            log.debug("unsubscribing from %s: %s", name, exc)

    def _forget(self, key: bytes, listener: Callable[[bytes | None], None]) -> bool:
        """Drop ``listener``; whether it was the channel's last one."""
        listeners = self._listeners.get(key)
        if listeners is None:
            return False
        listeners.discard(listener)
        if listeners:
            return False
        del self._listeners[key]
        confirmed = self._confirmed.pop(key, None)
        if confirmed is not None and not confirmed.done():
            confirmed.cancel()
        return True

    async def _connected(self) -> aioredis.client.PubSub:
        async with self._lock:
            if self._pubsub is None:
                pubsub = self._client.pubsub()
                await pubsub.connect()
                self._pubsub = pubsub
                self._reader = asyncio.create_task(self._read(pubsub))
            return self._pubsub

    async def _read(self, pubsub: aioredis.client.PubSub) -> None:
        try:
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                key = message["channel"]
                if message["type"] == "message":
                    for listener in tuple(self._listeners.get(key, ())):
                        listener(message["data"])
                elif message["type"] == "subscribe":
                    confirmed = self._confirmed.get(key)
                    if confirmed is not None and not confirmed.done():
                        confirmed.set_result(None)
        except Exception as exc:  # Redis went away (or the connection broke): start afresh
            log.info("the shared Redis subscriber lost its connection: %s", exc)
        finally:
            await self._lost(pubsub)

    async def _lost(self, pubsub: aioredis.client.PubSub) -> None:
        """Tell every listener the connection is gone, and start afresh next time."""
        if self._pubsub is pubsub:
            self._pubsub = self._reader = None
            listeners, self._listeners = self._listeners, {}
            confirmed, self._confirmed = self._confirmed, {}
            for future in confirmed.values():
                if not future.done():
                    future.set_result(None)
            for listener in {one for channel in listeners.values() for one in channel}:
                listener(None)
        with contextlib.suppress(redis.RedisError, OSError):
            await pubsub.aclose()


#: The shared subscriber of each event loop, by URL.
_subscribers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, SharedSubscriber]]
_subscribers = weakref.WeakKeyDictionary()


def get_shared_subscriber() -> SharedSubscriber:
    """The running loop's :class:`SharedSubscriber` (on :func:`get_async_redis`'s client)."""
    subscribers = _subscribers.setdefault(asyncio.get_running_loop(), {})
    url = redis_url()
    subscriber = subscribers.get(url)
    if subscriber is None:
        subscriber = subscribers[url] = SharedSubscriber(get_async_redis())
    return subscriber
