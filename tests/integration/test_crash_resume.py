"""A run killed with SIGKILL mid-step resumes without repeating finished steps (SPEC §7).

The workflow calls a local HTTP server that counts requests per path; ``/block`` hangs on
its first request, which is when the test kills ``agentflow run``. ``agentflow run
--resume`` (the same ``run_execution`` the worker calls) then finishes the execution.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from agentflow_app.db import get_engine
from agentflow_app.models.execution import Execution
from agentflow_app.services.executions import execution_record
from tests.helpers.databases import CountingServer, counting_server, database, event_seqs
from tests.helpers.suite import ROOT

__all__ = ["counting_server", "database"]


def http_node(node_id: str, url: str, method: str = "GET") -> dict[str, Any]:
    return {
        "id": node_id,
        "type": "http.request",
        "position": {"x": 0, "y": 0},
        "data": {"config": {"method": method, "url": url, "retries": 0}},
    }


def workflow(server: CountingServer, blocking_method: str) -> dict[str, Any]:
    nodes = [
        {"id": "start", "type": "trigger.manual", "data": {"config": {}}},
        http_node("a", f"{server.url}/a"),
        http_node("b", f"{server.url}/b"),
        http_node("block", f"{server.url}/block", blocking_method),
        http_node("d", f"{server.url}/d"),
        {
            "id": "out",
            "type": "output",
            "data": {"config": {"fields": {"block_hit": "{{ nodes.block.output.body.hit }}"}}},
        },
    ]
    edges = [
        {"id": f"e{i}", "source": s["id"], "target": t["id"]}
        for i, (s, t) in enumerate(itertools.pairwise(nodes))
    ]
    return {"schema_version": 1, "name": "crash test", "nodes": nodes, "edges": edges}


def environment(database: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env |= {
        "DB_URL": database,
        "AGENTFLOW_DATA_DIR": str(tmp_path / "data"),
        "AGENTFLOW_ALLOW_PRIVATE_NETWORK": "true",
    }
    return env


def agentflow(env: dict[str, str], *args: str, **popen: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "agentflow_app", *args],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **popen,
    )


def kill_when_blocked(process: subprocess.Popen[str], server: CountingServer) -> None:
    """SIGKILL ``process`` once its run is inside the blocking step."""
    deadline = time.monotonic() + 180  # a guard against a hung test, not a measurement
    while server.count("/block") == 0:
        if process.poll() is not None:
            raise AssertionError(f"agentflow run ended early: {process.communicate()[1]}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("the run never reached the blocking step")
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL


def newest_execution() -> int:
    with get_engine().connect() as conn:
        return conn.execute(select(func.max(Execution.id))).scalar_one()


def resume(env: dict[str, str], execution_id: int) -> tuple[int, dict[str, Any], str]:
    process = agentflow(env, "run", "--resume", str(execution_id), "--json")
    out, err = process.communicate(timeout=180)
    return process.returncode, json.loads(out), err


def test_killed_run_resumes_without_repeating_finished_steps(
    database, counting_server: CountingServer, tmp_path
):
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(workflow(counting_server, "GET")))
    env = environment(database, tmp_path)

    kill_when_blocked(agentflow(env, "run", str(flow), "--json"), counting_server)
    execution_id = newest_execution()
    killed = execution_record(execution_id)
    returncode, record, err = resume(env, execution_id)

    # What the kill left: finished steps stored, the blocking one in flight.
    assert killed["status"] == "running"
    assert {s["node_id"]: s["status"] for s in killed["steps"]} == {
        "start": "succeeded",
        "a": "succeeded",
        "b": "succeeded",
        "block": "running",
    }
    # The resumed run finished; only the step in flight (an idempotent GET) ran again.
    assert returncode == 0, err
    assert record["id"] == execution_id
    assert record["status"] == "succeeded"
    assert record["outputs"] == {"block_hit": 2}
    assert {path: counting_server.count(path) for path in ("/a", "/b", "/block", "/d")} == {
        "/a": 1,
        "/b": 1,
        "/block": 2,
        "/d": 1,
    }
    attempts = {s["node_id"]: (s["status"], s["attempts"]) for s in record["steps"]}
    assert attempts == {
        "start": ("succeeded", 1),
        "a": ("succeeded", 1),
        "b": ("succeeded", 1),
        "block": ("succeeded", 2),
        "d": ("succeeded", 1),
        "out": ("succeeded", 1),
    }
    seqs = event_seqs(execution_id)
    assert seqs == list(range(1, len(seqs) + 1))


def test_a_post_in_flight_is_not_sent_again(database, counting_server: CountingServer, tmp_path):
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(workflow(counting_server, "POST")))
    env = environment(database, tmp_path)

    kill_when_blocked(agentflow(env, "run", str(flow), "--json"), counting_server)
    execution_id = newest_execution()
    returncode, record, _ = resume(env, execution_id)

    assert returncode == 1
    assert record["status"] == "failed"
    steps = {s["node_id"]: s for s in record["steps"]}
    assert steps["block"]["status"] == "failed"
    assert "may have been sent" in steps["block"]["error"]
    assert counting_server.count("/block") == 1
    assert counting_server.count("/a") == 1
    assert counting_server.count("/d") == 0
