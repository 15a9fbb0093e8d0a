"""Who a bearer token is, remembered per process until anything that could change it happens.

Every REST request asked the database who its token belongs to (a pool checkout, the
query, the rollback: about 1 ms, and a third of the web process's database work on
``/run``). Now an answer is reused while a generation counter in Redis has not moved; the
services that can change an answer (sign-out, a password change, a revoked API key, a
changed profile; any later one that disables or deletes accounts) call :func:`invalidate`
after their commit, which moves it for every process at once. A request reads the
counter (one Redis round trip) before trusting what it remembers, so a revoked token is
refused by the very next request in any process.

Where Redis cannot be read, nothing is remembered or reused: the database answers every
request. If Redis cannot be written when a token is revoked, a process may go on
accepting that token for at most :data:`MAX_AGE_S`; that is logged.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from redis.exceptions import RedisError

from agentflow_app.errors import ConfigError
from agentflow_app.redis_client import get_async_redis, redis_or_none

if TYPE_CHECKING:
    from agentflow_app.services.users import Actor

log = logging.getLogger(__name__)

GENERATION_KEY = "agentflow:auth:generation"
#: Longest an answer is reused whatever the counter says (the bound when Redis could not be
#: told of a revocation; also how stale an API key's ``last_used_at`` may get).
MAX_AGE_S = 30.0
#: Answers kept at most; the oldest go first.
MAX_ENTRIES = 10_000


class _Entry(NamedTuple):
    actor: Actor
    generation: bytes | None
    at: float


_entries: dict[str, _Entry] = {}
_lock = threading.Lock()


def who(token: str, look_up: Callable[[], Actor]) -> Actor:
    """The account of ``token``: remembered if nothing changed since, else ``look_up()``.

    ``look_up`` raises for a token that is not valid; that answer is never remembered.
    """
    client = redis_or_none()
    if client is None:
        return look_up()
    try:
        generation = client.get(GENERATION_KEY)
    except (RedisError, OSError) as exc:
        log.debug("token checks go to the database while Redis is away: %s", exc)
        return look_up()
    actor = _remembered(token, generation)
    if actor is None:
        actor = look_up()
        _remember(token, generation, actor)
    return actor


async def who_in_loop(token: str, look_up: Callable[[], Actor]) -> Actor:
    """:func:`who` for a request handled in the event loop: the counter is read with the
    loop's own client and only a lookup goes to a thread. A REST request used to take two
    trips to the thread pool to learn what the process already knew."""
    try:
        generation = await get_async_redis().get(GENERATION_KEY)
    except ConfigError:
        return await asyncio.to_thread(look_up)
    except (RedisError, OSError) as exc:
        log.debug("token checks go to the database while Redis is away: %s", exc)
        return await asyncio.to_thread(look_up)
    actor = _remembered(token, generation)
    if actor is None:
        actor = await asyncio.to_thread(look_up)
        _remember(token, generation, actor)
    return actor


def _remembered(token: str, generation: bytes | None) -> Actor | None:
    entry = _entries.get(token)
    if (
        entry is not None
        and entry.generation == generation
        and time.monotonic() - entry.at < MAX_AGE_S
    ):
        return entry.actor
    return None


def _remember(token: str, generation: bytes | None, actor: Actor) -> None:
    with _lock:
        if len(_entries) >= MAX_ENTRIES:
            del _entries[next(iter(_entries))]
        _entries[token] = _Entry(actor, generation, time.monotonic())


def invalidate() -> None:
    """Forget every remembered answer in every process; call after the change committed."""
    client = redis_or_none()
    if client is None:
        return
    try:
        client.incr(GENERATION_KEY)
    except (RedisError, OSError) as exc:
        log.warning(
            "could not tell other processes that a sign-in changed (%s); they may accept "
            "the old one for up to %.0f s",
            exc,
            MAX_AGE_S,
        )
