"""The safety net every worker runs on a timer (``tasks.maintenance``).

Executions whose lease ran out (their worker died) are given back with
:func:`.lifecycle.recover`: queued again to resume, or failed after
:data:`MAX_RECOVERIES`; owners with queued runs nobody picked up get a fresh token.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from redis import Redis, RedisError
from sqlalchemy import (
    Connection,
    select,
)

from agentflow_app.db import get_engine
from agentflow_app.engine.events import EventType
from agentflow_app.engine.status import ExecutionStatus
from agentflow_app.redis_client import redis_or_none
from agentflow_app.services.executions.events import publish
from agentflow_app.services.executions.lifecycle import LEASE_S, recover, running_count
from agentflow_app.services.executions.outages import (
    is_unreachable,
    note_unreachable,
    recently_unreachable,
)
from agentflow_app.services.executions.rows import (
    EVENTS,
    EXECUTIONS,
)
from agentflow_app.settings import get_settings
from tasks import dispatch

log = logging.getLogger(__name__)

#: How often every worker runs the reaper (seconds); a Redis lock keeps it to one at a time.
REAP_EVERY_S = 5.0
#: Queued this long with capacity free and still not started: give its owner a new token.
PICKUP_S = 10.0
#: A run recovered this many times is failed instead of queued again.
MAX_RECOVERIES = 3
#: At most one nudge token per owner per this many seconds.
NUDGE_TTL_S = 30


class ReapReport(BaseModel):
    requeued: list[int] = []
    failed: list[int] = []
    nudged: list[int] = []


def reap(now: datetime | None = None) -> ReapReport:
    """:func:`_reap`, leaving leases alone while the database was lately unreachable
    (:func:`.outages.recently_unreachable`): the workers could not renew them either."""
    leases = not recently_unreachable()
    try:
        return _reap(now, leases=leases)
    except Exception as exc:
        if is_unreachable(get_engine(), exc):
            note_unreachable()
        raise


def _reap(now: datetime | None, *, leases: bool) -> ReapReport:
    """Recover executions whose worker vanished and queued runs nobody picked up.

    A ``running`` execution whose heartbeat is older than :data:`LEASE_S` goes back to
    ``queued`` with an ``execution.queued`` event (``data.recovered``), and a token is sent:
    the worker that claims it resumes it, reusing finished steps (SPEC §7). After
    :data:`MAX_RECOVERIES` recoveries it is failed with the reason instead. Each owner whose
    queued runs have waited :data:`PICKUP_S` with capacity free gets a token for each, up
    to that capacity (at most once per :data:`NUDGE_TTL_S`).
    """
    now = now or datetime.now(UTC)
    report = ReapReport()
    engine = get_engine()
    with engine.connect() as conn:
        stale = (
            []
            if not leases
            else conn.execute(
                select(EXECUTIONS.c.id, EXECUTIONS.c.heartbeat_at, EXECUTIONS.c.worker).where(
                    EXECUTIONS.c.status == ExecutionStatus.RUNNING,
                    EXECUTIONS.c.heartbeat_at < now - timedelta(seconds=LEASE_S),
                )
            ).all()
        )
    events: list[dict[str, Any]] = []
    for row in stale:
        with engine.begin() as conn:
            recoveries = _recoveries(conn, row.id)
            give_up = recoveries >= MAX_RECOVERIES
            event = recover(conn, row, now, recoveries=recoveries, give_up=give_up)
        if event is None:  # it came back to life, or another reaper got there first
            continue
        events.append(event)
        (report.failed if give_up else report.requeued).append(row.id)
    publish(events)
    for execution_id in report.requeued:
        dispatch.enqueue_execution(execution_id)
    report.nudged = _nudge_waiting(now)
    if report.requeued or report.failed or report.nudged:
        log.warning("reaper: %s", report.model_dump())
    return report


def _recoveries(conn: Connection, execution_id: int) -> int:
    rows = conn.execute(
        select(EVENTS.c.data).where(
            EVENTS.c.execution_id == execution_id, EVENTS.c.type == EventType.EXECUTION_QUEUED
        )
    ).scalars()
    return sum(1 for data in rows if isinstance(data, dict) and data.get("recovered"))


def _nudge_waiting(now: datetime) -> list[int]:
    """One token for each run an owner has had queued past :data:`PICKUP_S`, up to their
    free capacity: after a Redis outage every run asked for meanwhile lacks its token, and
    one token per owner per :data:`NUDGE_TTL_S` would start them one by one. A token that
    finds nothing left to claim does nothing.

    A run queued after the oldest token still waiting in the queue is not nudged: its own
    token waits behind that one (workers are behind, nothing was lost). Only when the
    queue has moved past it, or is empty, is a run still queued short of a token.
    """
    limit = get_settings().agentflow_max_concurrent_executions
    client = redis_or_none()
    unpicked = [
        EXECUTIONS.c.status == ExecutionStatus.QUEUED,
        EXECUTIONS.c.created_at < now - timedelta(seconds=PICKUP_S),
    ]
    waiting = _oldest_waiting_token(client)
    if waiting is not None:
        unpicked.append(EXECUTIONS.c.id < waiting)
    owed: dict[int, list[int]] = {}
    with get_engine().connect() as conn:
        owners = conn.execute(
            select(EXECUTIONS.c.owner_id)
            .where(*unpicked, EXECUTIONS.c.owner_id.is_not(None))
            .group_by(EXECUTIONS.c.owner_id)
        ).scalars()
        for owner in list(owners):
            free = limit - running_count(conn, owner)
            if free > 0:
                owed[owner] = list(
                    conn.execute(
                        select(EXECUTIONS.c.id)
                        .where(*unpicked, EXECUTIONS.c.owner_id == owner)
                        .order_by(EXECUTIONS.c.id)
                        .limit(free)
                    ).scalars()
                )
    nudged = []
    for owner, ids in owed.items():
        if client is not None and not client.set(
            f"agentflow:nudge:{owner}", "1", nx=True, ex=NUDGE_TTL_S
        ):
            continue
        for execution_id in ids:
            dispatch.enqueue_execution(execution_id)
        nudged.extend(ids)
    return nudged


def _oldest_waiting_token(client: Redis | None) -> int | None:
    """:func:`tasks.dispatch.oldest_waiting_token`, or None where the queue cannot be read
    (every run past :data:`PICKUP_S` is then nudged, as a token may have been lost)."""
    if client is None:
        return None
    try:
        return dispatch.oldest_waiting_token(client)
    except RedisError as exc:
        log.warning("reaper: cannot read the run queue (%s); nudging every late run", exc)
        return None
