"""The reaper's rules, on the rows a dead worker leaves behind (no worker runs here).

A worker that vanished leaves its execution ``running`` with a heartbeat that stopped;
these tests write that state (as the dead worker would have) and call the reaper.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import redis
from sqlalchemy import update

from agentflow_app.db import get_engine
from agentflow_app.engine.status import ExecutionStatus
from agentflow_app.models import Execution
from agentflow_app.services import executions
from agentflow_app.services.executions import events_after, load_execution
from agentflow_app.services.executions.reaper import PICKUP_S
from tasks.config import task_default_queue as QUEUE
from tests.helpers.documents import chain, node
from tests.helpers.executions import create_workflow

E = Execution.__table__


def _left_running(execution_id: int, heartbeat: datetime) -> None:
    """What a worker leaves when it dies mid-run."""
    with get_engine().begin() as conn:
        conn.execute(
            update(E)
            .where(E.c.id == execution_id)
            .values(status=ExecutionStatus.RUNNING, worker="gone@host/1", heartbeat_at=heartbeat)
        )


def _workflow(actor) -> int:
    return create_workflow(actor, chain("reaped", node("start", "trigger.manual")))


def test_a_stale_run_is_queued_again_then_given_up_with_a_reason(stack, make_actor) -> None:
    actor = make_actor()
    execution_id = executions.start(actor, _workflow(actor), {})
    now = datetime.now(UTC)
    stale = now - timedelta(seconds=executions.LEASE_S + 1)

    for _ in range(executions.MAX_RECOVERIES):
        _left_running(execution_id, stale)
        assert execution_id in executions.reap(now).requeued
        assert load_execution(execution_id).status == ExecutionStatus.QUEUED
    _left_running(execution_id, stale)
    report = executions.reap(now)

    assert execution_id in report.failed
    row = load_execution(execution_id)
    assert row.status == ExecutionStatus.FAILED
    assert row.error == (
        "its worker (gone@host/1) stopped answering 4 times; the run was given up. "
        "Retry it when the workers are healthy"
    )
    assert row.finished_at is not None
    last = events_after(execution_id)[-1]
    assert last.type == "execution.failed" and last.data["error"] == row.error


def test_a_run_with_a_fresh_heartbeat_is_left_alone(stack, make_actor) -> None:
    actor = make_actor()
    execution_id = executions.start(actor, _workflow(actor), {})
    now = datetime.now(UTC)
    _left_running(execution_id, now - timedelta(seconds=executions.LEASE_S - 2))

    report = executions.reap(now)

    assert execution_id not in report.requeued + report.failed
    assert load_execution(execution_id).status == ExecutionStatus.RUNNING


def _tokens(broker: redis.Redis) -> list[int]:
    """The execution ids of the run tokens waiting in the queue, oldest first."""
    raws = reversed(broker.lrange(QUEUE, 0, -1))  # LPUSH: the newest is first
    return [json.loads(base64.b64decode(json.loads(raw)["body"]))[0][0] for raw in raws]


def test_only_runs_whose_token_was_lost_get_another(stack, make_actor) -> None:
    """A backlog is not a loss: a run queued behind the oldest waiting token keeps its own,
    where the nudge used to send every late run a second one."""
    broker = redis.Redis.from_url(stack.redis_url)
    broker.delete(QUEUE)
    actor = make_actor()
    workflow_id = _workflow(actor)
    lost = [executions.start(actor, workflow_id, {}) for _ in range(2)]
    broker.delete(QUEUE)  # a Redis restarted with nothing on disk
    behind = [executions.start(actor, workflow_id, {}) for _ in range(2)]
    assert _tokens(broker) == behind
    late = datetime.now(UTC) + timedelta(seconds=PICKUP_S + 1)

    nudged = executions.reap(late).nudged

    ours = set(lost + behind)
    assert [i for i in nudged if i in ours] == lost
    assert [i for i in _tokens(broker) if i in ours] == behind + lost
