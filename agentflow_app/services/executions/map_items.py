"""Map items run back to back by the worker that claimed one, stored a batch at a time.

A map item is an ordinary execution, and on the ordinary path each one costs a Celery
message, a claim, two transactions per step and a hand-over: about 10 ms for a no-op
item, ten to twenty times LangGraph's ``Send`` (``bench/flow.py``). Most of that is
bookkeeping around a run that takes a fraction of a millisecond, so when the item's
workflow allows it, the worker that claimed one item keeps its turn and runs the next
ones itself:

* The claimed item runs on the ordinary durable store. Only if its nodes worked less
  than :data:`FAST_ITEM_S` does the worker go on with the map's next items; a slower
  item's turn is handed on at once, so slow items keep every step stored as it ends.
* Each further item still runs alone through the engine's runner (the map's
  ``concurrency`` counts turns, and this is one turn), with its own execution row,
  steps and events, openable like any run.
* Its steps and events are held in memory and stored when the item ends, together with
  the other items that ended since the last write, in one transaction that also takes the
  next items (``waiting`` → ``running`` for this worker, as a claim does, and within the
  owner's limit of running executions). A batch is sized to take about
  :data:`FLUSH_S`, so a cancel or an item's failure is seen as quickly as on the ordinary
  path; an item slower than :data:`FAST_ITEM_S` ends the batching.
* After :data:`SLICE_S` the worker hands the turn on as the ordinary path does
  (:func:`.children.child_ended`), so a long map does not keep a worker from other runs.

Only a workflow that can be run again from its start without harm is run this way: no
node that waits (approval, timer, another workflow), and no side effect that is not
idempotent (an HTTP GET is allowed, a POST is not). A worker that dies mid-batch leaves
the items it took ``running`` under its name: the reaper gives them back to the queue and
they run again from the start (at most :data:`FAST_ITEM_S` of work each). The items
already stored are finished and never run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, insert, select, update

from agentflow_app.catalog import default_registry
from agentflow_app.db import get_engine
from agentflow_app.engine.errors import InvalidWorkflow
from agentflow_app.engine.events import Event, EventType, StepRecord, execution_status_after
from agentflow_app.engine.node import CredentialProvider, Node
from agentflow_app.engine.plan import Plan, compile_plan
from agentflow_app.engine.registry import Registry
from agentflow_app.engine.runner import run
from agentflow_app.engine.status import ExecutionStatus
from agentflow_app.services.executions import children
from agentflow_app.services.executions.events import publish
from agentflow_app.services.executions.rows import (
    EVENTS,
    EXECUTIONS,
    STEPS,
    Caller,
    ClaimedRun,
    jsonable,
)
from agentflow_app.services.executions.store import DbExecutionStore, step_row
from agentflow_app.services.executions.waits import wake_in
from agentflow_app.services.files import DbFileHost
from agentflow_app.settings import get_settings

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger(__name__)

#: Node types that wait for something outside the run: a workflow with one is not batched.
WAITING_TYPES = frozenset({"human.approval", "flow.wait", "flow.subworkflow", "flow.map"})
#: A batch of items is sized to run in about this long (seconds) before it is stored.
FLUSH_S = 0.1
#: Items taken at most per batch.
MAX_BATCH = 256
#: Items are run in batches only while each one's nodes work at most this long
#: (seconds): a slower item's steps are stored as each ends, on the ordinary path.
FAST_ITEM_S = 0.05
#: A worker keeps a map's turn this long (seconds), then hands it on.
SLICE_S = 2.0
#: How long a read of the batch's ``cancel_requested`` flags is reused (seconds).
CANCEL_CACHE_S = 0.2


def rerunnable(document: dict[str, Any], registry: Registry | None = None) -> bool:
    """Whether a run of ``document`` may run again from its start without harm: no node
    waits, and every node with side effects is idempotent for its config (an HTTP GET is,
    a POST is not), the rule the runner applies to a step its worker died in."""
    registry = registry or default_registry()
    for node in document.get("nodes") or []:
        kind = node.get("type")
        if kind in WAITING_TYPES or not registry.has_node(kind):
            return False
        cls = registry.node(kind)
        if cls.side_effects and not _idempotent(cls, node, registry):
            return False
    return True


def _idempotent(cls: type[Node], node: dict[str, Any], registry: Registry) -> bool:
    try:
        config = cls.Config.model_validate((node.get("data") or {}).get("config") or {})
    except Exception:  # a config that does not validate: the run will say so, not here
        return False
    if "registry" in inspect.signature(cls.is_idempotent).parameters:
        return bool(cls().is_idempotent(config, registry=registry))
    return bool(cls().is_idempotent(config))  # a plugin's older override (engine.runner)


def batchable(claimed: ClaimedRun) -> bool:
    """A cheap first look: could this claimed run be a map item to run in a batch?"""
    inputs = claimed.inputs or {}
    return (
        not claimed.has_steps
        and "index" in inputs
        and "item" in inputs
        and rerunnable(claimed.document)
    )


@dataclass
class _Item:
    """An item this worker holds: running under its name, nothing of it stored yet."""

    execution_id: int
    index: int
    inputs: dict[str, Any]
    last_seq: int
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    end: dict[str, Any] | None = None


class _Cancels:
    """The batch's ``cancel_requested`` flags, read for all its items at once."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self._flags: set[int] = set()
        self._read_at = float("-inf")

    async def requested(self, execution_id: int) -> bool:
        if time.monotonic() - self._read_at >= CANCEL_CACHE_S:
            self._flags = await asyncio.to_thread(self._read, list(self.ids))
            self._read_at = time.monotonic()
        return execution_id in self._flags

    @staticmethod
    def _read(ids: list[int]) -> set[int]:
        with get_engine().connect() as conn:
            return set(
                conn.execute(
                    select(EXECUTIONS.c.id).where(
                        EXECUTIONS.c.id.in_(ids), EXECUTIONS.c.cancel_requested.is_(True)
                    )
                ).scalars()
            )


