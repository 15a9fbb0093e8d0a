"""Liveness of the database, Redis and the workers, and room on the data disk, each
bounded in time.

Checks run in threads with a deadline so a hung PostgreSQL or an unroutable Redis makes
the answer say "down" within two seconds instead of hanging the caller. ``detail`` says
in one sentence what is wrong (the web UI's banner shows it).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import text

from agentflow_app.db import get_engine
from agentflow_app.redis_client import WORKER_KEY_PREFIX, get_redis
from agentflow_app.services import disk

log = logging.getLogger(__name__)

CHECK_DEADLINE_S = 1.5


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    db: str
    redis: str
    workers: int
    disk: disk.DiskState
    #: What is wrong, for a person (None when all is well).
    detail: str | None = None


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
    (db, db_err), (workers, redis_err), (room, disk_err) = await asyncio.gather(
        _bounded(_check_db, CHECK_DEADLINE_S),
        _bounded(_count_workers, CHECK_DEADLINE_S),
        _bounded(disk.status, CHECK_DEADLINE_S),
    )
    room = room or "full"  # a data dir that cannot even be measured takes no writes
    problems = [
        f"the database is unreachable ({db_err})" if db_err else None,
        f"Redis is unreachable ({redis_err}): live updates come from the database"
        if redis_err
        else None,
        str(disk.DiskFull()) if room == "full" else None,
    ]
    problems = [p for p in problems if p]
    if disk_err:
        log.warning("measuring the data disk failed: %s", disk_err)
    return Health(
        status="degraded" if problems else "ok",
        db=db or db_err or "down",
        redis="ok" if redis_err is None else redis_err,
        workers=workers or 0,
        disk=room,
        detail="; ".join(problems) or None,
    )
