"""A worker process runs several executions at once, as many as its slots, and a worker
stopped on purpose lets them end before it exits.

Each run here waits on a slow web site, as a real run waits on its LLM: a process with one
run at a time would hold the others queued behind it.
"""

from __future__ import annotations

import secrets
import signal
from collections.abc import Iterator

import pytest

from agentflow_app.services import executions, users
from agentflow_app.services.executions import load_execution
from agentflow_app.services.users import Actor
from tests.fakes.slow_server import SlowServer
from tests.helpers.executions import (
    counted_workflow,
    create_workflow,
    most_at_once,
    status_of,
    wait_finished,
    wait_until,
)
from tests.helpers.stack import Stack
from tests.helpers.users import PASSWORD
from tests.helpers.workers import worker_pool


@pytest.fixture
def slow_server(stack: Stack) -> Iterator[SlowServer]:
    server = SlowServer()
    yield server
    server.close()


@pytest.fixture
def actor(stack: Stack) -> Actor:
    return users.create_user(f"x{secrets.token_hex(4)}@example.com", PASSWORD)


def test_one_process_runs_as_many_executions_at_once_as_it_has_slots(
    stack, slow_server, actor, tmp_path
):
    flow = create_workflow(actor, counted_workflow(slow_server, delay_ms=1500))
    with worker_pool(stack, tmp_path, AGENTFLOW_RUNS_PER_PROCESS="3") as pool:
        pool.start("slots", concurrency=1)  # one pool process
        started = [executions.start(actor, flow, {"n": n}) for n in range(7)]
        wait_finished(*started)

    rows = [load_execution(i) for i in started]
    assert [row.status for row in rows] == ["succeeded"] * 7
    assert most_at_once([(row.started_at, row.finished_at) for row in rows]) == 3
    assert sum(slow_server.hits.values()) == 7, "no step ran twice"


def test_a_worker_told_to_stop_lets_its_runs_end_first(stack, slow_server, actor, tmp_path):
    flow = create_workflow(actor, counted_workflow(slow_server, delay_ms=3000, path="/long"))
    with worker_pool(stack, tmp_path) as pool:
        worker = pool.start("draining", concurrency=1)
        started = [executions.start(actor, flow, {"n": n}) for n in range(2)]
        wait_until(lambda: sum(slow_server.hits.values()) == 2, "both runs to call the site")
        worker.process.send_signal(signal.SIGTERM)  # what `docker stop` sends the main process
        assert worker.process.wait(timeout=60) == 0, worker.log.read_text()[-3000:]
        statuses = [status_of(i) for i in started]

    assert statuses == ["succeeded", "succeeded"], "ended before the worker exited"
    assert sum(slow_server.hits.values()) == 2


def test_more_runs_at_once_than_the_database_pool_holds_by_default(
    stack, slow_server, actor, tmp_path
):
    # A run holds a database connection from its first write to its end; the pool grows
    # with the slots (SQLite's held 15 before, PostgreSQL's 30), or the runs would wait
    # on each other's connections behind the process's few database threads.
    flow = create_workflow(actor, counted_workflow(slow_server, delay_ms=2000, path="/many"))
    with worker_pool(
        stack,
        tmp_path,
        AGENTFLOW_RUNS_PER_PROCESS="40",
        AGENTFLOW_MAX_CONCURRENT_EXECUTIONS="100",  # the owner's limit is 20
    ) as pool:
        pool.start("wide", concurrency=1)
        started = [executions.start(actor, flow, {"n": n}) for n in range(40)]
        wait_finished(*started)

    rows = [load_execution(i) for i in started]
    assert [row.status for row in rows] == ["succeeded"] * 40, [row.error for row in rows]
    assert most_at_once([(row.started_at, row.finished_at) for row in rows]) > 30
