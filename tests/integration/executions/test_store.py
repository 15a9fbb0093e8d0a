"""The durable execution store on SQLite and PostgreSQL, publishing on a real Redis."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
import redis
from sqlalchemy import select, text, update

from agentflow_app.db import get_engine
from agentflow_app.engine.events import EventType, StepRecord
from agentflow_app.engine.status import ExecutionStatus, StepStatus
from agentflow_app.errors import NotFound
from agentflow_app.models.execution import Execution, ExecutionEvent, StepRun
from agentflow_app.services.executions import (
    ClaimedRun,
    DbExecutionStore,
    channel,
    create,
    end_channel,
    execution_record,
    mark_finished,
    mark_started,
)
from tests.helpers.databases import database, event_seqs
from tests.helpers.outages import RedisServer
from tests.helpers.stack import services_redis

__all__ = ["database"]

DOCUMENT = {
    "schema_version": 1,
    "name": "store test",
    "nodes": [{"id": "start", "type": "trigger.manual", "data": {"config": {}}}],
    "edges": [],
}


@pytest.fixture
def redis_url():
    """A throwaway db of the services Redis (the publishing tests need no other state)."""
    with services_redis() as url:
        yield url


def set_cancel(execution_id: int) -> None:
    with get_engine().begin() as conn:
        conn.execute(
            update(Execution).where(Execution.id == execution_id).values(cancel_requested=True)
        )


async def test_create_execution_stores_the_queued_event(database):
    execution_id = create(DOCUMENT, {"company": "Acme"}, trigger="webhook")

    record = execution_record(execution_id)

    assert record["status"] == "queued"
    assert record["inputs"] == {"company": "Acme"}
    assert event_seqs(execution_id) == [1]


async def test_seq_rises_by_one_under_concurrent_emits(database):
    execution_id = create(DOCUMENT, {})
    # Two stores on one execution stand for two processes (a worker and the API): their
    # transactions run at the same time on separate connections.
    first, second = DbExecutionStore(execution_id), DbExecutionStore(execution_id)

    events = await asyncio.gather(
        *(
            store.emit(EventType.STEP_LOG, node_id=f"n{i}", message=str(i))
            for i in range(60)
            for store in (first, second)
        )
    )

    seqs = sorted(event.seq for event in events)
    assert seqs == list(range(2, 122))
    assert event_seqs(execution_id) == list(range(1, 122))


async def test_sequential_emits_answer_consecutive_seqs(database):
    execution_id = create(DOCUMENT, {})
    store = DbExecutionStore(execution_id)

    started = await store.emit(EventType.EXECUTION_STARTED)
    step = await store.emit(EventType.STEP_STARTED, node_id="start", attempt=1)

    assert (started.seq, step.seq) == (2, 3)
    assert step.node_id == "start"
    assert step.data == {"attempt": 1}


async def test_save_step_upserts_one_row_per_node(database):
    execution_id = create(DOCUMENT, {})
    store = DbExecutionStore(execution_id)
    began = datetime.now(UTC)
    step = StepRecord(
        node_id="fetch", type="http.request", status=StepStatus.RUNNING, started_at=began
    )

    await store.save_step(step)
    await store.save_step(
        step.model_copy(
            update={
                "status": StepStatus.SUCCEEDED,
                "attempts": 2,
                "finished_at": began + timedelta(seconds=1),
                "output": {"status": 200, "body": {"ok": True}},
            }
        )
    )
    await store.flush()
    loaded = await DbExecutionStore(execution_id).load_steps()

    assert list(loaded) == ["fetch"]
    assert loaded["fetch"].status == StepStatus.SUCCEEDED
    assert loaded["fetch"].attempts == 2
    assert loaded["fetch"].output == {"status": 200, "body": {"ok": True}}
    assert loaded["fetch"].started_at == began


async def test_a_save_is_committed_by_the_event_after_it(database):
    execution_id = create(DOCUMENT, {})
    store = DbExecutionStore(execution_id)

    await store.save_step(StepRecord(node_id="a", type="noop", status=StepStatus.RUNNING))
    await store.emit(EventType.STEP_STARTED, node_id="a")

    # Another reader (a resuming worker, the API) sees the step without any flush.
    with get_engine().connect() as conn:
        [status] = conn.execute(
            select(StepRun.status).where(StepRun.execution_id == execution_id)
        ).scalars()
    assert status == StepStatus.RUNNING


async def test_an_event_emitted_soon_is_stored_with_the_next_one_in_order(database):
    execution_id = create(DOCUMENT, {})
    heard = []
    store = DbExecutionStore(execution_id, on_event=heard.append)

    await store.save_step(StepRecord(node_id="a", type="noop", status=StepStatus.RUNNING))
    await store.emit_soon(EventType.STEP_STARTED, node_id="a", attempt=1)
    assert event_seqs(execution_id) == [1], "nothing is written before the loop turns"
    await store.save_step(StepRecord(node_id="a", type="noop", status=StepStatus.SUCCEEDED))
    ended = await store.emit(EventType.STEP_SUCCEEDED, node_id="a")

    assert ended.seq == 3
    assert event_seqs(execution_id) == [1, 2, 3]
    assert [(str(e.type), e.seq) for e in heard] == [("step.started", 2), ("step.succeeded", 3)]
    loaded = await DbExecutionStore(execution_id).load_steps()
    assert loaded["a"].status == StepStatus.SUCCEEDED


@pytest.mark.parametrize("unwaited", ["emit_soon", "emit_nowait"])
async def test_an_event_nobody_waits_for_is_stored_without_another_after_it(database, unwaited):
    execution_id = create(DOCUMENT, {})
    store = DbExecutionStore(execution_id)

    await getattr(store, unwaited)(EventType.STEP_STARTED, node_id="slow", attempt=1)
    # A long node emits nothing more for a while: its start must show meanwhile.
    for _ in range(200):
        await asyncio.sleep(0.05)
        if event_seqs(execution_id) != [1]:
            break

    assert event_seqs(execution_id) == [1, 2]


async def test_an_event_emitted_nowait_does_not_hold_the_run_and_keeps_its_place(database):
    execution_id = create(DOCUMENT, {})
    heard = []
    store = DbExecutionStore(execution_id, on_event=heard.append)
    # Another transaction holds the row (a lock on PostgreSQL, the write lock on SQLite),
    # so nothing the store writes can commit until it ends.
    with get_engine().connect() as other:
        holding = other.begin()
        other.execute(update(Execution).where(Execution.id == execution_id).values(error=None))
        await store.save_step(StepRecord(node_id="a", type="noop", status=StepStatus.SUCCEEDED))
        # It returns all the same (a waited emit would stay here until the lock ends).
        await asyncio.wait_for(store.emit_nowait(EventType.STEP_SUCCEEDED, node_id="a"), 10)
        after = asyncio.ensure_future(store.emit(EventType.STEP_STARTED, node_id="b"))
        await asyncio.sleep(0.3)
        assert not after.done(), "the waited emit returned while the row was held"
        holding.rollback()
    started = await after

    assert started.seq == 3
    assert event_seqs(execution_id) == [1, 2, 3]
    assert [(str(e.type), e.seq) for e in heard] == [("step.succeeded", 2), ("step.started", 3)]
    assert (await DbExecutionStore(execution_id).load_steps())["a"].status == StepStatus.SUCCEEDED


async def test_a_step_end_shares_its_transaction_with_what_follows_it_at_once(database):
    """The end of a fast step, the next step and the run's end: one commit, not three.

    PostgreSQL's ``xmin`` names the transaction that wrote each row.
    """
    if get_engine().dialect.name != "postgresql":
        pytest.skip("reads the transaction that wrote each event from PostgreSQL's xmin")
    execution_id = create(DOCUMENT, {})
    store = DbExecutionStore(execution_id, nowait_s=0.5)  # a stalled machine's turns fit

    await store.save_step(StepRecord(node_id="a", type="noop", status=StepStatus.SUCCEEDED))
    await store.emit_nowait(EventType.STEP_SUCCEEDED, node_id="a")
    for _ in range(5):  # the runner's turns to its next step
        await asyncio.sleep(0)
    await store.save_step(StepRecord(node_id="b", type="noop", status=StepStatus.RUNNING))
    await store.emit_soon(EventType.STEP_STARTED, node_id="b")
    await asyncio.sleep(0)
    await store.save_step(StepRecord(node_id="b", type="noop", status=StepStatus.SUCCEEDED))
    await store.emit_nowait(EventType.STEP_SUCCEEDED, node_id="b")
    await asyncio.sleep(0)
    await store.emit(EventType.EXECUTION_SUCCEEDED, outputs={})

    with get_engine().connect() as conn:
        writers = conn.execute(
            text("SELECT DISTINCT xmin::text FROM execution_events WHERE execution_id = :id"
                 " AND seq > 1"),
            {"id": execution_id},
        ).scalars().all()  # fmt: skip
    assert event_seqs(execution_id) == [1, 2, 3, 4, 5]
    assert len(writers) == 1, writers
    assert execution_record(execution_id)["status"] == "succeeded"


async def test_a_failed_nowait_write_is_raised_by_the_next_call(database):
    store = DbExecutionStore(987654)

    await store.emit_nowait(EventType.STEP_SUCCEEDED, node_id="a")
    with pytest.raises(NotFound, match="987654 does not exist"):
        await store.emit(EventType.EXECUTION_SUCCEEDED, outputs={})


async def test_a_failed_soon_write_is_raised_by_the_next_call(database):
    store = DbExecutionStore(987656)

    await store.emit_soon(EventType.STEP_STARTED, node_id="a")
    with pytest.raises(NotFound, match="987656 does not exist"):
        await store.flush()
    with pytest.raises(NotFound):
        await store.emit(EventType.STEP_SUCCEEDED, node_id="a")


async def test_a_failed_write_is_raised_and_poisons_the_store(database):
    store = DbExecutionStore(987655)

    await store.save_step(StepRecord(node_id="a", type="noop"))
    with pytest.raises(Exception) as first:
        await store.emit(EventType.STEP_STARTED, node_id="a")
    with pytest.raises(Exception) as second:
        await store.save_step(StepRecord(node_id="b", type="noop"))

    # The step row names an execution that does not exist: the foreign key refuses it.
    assert "IntegrityError" in {cls.__name__ for cls in type(first.value).__mro__}
    assert second.value is first.value


async def test_writes_queued_behind_a_failed_write_are_failed_with_it(database):
    execution_id = create(DOCUMENT, {})
    store = DbExecutionStore(execution_id, nowait_s=0)  # a step's end goes on the next turn
    # A number no INTEGER column holds: this batch fails on its content, once, as a full
    # disk's first write does (which frees room, so the batch after it would fit).
    await store.save_step(StepRecord(node_id="a", type="noop", attempts=2**70))
    await store.emit_nowait(EventType.STEP_SUCCEEDED, node_id="a")
    await asyncio.sleep(0)  # the batch is in flight
    await store.emit_nowait(EventType.STEP_STARTED, node_id="b")
    with pytest.raises(Exception) as failed:
        await store.emit(EventType.EXECUTION_SUCCEEDED, outputs={})

    # Nothing after the lost step end was stored: the run is not recorded as ended.
    assert event_seqs(execution_id) == [1]
    assert execution_record(execution_id)["status"] == "queued"
    with pytest.raises(Exception) as again:
        await store.flush()
    assert again.value is failed.value


async def test_concurrent_step_saves_keep_each_nodes_last_state(database):
    execution_id = create(DOCUMENT, {})
    store = DbExecutionStore(execution_id)

    async def step(i: int) -> None:
        record = StepRecord(node_id=f"n{i}", type="noop", status=StepStatus.RUNNING)
        await store.save_step(record)
        await store.emit(EventType.STEP_STARTED, node_id=record.node_id)
        await store.save_step(record.model_copy(update={"status": "succeeded", "output": i}))

    await asyncio.gather(*(step(i) for i in range(50)))
    loaded = await store.load_steps()

    assert {node: (s.status, s.output) for node, s in loaded.items()} == {
        f"n{i}": (StepStatus.SUCCEEDED, i) for i in range(50)
    }


async def test_outputs_that_json_cannot_say_are_stored_as_text(database):
    execution_id = create(DOCUMENT, {})
    store = DbExecutionStore(execution_id)
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    await store.save_step(StepRecord(node_id="t", type="noop", output={"when": when}))
    event = await store.emit(EventType.STEP_LOG, node_id="t", at=when)

    assert (await store.load_steps())["t"].output == {"when": "2026-01-02T03:04:05Z"}
    assert event.data == {"at": "2026-01-02T03:04:05Z"}


async def test_record_has_the_spec_shape(database):
    execution_id = create(DOCUMENT, {"x": 1})
    mark_started(execution_id)
    store = DbExecutionStore(execution_id)
    now = datetime.now(UTC)
    await store.save_step(
        StepRecord(
            node_id="start",
            type="trigger.manual",
            status=StepStatus.SUCCEEDED,
            attempts=1,
            started_at=now,
            finished_at=now,
            output={"x": 1},
        )
    )
    await store.aclose()
    mark_finished(
        execution_id,
        status=ExecutionStatus.SUCCEEDED,
        outputs={"answer": 42},
        usage={"cost_usd": 0.0},
    )

    record = execution_record(execution_id)

    assert set(record) == {
        "id",
        "workflow_id",
        "workflow_version",
        "status",
        "inputs",
        "outputs",
        "error",
        "created_at",
        "started_at",
        "finished_at",
        "usage",
        "steps",
        # A child run's links to the run that started it, and a waiting run's wake time.
        "caller_id",
        "caller_node",
        "item_index",
        "wake_at",
        # Whose run it is (issue 18).
        "workspace_id",
        "started_by",
    }
    assert record["status"] == "succeeded"
    assert record["outputs"] == {"answer": 42}
    for key in ("created_at", "started_at", "finished_at"):
        assert datetime.fromisoformat(record[key]).tzinfo is not None
    [step] = record["steps"]
    assert {k: step[k] for k in ("node_id", "type", "status", "attempts", "output")} == {
        "node_id": "start",
        "type": "trigger.manual",
        "status": "succeeded",
        "attempts": 1,
        "output": {"x": 1},
    }
    assert datetime.fromisoformat(step["finished_at"]) == now
    json.dumps(record)  # the CLI prints it as it is


async def test_waiting_is_not_finished(database):
    execution_id = create(DOCUMENT, {})
    mark_started(execution_id)

    mark_finished(execution_id, status="waiting")

    record = execution_record(execution_id)
    assert record["status"] == "waiting"
    assert record["finished_at"] is None
    assert record["started_at"] is not None


async def test_a_claimed_start_trusts_its_claim_then_reads_again(database):
    execution_id = create(DOCUMENT, {})
    # Stored meanwhile, although the claim said there were none: the start believes the
    # claim (that is the read it saves), a later load reads the table.
    other = DbExecutionStore(execution_id)
    await other.save_step(StepRecord(node_id="a", type="noop"))
    await other.flush()
    claim = ClaimedRun(execution_id, None, DOCUMENT, {}, has_steps=False)
    store = DbExecutionStore(execution_id, claimed=claim)

    assert await store.load_steps() == {}
    assert list(await store.load_steps()) == ["a"]
    assert await store.cancel_requested() is False
    set_cancel(execution_id)
    for _ in range(100):  # a cancel after the claim is seen once the claim's read ages
        if await store.cancel_requested():
            break
        await asyncio.sleep(0.05)
    assert await store.cancel_requested() is True
    claimed_with_steps = ClaimedRun(execution_id, None, DOCUMENT, {}, has_steps=True)
    assert list(await DbExecutionStore(execution_id, claimed=claimed_with_steps).load_steps()) == [
        "a"
    ]


async def test_cancel_flag_is_seen(database):
    execution_id = create(DOCUMENT, {})
    store = DbExecutionStore(execution_id)
    assert await store.cancel_requested() is False

    set_cancel(execution_id)

    assert await DbExecutionStore(execution_id).cancel_requested() is True
    # The first store reuses its read for a moment, then sees the flag too.
    for _ in range(100):
        if await store.cancel_requested():
            break
        await asyncio.sleep(0.05)
    assert await store.cancel_requested() is True


async def test_events_are_published_on_the_execution_channel(database, redis_url):
    client = redis.Redis.from_url(redis_url)
    execution_id = create(DOCUMENT, {})
    pubsub = client.pubsub()
    pubsub.subscribe(channel(execution_id))
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"
    store = DbExecutionStore(execution_id, redis=client)

    await store.emit(EventType.EXECUTION_STARTED)
    await store.emit(EventType.STEP_LOG, node_id="start", message="hello")

    messages = [pubsub.get_message(timeout=5) for _ in range(2)]
    pubsub.close()
    client.close()
    bodies = [json.loads(m["data"]) for m in messages]
    assert [(b["seq"], b["type"], b.get("node_id"), b["data"]) for b in bodies] == [
        (2, "execution.started", None, {}),
        (3, "step.log", "start", {"message": "hello"}),
    ]
    assert "node_id" not in bodies[0]
    assert all(b["execution_id"] == execution_id for b in bodies)
    assert datetime.fromisoformat(bodies[1]["ts"]).tzinfo is not None


async def test_a_writer_has_its_answer_before_its_events_are_published(database, tmp_path):
    """The commit answers the run, then the store's thread publishes: a slow Redis holds
    the live view back, not the run (and the next write still waits for the publish)."""
    server = RedisServer(tmp_path / "redis", persist=False)
    server.start()
    client = redis.Redis.from_url(server.url)
    execution_id = create(DOCUMENT, {})
    pubsub = client.pubsub()
    pubsub.subscribe(channel(execution_id))
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"
    store = DbExecutionStore(execution_id, redis=client)
    try:
        client.client_pause(60_000, all=False)  # PUBLISH waits, as on a stalled server
        started = await asyncio.wait_for(store.emit(EventType.EXECUTION_STARTED), 30)
        assert started.seq == 2
        assert pubsub.get_message(timeout=0.2) is None  # stored, not published yet
        client.client_unpause()
        logged = await asyncio.wait_for(store.emit(EventType.STEP_LOG, "start", message="hi"), 30)
        heard = [pubsub.get_message(timeout=5) for _ in range(2)]
    finally:
        client.client_unpause()
        pubsub.close()
        client.close()
        server.stop()
    assert logged.seq == 3
    assert [json.loads(m["data"])["seq"] for m in heard] == [2, 3]


async def test_the_terminal_event_alone_is_published_again_on_the_end_channel(database, redis_url):
    """Callers waiting on a run's end (``/run``) hear only its end, not all its events."""
    client = redis.Redis.from_url(redis_url)
    execution_id = create(DOCUMENT, {})
    pubsub = client.pubsub()
    pubsub.subscribe(channel(execution_id), end_channel(execution_id))
    assert [pubsub.get_message(timeout=5)["type"] for _ in range(2)] == ["subscribe"] * 2
    store = DbExecutionStore(execution_id, redis=client)

    await store.emit(EventType.EXECUTION_STARTED)
    await store.emit(EventType.STEP_LOG, node_id="start", message="hello")
    await store.emit(EventType.EXECUTION_SUCCEEDED, outputs={"answer": 42}, usage={})

    heard = [pubsub.get_message(timeout=5) for _ in range(4)]
    assert pubsub.get_message(timeout=0.5) is None
    pubsub.close()
    client.close()
    by_channel = [(m["channel"].decode(), json.loads(m["data"])["type"]) for m in heard]
    assert by_channel == [
        (channel(execution_id), "execution.started"),
        (channel(execution_id), "step.log"),
        (channel(execution_id), "execution.succeeded"),
        (end_channel(execution_id), "execution.succeeded"),
    ]
    assert heard[2]["data"] == heard[3]["data"]
    assert json.loads(heard[3]["data"])["data"]["outputs"] == {"answer": 42}


