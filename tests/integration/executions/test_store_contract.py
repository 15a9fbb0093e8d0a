"""The engine's ``ExecutionStore`` contract, held by every store the runner may be given.

One suite over ``MemoryStore`` (tests, benchmarks) and the durable ``DbExecutionStore`` on
SQLite and on PostgreSQL: what the runner relies on — steps read back as last saved,
events numbered one by one in the order they were asked for, ``emit_soon`` keeping its
place, cancellation seen, and a run resumed over the store finishing exactly as an
uninterrupted one — must be true of each, or a test on one store proves nothing of the
other.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from agentflow_app.engine.events import Event, EventType, StepRecord
from agentflow_app.engine.runner import run
from agentflow_app.engine.status import ExecutionStatus, StepStatus
from agentflow_app.engine.store import MemoryStore
from agentflow_app.services.executions import (
    DbExecutionStore,
    create,
    events_after,
    request_cancel,
)
from tests.helpers.databases import postgres_database, use_database
from tests.helpers.engine_builders import Journal, chain, make_registry

DOCUMENT = {"schema_version": 1, "name": "contract", "nodes": [], "edges": []}


@dataclass
class StoreKind:
    """How the suite makes, reopens, reads and cancels one kind of store."""

    name: str
    #: A store for a new execution (the execution row exists, for the durable one).
    new: Callable[[], Any]
    #: Another store over the same execution: what a resuming worker would get.
    reopen: Callable[[Any], Any]
    events: Callable[[Any], list[Event]]
    cancel: Callable[[Any], None]


def _memory() -> StoreKind:
    def reopen(store: MemoryStore) -> MemoryStore:
        again = MemoryStore(store.execution_id)
        again.steps, again.events = store.steps, store.events
        return again

    def cancel(store: MemoryStore) -> None:
        store.cancel = True

    return StoreKind("memory", lambda: MemoryStore("contract"), reopen, lambda s: s.events, cancel)


def _durable() -> StoreKind:
    def new() -> DbExecutionStore:
        return DbExecutionStore(create(DOCUMENT, {}))

    return StoreKind(
        "durable",
        new,
        lambda store: DbExecutionStore(store.execution_id),
        # The queued event that create() stores is the run's first; the contract is
        # about what the store numbers after it.
        lambda store: events_after(store.execution_id, 1),
        lambda store: request_cancel(store.execution_id),
    )


@pytest.fixture(scope="module", params=["memory", "sqlite", "postgresql"])
def kind(request, tmp_path_factory) -> Any:
    if request.param == "memory":
        yield _memory()
        return
    data_dir = tmp_path_factory.mktemp("data")
    if request.param == "sqlite":
        with use_database(f"sqlite:///{data_dir / 'agentflow.db'}", data_dir):
            yield _durable()
    else:
        with postgres_database() as url, use_database(url, data_dir):
            yield _durable()


@pytest.fixture
async def store(kind: StoreKind) -> AsyncIterator[Any]:
    made = kind.new()
    yield made
    if isinstance(made, DbExecutionStore):
        await made.aclose()


async def _settled(kind: StoreKind, store: Any) -> list[Event]:
    if isinstance(store, DbExecutionStore):
        await store.flush()
    return kind.events(store)


def _step(node_id: str, status: StepStatus, **fields: Any) -> StepRecord:
    return StepRecord(node_id=node_id, type="test.echo", status=status, **fields)


async def test_a_new_run_has_no_steps(store) -> None:
    assert await store.load_steps() == {}


async def test_steps_read_back_as_last_saved(kind, store) -> None:
    now = datetime.now(UTC)
    await store.save_step(_step("a", StepStatus.RUNNING, attempts=1, started_at=now))
    await store.save_step(
        _step("a", StepStatus.SUCCEEDED, attempts=1, started_at=now, output={"n": 1})
    )
    await store.save_step(_step("b", StepStatus.FAILED, attempts=2, error="no"))
    await store.emit(EventType.STEP_SUCCEEDED, "a", output={"n": 1})
    for reader in (store, kind.reopen(store)):
        steps = await reader.load_steps()
        assert set(steps) == {"a", "b"}
        assert steps["a"].status == StepStatus.SUCCEEDED
        assert steps["a"].output == {"n": 1}
        assert steps["b"].status == StepStatus.FAILED
        assert (steps["b"].attempts, steps["b"].error) == (2, "no")


async def test_events_are_numbered_one_by_one_in_the_order_asked(kind, store) -> None:
    first = await store.emit(EventType.EXECUTION_STARTED, resumed=False)
    answered = await asyncio.gather(
        *(store.emit(EventType.STEP_LOG, "a", message=f"line {i}") for i in range(20))
    )
    seqs = [first.seq, *(event.seq for event in answered)]
    assert seqs == list(range(first.seq, first.seq + 21))
    stored = await _settled(kind, store)
    assert [e.seq for e in stored] == seqs
    assert [e.data.get("message") for e in stored[1:]] == [f"line {i}" for i in range(20)]
    assert stored[0].type == EventType.EXECUTION_STARTED
    assert all(e.node_id == "a" for e in stored[1:])


async def test_an_event_emitted_soon_keeps_its_place(kind, store) -> None:
    await store.emit_soon(EventType.STEP_STARTED, "a", node_type="test.echo", attempt=1)
    done = await store.emit(EventType.STEP_SUCCEEDED, "a", output=None)
    stored = await _settled(kind, store)
    assert [e.type for e in stored] == [EventType.STEP_STARTED, EventType.STEP_SUCCEEDED]
    assert stored[-1].seq == done.seq == stored[0].seq + 1


async def test_cancellation_is_seen(kind, store) -> None:
    assert await store.cancel_requested() is False
    kind.cancel(store)
    for _ in range(50):  # the durable store re-reads the flag at most every 0.2 s
        if await store.cancel_requested():
            break
        await asyncio.sleep(0.05)
    assert await store.cancel_requested() is True


async def test_a_run_resumed_over_the_store_finishes_like_an_uninterrupted_one(kind, store) -> None:
    registry = make_registry()
    document = chain(4)
    kwargs = {"registry": registry, "http": None, "credentials": None, "cancel_poll_s": 0.02}

    # The first attempt dies right after its second finished step is stored, as a killed
    # worker would: the store stops answering and nothing after that is written.
    class Died(Exception):
        pass

    class DiesAfterTwoSteps:
        def __init__(self, inner: Any) -> None:
            self.inner, self.finished = inner, 0

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        async def emit(self, type: EventType, node_id: str | None = None, **data: Any) -> Event:
            event = await self.inner.emit(type, node_id, **data)
            self._count(type)
            return event

        async def emit_nowait(self, type: EventType, node_id: str | None = None, **data: Any):
            await self.emit(type, node_id, **data)  # dies once the step's end is stored

        def _count(self, type: EventType) -> None:
            if type == EventType.STEP_SUCCEEDED:
                self.finished += 1
                if self.finished == 2:
                    raise Died

    with pytest.raises(Died):
        await run(document, {}, DiesAfterTwoSteps(store), services={"journal": Journal()}, **kwargs)
    done_before = {
        n
        for n, s in (await kind.reopen(store).load_steps()).items()
        if s.status == StepStatus.SUCCEEDED
    }
    assert len(done_before) == 2  # the two finished steps are durable

    resumed_journal = Journal()
    again = kind.reopen(store)
    second = await run(document, {}, again, services={"journal": resumed_journal}, **kwargs)
    if isinstance(again, DbExecutionStore):
        await again.aclose()
    assert second.status == ExecutionStatus.SUCCEEDED, second.error
    assert all(s.status == StepStatus.SUCCEEDED for s in second.steps.values())
    # No finished step ran again.
    assert not done_before & set(resumed_journal.started())

    uninterrupted, _ = await _run_fresh(document, registry)
    assert {n: s.status for n, s in second.steps.items()} == {
        n: s.status for n, s in uninterrupted.steps.items()
    }
    assert second.outputs == uninterrupted.outputs
    stored = await _settled(kind, store)
    assert [e.seq for e in stored] == list(range(stored[0].seq, stored[0].seq + len(stored)))


async def _run_fresh(document: dict, registry: Any) -> tuple[Any, MemoryStore]:
    memory = MemoryStore("fresh")
    result = await run(
        document,
        {},
        memory,
        registry=registry,
        http=None,
        credentials=None,
        services={"journal": Journal()},
    )
    return result, memory