class _ItemStore:
    """``ExecutionStore`` of one item, in memory until the batch is stored."""

    def __init__(self, item: _Item, cancels: _Cancels, redact: Callable[[Any], Any]) -> None:
        self.execution_id = item.execution_id
        self._item = item
        self._cancels = cancels
        self._redact = redact

    async def load_steps(self) -> dict[str, StepRecord]:
        return {}  # only items with nothing stored are run here

    async def save_step(self, step: StepRecord) -> None:
        self._item.steps[step.node_id] = step_row(self.execution_id, step, self._redact)

    async def emit(self, type: EventType, node_id: str | None = None, **data: Any) -> Event:
        item = self._item
        item.last_seq += 1
        row = {
            "execution_id": item.execution_id,
            "seq": item.last_seq,
            "ts": datetime.now(UTC),
            "type": str(type),
            "node_id": node_id,
            "data": jsonable(self._redact(data)),
        }
        item.events.append(row)
        if type.terminal:
            item.end = {
                "status": execution_status_after(type),
                "outputs": row["data"].get("outputs", {}),
                "error": row["data"].get("error"),
                "usage": row["data"].get("usage", {}),
                "finished_at": row["ts"],
            }
        return Event(**{**row, "type": type})

    async def emit_soon(self, type: EventType, node_id: str | None = None, **data: Any) -> None:
        await self.emit(type, node_id, **data)

    async def emit_nowait(self, type: EventType, node_id: str | None = None, **data: Any) -> None:
        await self.emit(type, node_id, **data)

    async def cancel_requested(self) -> bool:
        return await self._cancels.requested(self.execution_id)


@dataclass
class _Turn:
    """One map's turn on this worker: whose items, and what the run needs."""

    caller: Caller
    owner_id: int | None
    #: The map's workspace: its items read and make its files.
    workspace_id: int | None
    worker: str


