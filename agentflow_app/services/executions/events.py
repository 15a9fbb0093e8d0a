"""An execution's events outside the hot store: the one seq allocator and the one publisher.

The running store (:mod:`.store`) numbers the events of a run in its own batched
statement; everything else that speaks about a run (cancel, retry, the reaper) stores its
event with :func:`append_event` inside its own transaction, and every event reaches Redis
through :func:`publish` once it is committed, so a viewer that hears of an event can
always read it back.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    insert,
    update,
)

from agentflow_app.engine.events import Event, EventType
from agentflow_app.observability.observer import observe
from agentflow_app.redis_client import redis_or_none

if TYPE_CHECKING:
    from redis import Redis
    from redis.client import Pipeline


from agentflow_app.services.executions.rows import EVENTS, EXECUTIONS, aware

log = logging.getLogger(__name__)


def channel(execution_id: int) -> str:
    """The Redis pub/sub channel of one execution's events (SPEC §8)."""
    return f"agentflow:execution:{execution_id}"


_END_PREFIX = "agentflow:execution-end:"
#: Every end channel: what a web process's waiting callers subscribe to, once.
END_PATTERN = f"{_END_PREFIX}*"


def end_channel(execution_id: int) -> str:
    """Where an execution's terminal events are published a second time, for callers
    waiting on its end (``/run``, ``?wait=true`` webhooks).

    On :func:`channel` such a caller heard, and decoded, every event of the run (about
    ten for three nodes) to find the last one: an eighth of the web process's CPU per
    ``/run``. Outside ``agentflow:execution:*``, so the live viewers' gauge counts viewers.
    """
    return f"{_END_PREFIX}{execution_id}"


def event_json(event: Event) -> str:
    """An event as published and streamed: ``{execution_id, seq, ts, type, node_id?, data}``."""
    return _json(event.execution_id, event.seq, event.ts, event.type, event.node_id, event.data)


def _json(
    execution_id: int, seq: int, ts: datetime, type: str, node_id: str | None, data: Any
) -> str:
    body: dict[str, Any] = {
        "execution_id": execution_id,
        "seq": seq,
        "ts": ts.isoformat(),
        "type": str(type),
    }
    if node_id is not None:
        body["node_id"] = node_id
    body["data"] = data
    return json.dumps(body, separators=(",", ":"), default=str)


def _row_json(row: dict[str, Any]) -> str:
    """:func:`event_json` of a stored row, without the :class:`Event` in between (a
    publication built and dropped one per event, on the run's hot path)."""
    ts, data = aware(row["ts"]), row["data"] or {}
    return _json(row["execution_id"], row["seq"], ts, row["type"], row["node_id"], data)


def append_event(
    conn: Connection,
    execution_id: int,
    type: EventType,
    node_id: str | None = None,
    **data: Any,
) -> dict[str, Any]:
    """Allocate the next seq and store an event inside the caller's transaction.

    Publish the returned row with :func:`publish` once the transaction has committed.
    """
    seq = conn.execute(
        update(EXECUTIONS)
        .where(EXECUTIONS.c.id == execution_id)
        .values(last_seq=EXECUTIONS.c.last_seq + 1)
        .returning(EXECUTIONS.c.last_seq)
    ).scalar_one()
    row = {
        "execution_id": execution_id,
        "seq": seq,
        "ts": datetime.now(UTC),
        "type": str(type),
        "node_id": node_id,
        "data": data,
    }
    conn.execute(insert(EVENTS).values(**row))
    return row


def publish(rows: Iterable[dict[str, Any]], client: Redis | None = None) -> None:
    """Publish stored event rows on their channels, in order, in one pipeline.

    Best effort: the events are stored, and a follower that missed one reads it back
    (:func:`.reading.follow` fills gaps in ``seq`` from the database).

    Args:
        rows: Event rows as stored (``execution_id``, ``seq``, ``ts``, ``type``...).
        client: The Redis client to publish on; the process's own when omitted, and
            nothing is published when there is none.
    """
    rows = list(rows)
    client = client if client is not None else redis_or_none()
    if client is None or not rows:
        observe(rows)
        return
    try:
        with client.pipeline(transaction=False) as pipe:
            publish_in(pipe, rows)
            pipe.execute()
    except Exception as exc:
        log.warning("publishing execution events failed: %s", exc)


def publish_in(pipe: Pipeline, rows: Sequence[dict[str, Any]]) -> None:
    """:func:`publish` as commands on the caller's pipeline, which it executes with its
    own (a new run's token: ``tasks.dispatch``)."""
    observe(rows)  # metrics, step spans and log lines (agentflow_app.observability)
    for row in rows:
        payload = _row_json(row)
        pipe.publish(channel(row["execution_id"]), payload)
        if EventType(row["type"]).terminal:
            pipe.publish(end_channel(row["execution_id"]), payload)


def parse(raw: bytes | str) -> Event | None:
    try:
        return Event.model_validate(json.loads(raw))
    except ValueError:
        log.warning("ignoring a malformed event on an execution channel: %r", raw[:200])
        return None