async def test_redaction_hook_covers_outputs_errors_and_events(database):
    execution_id = create(DOCUMENT, {})

    def redact(value):
        if isinstance(value, str):
            return value.replace("s3cret", "[redacted]")
        if isinstance(value, dict):
            return {k: redact(v) for k, v in value.items()}
        return value

    store = DbExecutionStore(execution_id, redact=redact)
    await store.save_step(
        StepRecord(
            node_id="call",
            type="http.request",
            status=StepStatus.FAILED,
            output={"echo": "token s3cret"},
            error="401 for s3cret",
        )
    )
    await store.emit(EventType.STEP_FAILED, node_id="call", error="401 for s3cret")

    text = json.dumps(execution_record(execution_id))
    with get_engine().connect() as conn:
        events = list(
            conn.execute(
                select(ExecutionEvent.data).where(ExecutionEvent.execution_id == execution_id)
            ).scalars()
        )
    assert "s3cret" not in text + json.dumps(events)
    assert "[redacted]" in text


async def test_unknown_execution_is_a_clear_error(database):
    store = DbExecutionStore(987654)

    with pytest.raises(NotFound, match="execution 987654 does not exist"):
        await store.emit(EventType.EXECUTION_STARTED)
    with pytest.raises(NotFound, match="987654"):
        execution_record(987654)
