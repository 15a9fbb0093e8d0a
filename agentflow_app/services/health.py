"""Liveness of the database, Redis and the workers, each bounded in time.

Checks run in threads with a deadline so a hung PostgreSQL or an unroutable Redis makes
the answer say "down" within two seconds instead of hanging the caller.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import text

from agentflow_app.db import get_engine
from agentflow_app.redis_client import WORKER_KEY_PREFIX, get_redis

CHECK_DEADLINE_S = 1.5


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    db: str
    redis: str
    workers: int


def _check_db() -> str:
    with get_engine().connect() as connection:
        connection.execute(text("SELECT 1"))
    return "ok"


def _count_workers() -> int:
    client = get_redis()
    return sum(1 for _ in client.scan_iter(match=f"{WORKER_KEY_PREFIX}*", count=100))


async def _bounded(func, deadline: float):
    try:
        return await asyncio.wait_for(asyncio.to_thread(func), deadline), None
    except TimeoutError:
        return None, "timeout"
    except Exception as exc:
        return None, f"down: {type(exc).__name__}"


async def check() -> Health:
    (db, db_err), (workers, redis_err) = await asyncio.gather(
        _bounded(_check_db, CHECK_DEADLINE_S), _bounded(_count_workers, CHECK_DEADLINE_S)
    )
    healthy = db_err is None and redis_err is None
    return Health(
        status="ok" if healthy else "degraded",
        db=db or db_err or "down",
        redis="ok" if redis_err is None else redis_err,
        workers=workers or 0,
    )
