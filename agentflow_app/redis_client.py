"""Redis clients for the effective REDIS_URL (given, or the embedded server's)."""

from __future__ import annotations

import asyncio
import logging
import weakref
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
