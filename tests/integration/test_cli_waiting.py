"""``agentflow run`` on workflows that wait: it prints the links, waits, and goes on.

Real processes on a real database: ``agentflow run`` in one, ``agentflow decide LINK`` in
another, the way a person with two terminals (or a link in a chat) would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from agentflow_app.services.executions import execution_record
from tests.helpers.databases import database
from tests.helpers.suite import ROOT

__all__ = ["database"]


def node(node_id: str, type_: str, **config: Any) -> dict[str, Any]:
    return {"id": node_id, "type": type_, "data": {"label": node_id, "config": config}}


APPROVAL = {
    "schema_version": 1,
    "name": "cli approval",
    "nodes": [
        node("start", "trigger.manual", inputs=[{"name": "amount", "type": "number"}]),
        node("ask", "human.approval", message="Pay {{ inputs.amount }}?"),
        node(
            "yes", "output", fields={"result": "paid", "comment": "{{ nodes.ask.output.comment }}"}
        ),
        node("no", "output", fields={"result": "refused"}),
    ],
    "edges": [
        {"id": "e1", "source": "start", "target": "ask"},
        {"id": "e2", "source": "ask", "target": "yes", "sourceHandle": "approved"},
        {"id": "e3", "source": "ask", "target": "no", "sourceHandle": "rejected"},
    ],
}


def environment(database: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    return env | {"DB_URL": database, "AGENTFLOW_DATA_DIR": str(tmp_path / "data")}


def agentflow(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "agentflow_app", *args],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def read_link(process: subprocess.Popen[str], kind: str) -> str:
    deadline = time.monotonic() + 120  # a guard against a hung test
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            raise AssertionError(f"agentflow run ended early: {process.stderr.read()}")
        if line.strip().startswith(f"{kind}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {kind} link was printed")


def test_run_waits_prints_links_and_goes_on_when_decided(database, tmp_path):
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(APPROVAL))
    env = environment(database, tmp_path)
    running = agentflow(env, "run", str(flow), "--input", "amount=30")
    link = read_link(running, "approve")
    assert "/api/approvals/" in link

    decided = subprocess.run(
        [sys.executable, "-m", "agentflow_app", "decide", link, "-m", "fine"],
        cwd=ROOT,
        env=env,
        text=True,
        capture_output=True,
        timeout=120,
    )
    assert decided.returncode == 0, decided.stderr
    assert decided.stdout.startswith("approved 'ask' of execution ")
    out, err = running.communicate(timeout=120)
    assert running.returncode == 0, err
    assert '"result": "paid"' in out and '"comment": "fine"' in out

    again = subprocess.run(
        [sys.executable, "-m", "agentflow_app", "decide", link],
        cwd=ROOT,
        env=env,
        text=True,
        capture_output=True,
        timeout=120,
    )
    assert again.returncode == 2 and "already approved by link" in again.stderr


def test_no_wait_exits_with_the_id_and_resume_finishes(database, tmp_path):
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(APPROVAL))
    env = environment(database, tmp_path)
    first = agentflow(env, "run", str(flow), "--input", "amount=5", "--no-wait", "--json")
    out, err = first.communicate(timeout=120)
    assert first.returncode == 3, err
    record = json.loads(out)
    assert record["status"] == "waiting"
    reject = next(s for s in record["steps"] if s["node_id"] == "ask")["output"]["reject_url"]
    assert f"agentflow run --resume {record['id']}" in err

    subprocess.run(
        [sys.executable, "-m", "agentflow_app", "decide", reject],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    resumed = agentflow(env, "run", "--resume", str(record["id"]), "--json")
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert json.loads(out)["outputs"] == {"result": "refused"}
    assert execution_record(record["id"])["status"] == "succeeded"


def test_a_timed_wait_runs_to_its_end_without_a_server(database, tmp_path):
    flow = tmp_path / "flow.json"
    flow.write_text(
        json.dumps(
            {
                "schema_version": 1,
                "name": "cli wait",
                "nodes": [
                    node("start", "trigger.manual"),
                    node("pause", "flow.wait", for_s=1),
                    node("out", "output", fields={"waited": "{{ nodes.pause.output.waited_s }}"}),
                ],
                "edges": [
                    {"id": "e1", "source": "start", "target": "pause"},
                    {"id": "e2", "source": "pause", "target": "out"},
                ],
            }
        )
    )
    done = agentflow(environment(database, tmp_path), "run", str(flow), "--json")
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    assert json.loads(out)["outputs"]["waited"] >= 1
