"""A caller waiting for a run's end (``awaiting``) when the end is not heard on Redis: the
publish was lost, or the web process cannot reach Redis at all. The row answers."""

from __future__ import annotations

import asyncio

import pytest

from agentflow_app.engine.status import ExecutionStatus
from agentflow_app.services.executions import EndOfRun, mark_finished, outcome, queue_run
from agentflow_app.settings import reset_settings
from tests.helpers.documents import chain, node
from tests.helpers.outages import free_port


def _queued_run(actor, watch) -> int:
    """A run stored but never sent to a worker: only this test ends it."""
    return queue_run(
        chain(
            "quiet", node("start", "trigger.manual"), node("out", "output", fields={"done": "1"})
        ),
        {},
        owner_id=actor.id,
        workspace_id=actor.workspace_id,
        trigger="manual",
        send=False,
        on_stored=watch,
    )


async def _end_quietly(execution_id: int) -> None:
    """End the run on its row alone, as if its terminal event's publish was lost."""
    await asyncio.sleep(0.2)
    await asyncio.to_thread(
        mark_finished, execution_id, status=ExecutionStatus.SUCCEEDED, outputs={"done": 1}
    )


async def test_an_end_whose_publish_was_lost_is_read_from_the_row(stack, make_actor) -> None:
    actor = make_actor()
    async with EndOfRun() as end:
        execution_id = await asyncio.to_thread(_queued_run, actor, end.watch)
        ending = asyncio.create_task(_end_quietly(execution_id))
        record = await outcome(execution_id, 30, end=end)
        await ending

    assert record is not None, "the waiter gave up instead of reading the row"
    assert (record["id"], record["status"], record["outputs"]) == (
        execution_id,
        "succeeded",
        {"done": 1},
    )


async def test_without_redis_the_waiter_reads_the_row_and_times_out_cleanly(
    stack, make_actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    actor = make_actor()
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nobody there
    reset_settings()
    try:
        async with EndOfRun() as end:  # noted in the log, not raised
            execution_id = await asyncio.to_thread(_queued_run, actor, end.watch)
            assert await outcome(execution_id, 0.5, end=end) is None  # still queued: 202
            ending = asyncio.create_task(_end_quietly(execution_id))
            record = await outcome(execution_id, 30, end=end)
            await ending
    finally:
        monkeypatch.undo()
        reset_settings()

    assert record is not None and record["status"] == "succeeded"
