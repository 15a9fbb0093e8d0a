"""Retention: finished runs past their retention go, in batches, while runs go on.

10,000 finished executions from months ago (each with a step and events) are pruned while
another thread keeps queueing new runs; afterwards none of the old ones remains, with
their steps and events, and nothing recent or unfinished was touched. A workflow that sets
its own ``retention_days`` is pruned by that instead of the setting.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select

from agentflow_app.db import get_engine
from agentflow_app.engine.status import ExecutionStatus, StepStatus
from agentflow_app.models import Execution, ExecutionEvent, StepRun
from agentflow_app.services import executions, workflows
from agentflow_app.services.users import Actor
from tests.helpers.documents import manual_document

E, S, EV = Execution.__table__, StepRun.__table__, ExecutionEvent.__table__
OLD = 10_000


def _finished_runs(
    workflow_id: int, owner_id: int, count: int, ended: datetime, status: str
) -> None:
    """``count`` finished executions that ended at ``ended``, each with a step and two events."""
    engine = get_engine()
    with engine.begin() as conn:
        ids = (
            conn.execute(
                insert(E).returning(E.c.id, sort_by_parameter_order=True),
                [
                    {
                        "workflow_id": workflow_id,
                        "owner_id": owner_id,
                        "workflow_version": 1,
                        "document": {},
                        "inputs": {},
                        "trigger": "manual",
                        "status": status,
                        "usage": {},
                        "last_seq": 2,
                        "created_at": ended - timedelta(minutes=1),
                        "started_at": ended - timedelta(minutes=1),
                        "finished_at": ended if status != "waiting" else None,
                    }
                    for _ in range(count)
                ],
            )
            .scalars()
            .all()
        )
        conn.execute(
            insert(S),
            [
                {
                    "execution_id": i,
                    "node_id": "start",
                    "type": "trigger.manual",
                    "status": StepStatus.SUCCEEDED,
                    "attempts": 1,
                    "output": {},
                    "output_truncated": False,
                    "usage": {},
                }
                for i in ids
            ],
        )
        conn.execute(
            insert(EV),
            [
                {
                    "execution_id": i,
                    "seq": seq,
                    "ts": ended,
                    "type": kind,
                    "node_id": None,
                    "data": {},
                }
                for i in ids
                for seq, kind in ((1, "execution.queued"), (2, "execution.succeeded"))
            ],
        )


def _count(*conditions) -> int:
    with get_engine().connect() as conn:
        return conn.execute(select(func.count()).select_from(E).where(*conditions)).scalar_one()


def test_old_runs_are_pruned_in_batches_while_runs_go_on(
    make_actor: Callable[[], Actor], set_env
) -> None:
    set_env(AGENTFLOW_EXECUTION_RETENTION_DAYS="30")
    actor = make_actor()
    shared = workflows.create(actor, manual_document("Kept 30 days")).id
    short = workflows.create(actor, {**manual_document("Kept 1 day"), "retention_days": 1}).id
    now = datetime.now(UTC)
    _finished_runs(shared, actor.id, OLD, now - timedelta(days=90), "succeeded")
    _finished_runs(shared, actor.id, 5, now - timedelta(days=2), "failed")  # within 30 days
    _finished_runs(short, actor.id, 7, now - timedelta(days=2), "succeeded")  # past its 1 day
    _finished_runs(shared, actor.id, 3, now - timedelta(days=90), "waiting")  # not finished
    old_ids = _count(E.c.workflow_id == shared, E.c.finished_at < now - timedelta(days=31))
    assert old_ids == OLD

    made: list[int] = []
    stop = threading.Event()

    def keep_running() -> None:  # new runs queued the whole time the pruner works
        while not stop.is_set():
            made.append(executions.start(actor, shared, {"company": "Acme"}))

    writer = threading.Thread(target=keep_running)
    writer.start()
    try:
        deleted = executions.prune(batch=500)
    finally:
        stop.set()
        writer.join()

    assert deleted == OLD + 7
    assert made, "no run was queued while the pruner worked"
    assert _count(E.c.finished_at < now - timedelta(days=31)) == 0
    assert _count(E.c.workflow_id == short) == 0
    assert _count(E.c.workflow_id == shared, E.c.status == ExecutionStatus.FAILED) == 5
    # Unfinished runs stay (other tests' waiting runs share the database: count ours).
    assert _count(E.c.owner_id == actor.id, E.c.status == ExecutionStatus.WAITING) == 3
    assert _count(E.c.id.in_(made)) == len(made)  # every new run is intact
    with get_engine().connect() as conn:
        orphans = conn.execute(
            select(func.count()).select_from(EV).where(EV.c.execution_id.not_in(select(E.c.id)))
        ).scalar_one()
        orphan_steps = conn.execute(
            select(func.count()).select_from(S).where(S.c.execution_id.not_in(select(E.c.id)))
        ).scalar_one()
    assert (orphans, orphan_steps) == (0, 0)
    assert executions.prune() == 0  # nothing left to do


def test_zero_keeps_everything(make_actor: Callable[[], Actor], set_env) -> None:
    set_env(AGENTFLOW_EXECUTION_RETENTION_DAYS="0")
    actor = make_actor()
    kept = workflows.create(actor, manual_document("Kept for ever")).id
    _finished_runs(kept, actor.id, 3, datetime.now(UTC) - timedelta(days=900), "succeeded")
    assert executions.prune() == 0
    assert _count(E.c.workflow_id == kept) == 3