def _item_row(execution_id: int) -> Any:
    with get_engine().connect() as conn:
        return conn.execute(
            select(
                EXECUTIONS.c.caller_id,
                EXECUTIONS.c.caller_node,
                EXECUTIONS.c.item_index,
                EXECUTIONS.c.last_seq,
                EXECUTIONS.c.trigger,
            ).where(EXECUTIONS.c.id == execution_id)
        ).one_or_none()


async def run_items(
    claimed: ClaimedRun,
    worker: str,
    *,
    http: Any,
    credentials: CredentialProvider | None,
    redact: Callable[[Any], Any],
    redis: Redis | None,
    hold: Callable[[int], None],
    release: Callable[[int], None],
) -> bool:
    """Run the claimed map item, then the map's next items while the turn lasts.

    Args:
        hold / release: keep the lease of an item this worker holds renewed / stop.

    Returns:
        False when the claimed run is not a map item (run it the ordinary way); nothing
        was done then.
    """
    row = await asyncio.to_thread(_item_row, claimed.execution_id)
    if row is None or row.trigger != "map" or row.caller_id is None or row.item_index is None:
        return False
    turn = _Turn(
        Caller(row.caller_id, row.caller_node), claimed.owner_id, claimed.workspace_id, worker
    )
    registry = default_registry()
    try:
        plan = compile_plan(claimed.document, registry)
    except InvalidWorkflow:
        return False  # the ordinary path marks the run failed with the problems
    first_s, status = await _run_first(
        claimed, plan, turn, registry, http, credentials, redact, redis
    )
    if status == ExecutionStatus.FAILED:
        await asyncio.to_thread(_failed, turn, claimed.execution_id)
    last = _Item(claimed.execution_id, row.item_index, claimed.inputs, 0)
    if status != ExecutionStatus.CANCELLED and first_s <= FAST_ITEM_S:
        first = max(1, min(MAX_BATCH, int(FLUSH_S / max(first_s, 1e-4))))
        last = await _batches(
            turn, plan, registry, last, first, http, credentials, redact, redis, hold, release
        )
    # Hand the turn on as an item's end does on the ordinary path (or wake the map).
    await asyncio.to_thread(children.child_ended, last.execution_id)
    return True


async def _batches(
    turn: _Turn,
    plan: Plan,
    registry: Registry,
    last: _Item,
    first: int,
    http: Any,
    credentials: CredentialProvider | None,
    redact: Callable[[Any], Any],
    redis: Redis | None,
    hold: Callable[[int], None],
    release: Callable[[int], None],
) -> _Item:
    """Take and run the map's next items in batches while the turn lasts and items stay
    fast, ``first`` of them to begin with; the last item run (whose end hands the turn
    on)."""
    cancels = _Cancels()
    slice_ends = time.monotonic() + SLICE_S
    telling: asyncio.Future | None = None
    _, taken = await asyncio.to_thread(_store_and_take, turn, [], first, last.index)
    try:
        while taken:
            for item in taken:
                hold(item.execution_id)
            cancels.ids = [item.execution_id for item in taken]
            started = time.monotonic()
            stop = False
            for item in taken:
                await _run_one(item, plan, turn, registry, cancels, http, credentials, redact)
                stop |= item.end is not None and item.end["status"] == ExecutionStatus.CANCELLED
            per_item_s = max((time.monotonic() - started) / len(taken), 1e-5)
            slow = any(_work_s(item.steps.values()) > FAST_ITEM_S for item in taken)
            want = 0
            if not (stop or slow) and time.monotonic() < slice_ends:
                want = max(1, min(MAX_BATCH, int(FLUSH_S / per_item_s)))
            done, last = taken, taken[-1]
            events, taken = await asyncio.to_thread(_store_and_take, turn, done, want, last.index)
            for item in done:
                release(item.execution_id)
            # Telling is network waiting: it goes on while the next batch runs, and each
            # batch's events go out after the previous batch's.
            if telling is not None:
                await telling
            telling = asyncio.ensure_future(asyncio.to_thread(_tell, events, redis, turn.caller))
            for item in done:
                if item.end is not None and item.end["status"] == ExecutionStatus.FAILED:
                    await asyncio.to_thread(children.start_error_workflow, item.execution_id)
    finally:
        # Items not stored (the store failed, the run was stopped) stay running under
        # this worker's name with their leases left to lapse: the reaper gives them back.
        for item in taken:
            release(item.execution_id)
    if telling is not None:
        await telling
    return last


