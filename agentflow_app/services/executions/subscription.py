"""An execution's Redis channel for a follower, surviving Redis going away.

Events are stored before they are published, so Redis only makes a follower hear of them
sooner. When Redis stops (or was never reachable), :meth:`Subscription.next` waits the
poll interval and answers None, which makes :func:`.reading.follow` read the database,
and it subscribes again on the following call: a live view or event stream keeps going
through a Redis outage at the poll's pace, and is live again once Redis is back.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis.exceptions import RedisError

from agentflow_app.redis_client import get_async_redis
from agentflow_app.services.executions.events import channel

log = logging.getLogger(__name__)


class Subscription:
    """The channel of one execution; use :meth:`open` before reading the database."""

    def __init__(self, execution_id: int) -> None:
        self.name = channel(execution_id)
        self._pubsub: Any = None

    async def open(self) -> None:
        """Subscribe, or note that Redis is away (the next call to :meth:`next` retries)."""
        try:
            self._pubsub = get_async_redis().pubsub()  # the loop's client: not ours to close
            await self._pubsub.subscribe(self.name)
        except (RedisError, OSError) as exc:
            log.info("following %s without Redis for now: %s", self.name, exc)
            await self.close()

    async def confirmed(self, timeout: float = 1.0) -> None:
        """Wait until Redis has registered the subscription: whatever is published after
        this returns reaches :meth:`next`. Without Redis (or without an answer in
        ``timeout``), returns anyway: the caller's database fallback covers it."""
        if self._pubsub is None:
            return
        try:
            # Redis answers in order, so the confirmation is the first message.
            await self._pubsub.get_message(timeout=timeout)
        except (RedisError, OSError) as exc:
            log.info("Redis went away while subscribing to %s: %s", self.name, exc)
            await self.close()

    async def next(self, timeout: float) -> dict[str, Any] | None:
        """The next message, or None after ``timeout`` (or when Redis is away): the
        caller reads the database then."""
        if self._pubsub is None:
            await asyncio.sleep(timeout)
            await self.open()
            return None
        try:
            return await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)
        except (RedisError, OSError) as exc:
            log.info("Redis went away while following %s: %s", self.name, exc)
            await self.close()
            return None

    async def close(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        try:
            if pubsub is not None:
                await pubsub.aclose()
        except (RedisError, OSError) as exc:  # Redis went away: nothing left to release
            log.debug("closing the subscription to %s: %s", self.name, exc)
