"""The per-user limit (AGENTFLOW_MAX_CONCURRENT_EXECUTIONS): extra runs wait, in order.

Two workers with two pool processes each could run four executions at once; the limit
is two per user, so one user's six runs go two at a time, oldest first, while another
user's run does not wait behind them.
"""

from __future__ import annotations

from agentflow_app.services import executions
from agentflow_app.services.executions import load_execution
from tests.helpers.executions import (
    counted_workflow,
    create_workflow,
    most_at_once,
    wait_finished,
)
from tests.helpers.workers import worker_pool


def test_extra_runs_wait_queued_and_start_in_order(stack, make_actor, slow_server, tmp_path):
    busy, other = make_actor(), make_actor()
    busy_flow = create_workflow(busy, counted_workflow(slow_server, delay_ms=800, path="/busy"))
    other_flow = create_workflow(other, counted_workflow(slow_server, path="/other"))
    with worker_pool(stack, tmp_path, AGENTFLOW_MAX_CONCURRENT_EXECUTIONS="2") as pool:
        pool.start("l1")
        pool.start("l2")
        mine = [executions.start(busy, busy_flow, {"n": n}) for n in range(6)]
        theirs = executions.start(other, other_flow, {"n": 0})
        wait_finished(*mine, theirs)

    rows = [load_execution(i) for i in mine]
    assert [row.status for row in rows] == ["succeeded"] * 6
    by_start = sorted(rows, key=lambda row: row.started_at)
    assert [row.id for row in by_start] == mine, "started in the order they were queued"
    assert most_at_once([(row.started_at, row.finished_at) for row in rows]) == 2
    other_row = load_execution(theirs)
    assert other_row.status == "succeeded"
    assert other_row.started_at < rows[-1].started_at, "the other user did not wait behind"