async def _run_first(
    claimed: ClaimedRun,
    plan: Plan,
    turn: _Turn,
    registry: Registry,
    http: Any,
    credentials: CredentialProvider | None,
    redact: Callable[[Any], Any],
    redis: Redis | None,
) -> tuple[float, ExecutionStatus]:
    """Run the claimed item on the ordinary durable store (each step stored as it ends);
    how long its nodes worked and how it ended."""
    store = DbExecutionStore(claimed.execution_id, redis=redis, redact=redact, claimed=claimed)
    try:
        result = await run(
            plan,
            claimed.inputs,
            store,
            registry=registry,
            http=http,
            credentials=credentials,
            services={"files": DbFileHost(claimed.execution_id, turn.workspace_id)},
            execution_id=claimed.execution_id,
        )
    except Exception as exc:  # a bug or an outage, not a node's failure
        log.exception("execution %s: the map item stopped on an internal error", store.execution_id)
        with contextlib.suppress(Exception):
            await store.emit(
                EventType.EXECUTION_FAILED,
                error=f"internal error ({type(exc).__name__}); see the worker log for "
                f"execution {store.execution_id}",
            )
        result = None
    finally:
        await store.aclose()
    if result is None:
        return float("inf"), ExecutionStatus.FAILED
    steps = [
        {"started_at": r.started_at, "finished_at": r.finished_at} for r in result.steps.values()
    ]
    return _work_s(steps), result.status


def _work_s(steps: Iterable[dict[str, Any]]) -> float:
    """Seconds an item's nodes worked (their steps' spans, not the bookkeeping around)."""
    return sum(
        (step["finished_at"] - step["started_at"]).total_seconds()
        for step in steps
        if step["started_at"] is not None and step["finished_at"] is not None
    )


def _failed(turn: _Turn, execution_id: int) -> None:
    """After an item failed on its own: wake the map (it may stop), start the item's
    error workflow."""
    with get_engine().begin() as conn:
        woke = wake_in(conn, turn.caller.execution_id, f"a map item ({execution_id}) failed")
    if woke is not None:
        publish([woke])
    children.start_error_workflow(execution_id)


def _tell(events: list[dict[str, Any]], redis: Redis | None, caller: Caller) -> None:
    """Publish a stored batch's events, and the map's progress (at most once a second)."""
    publish(events, redis)
    children.tell_progress(caller)


async def _run_one(
    item: _Item,
    plan: Plan,
    turn: _Turn,
    registry: Registry,
    cancels: _Cancels,
    http: Any,
    credentials: CredentialProvider | None,
    redact: Callable[[Any], Any],
) -> None:
    store = _ItemStore(item, cancels, redact)
    try:
        await run(
            plan,
            item.inputs,
            store,
            registry=registry,
            http=http,
            credentials=credentials,
            services={"files": DbFileHost(item.execution_id, turn.workspace_id)},
            execution_id=item.execution_id,
        )
    except Exception as exc:  # a bug, not a node's failure (those end the run themselves)
        log.exception("execution %s: the map item stopped on an internal error", item.execution_id)
        await store.emit(
            EventType.EXECUTION_FAILED,
            error=f"internal error ({type(exc).__name__}); see the worker log for execution "
            f"{item.execution_id}",
        )


_FINISH = (
    update(EXECUTIONS)
    .where(EXECUTIONS.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status", type_=EXECUTIONS.c.status.type),
        outputs=bindparam("b_outputs", type_=EXECUTIONS.c.outputs.type),
        error=bindparam("b_error", type_=EXECUTIONS.c.error.type),
        usage=bindparam("b_usage", type_=EXECUTIONS.c.usage.type),
        finished_at=bindparam("b_finished_at", type_=EXECUTIONS.c.finished_at.type),
        last_seq=bindparam("b_last_seq", type_=EXECUTIONS.c.last_seq.type),
        worker=None,
    )
)


