"""`agentflow worker` is a plain Celery worker that announces itself through Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx

from agentflow_app.api.app import create_api
from tests.helpers.suite import ROOT


async def _workers() -> int:
    transport = httpx.ASGITransport(app=create_api())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return (await client.get("/api/health")).json()["workers"]


async def test_worker_heartbeat_appears_and_goes_with_it(stack) -> None:
    env = os.environ | {"REDIS_URL": stack.redis_url, "DB_URL": stack.db_url}
    worker = subprocess.Popen(
        [sys.executable, "-m", "agentflow_app", "worker", "--concurrency", "1", "--name", "probe"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while await _workers() != 1:
            assert worker.poll() is None, "the worker exited at start"
            assert time.monotonic() < deadline, "the worker never announced itself"
            time.sleep(0.3)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
        assert await _workers() == 0
    finally:
        if worker.poll() is None:
            worker.kill()


def test_a_thread_pool_worker_runs_executions_side_by_side(stack, tmp_path) -> None:
    from agentflow_app.engine.status import TERMINAL_EXECUTION
    from agentflow_app.services import executions, users, workflows
    from agentflow_app.services.executions import execution_record

    actor = users.create_user(f"pool-{os.getpid()}-{time.time_ns()}@example.com", "pool pw 12")
    document = {
        "schema_version": 1,
        "name": "pool",
        "nodes": [
            {"id": "start", "type": "trigger.manual", "data": {"config": {}}},
            {"id": "shape", "type": "transform.template", "data": {"config": {"template": "hi"}}},
            {
                "id": "out",
                "type": "output",
                "data": {"config": {"value": "{{ nodes.shape.output.text }}"}},
            },
        ],
        "edges": [
            {"id": "e1", "source": "start", "target": "shape"},
            {"id": "e2", "source": "shape", "target": "out"},
        ],
    }
    workflow_id = workflows.create(actor, document).id
    env = os.environ | {"REDIS_URL": stack.redis_url, "DB_URL": stack.db_url}
    argv = [sys.executable, "-m", "agentflow_app", "worker", "--pool", "threads"]
    argv += ["--concurrency", "4", "--name", "threaded"]
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        ids = [executions.start(actor, workflow_id, {}) for _ in range(12)]
        deadline = time.monotonic() + 120
        while not all(execution_record(i)["status"] in TERMINAL_EXECUTION for i in ids):
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the runs did not finish"
            time.sleep(0.2)
        records = [execution_record(i) for i in ids]
        assert [r["status"] for r in records] == ["succeeded"] * 12
        assert {r["outputs"]["value"] for r in records} == {"hi"}
        assert "concurrency: 4 (thread)" in (tmp_path / "worker.log").read_text()
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)


def test_worker_without_redis_says_what_to_set(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["AGENTFLOW_DATA_DIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "agentflow_app", "worker"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "agentflow: no Redis: set REDIS_URL, or start `agentflow serve`, which runs an embedded one"
    )


def test_runs_per_process_sets_how_many_executions_a_process_runs_at_once(stack, tmp_path):
    from agentflow_app.services import executions, users
    from agentflow_app.services.executions import load_execution
    from tests.fakes.slow_server import SlowServer
    from tests.helpers.executions import (
        counted_workflow,
        create_workflow,
        most_at_once,
        wait_finished,
    )

    actor = users.create_user(f"slots-{os.getpid()}-{time.time_ns()}@example.com", "slots pw 12")
    server = SlowServer()
    flow = create_workflow(actor, counted_workflow(server, delay_ms=1500))
    env = os.environ | {
        "REDIS_URL": stack.redis_url,
        "DB_URL": stack.db_url,
        "AGENTFLOW_ALLOW_PRIVATE_NETWORK": "true",
    }
    argv = [sys.executable, "-m", "agentflow_app", "worker", "--concurrency", "1"]
    argv += ["--runs-per-process", "2", "--name", "slots"]
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        started = [executions.start(actor, flow, {"n": n}) for n in range(5)]
        wait_finished(*started)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
        server.close()
    rows = [load_execution(i) for i in started]
    assert [row.status for row in rows] == ["succeeded"] * 5
    assert most_at_once([(row.started_at, row.finished_at) for row in rows]) == 2