def _store_and_take(
    turn: _Turn, done: list[_Item], want: int, after: int
) -> tuple[list[dict[str, Any]], list[_Item]]:
    """Store the ended items and take up to ``want`` next ones, in one transaction.

    Returns:
        The events to publish, and the items now held by this worker.
    """
    ended = [item for item in done if item.end is not None]
    events = [event for item in ended for event in item.events]
    now = datetime.now(UTC)
    with get_engine().begin() as conn:
        steps = [step for item in ended for step in item.steps.values()]
        if steps:
            conn.execute(insert(STEPS), steps)
        if events:
            conn.execute(insert(EVENTS), events)
        if ended:
            conn.execute(
                _FINISH,
                [
                    {f"b_{k}": v for k, v in {**item.end, "last_seq": item.last_seq}.items()}
                    | {"b_id": item.execution_id}
                    for item in ended
                ],
            )
        if any(item.end["status"] == ExecutionStatus.FAILED for item in ended):
            woke = wake_in(conn, turn.caller.execution_id, "a map item failed")
            if woke is not None:
                events.append(woke)
        taken = _take(conn, turn, after, want, now) if want else []
    return events, taken


def _running(conn: Any, owner_id: int) -> int:
    """The owner's running executions, counted through the status index: the owner's
    index would read every execution the owner has, a whole map's items included
    (``owner_id + 0`` keeps SQLite's planner off it)."""
    return conn.execute(
        select(func.count()).where(
            EXECUTIONS.c.status == ExecutionStatus.RUNNING, EXECUTIONS.c.owner_id + 0 == owner_id
        )
    ).scalar_one()


def _take(conn: Any, turn: _Turn, after: int, want: int, now: datetime) -> list[_Item]:
    """Take the map's next ``want`` items waiting their turn (fewer at the owner's limit).

    Items start in index order, so those waiting are above ``after``, the highest index
    this worker just ran (see :func:`.children._next_item`). On PostgreSQL the rows are
    locked as they are picked and rows another worker is taking are skipped: two workers
    taking at once would otherwise lock the same rows in different orders and deadlock.
    The pick is its own statement: as a subquery of the UPDATE, PostgreSQL may run it
    again for each row it scans, and with SKIP LOCKED each run picks other rows, so the
    LIMIT did not hold (118 items taken for 4 asked).
    """
    if turn.owner_id is not None:
        limit = get_settings().agentflow_max_concurrent_executions
        want = min(want, limit - _running(conn, turn.owner_id))
        if want <= 0:
            return []
    candidates = list(
        conn.execute(
            select(EXECUTIONS.c.id)
            .where(
                *children.items_of(turn.caller),
                EXECUTIONS.c.item_index > after,
                EXECUTIONS.c.status == ExecutionStatus.WAITING,
                EXECUTIONS.c.last_seq == 0,
            )
            .order_by(EXECUTIONS.c.item_index)
            .limit(want)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    if not candidates:
        return []
    rows = conn.execute(
        update(EXECUTIONS)
        .where(
            EXECUTIONS.c.id.in_(candidates),
            EXECUTIONS.c.status == ExecutionStatus.WAITING,
            EXECUTIONS.c.last_seq == 0,
        )
        .values(
            status=ExecutionStatus.RUNNING,
            worker=turn.worker,
            heartbeat_at=now,
            started_at=func.coalesce(EXECUTIONS.c.started_at, now),
        )
        .returning(EXECUTIONS.c.id, EXECUTIONS.c.item_index, EXECUTIONS.c.inputs)
    ).all()
    return sorted(
        (_Item(row.id, row.item_index, row.inputs, 0) for row in rows),
        key=lambda item: item.index,
    )
