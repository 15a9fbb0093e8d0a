"""``agentflow run FILE.json`` end to end: a real process, the embedded SQLite, exit codes."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from agentflow_app.cli.run import run_command
from tests.helpers.databases import CountingServer, counting_server
from tests.helpers.suite import ROOT

__all__ = ["counting_server"]


def node(node_id: str, type_: str, config: dict[str, Any], label: str = "") -> dict[str, Any]:
    return {
        "id": node_id,
        "type": type_,
        "position": {"x": 0, "y": 0},
        "data": {"label": label, "config": config},
    }


def chain(*nodes: dict[str, Any]) -> dict[str, Any]:
    """A workflow running ``nodes`` one after the other."""
    edges = [
        {"id": f"e{i}", "source": a["id"], "target": b["id"]}
        for i, (a, b) in enumerate(itertools.pairwise(nodes))
    ]
    return {"schema_version": 1, "name": "cli test", "nodes": list(nodes), "edges": edges}


GREETING = chain(
    node(
        "start",
        "trigger.manual",
        {
            "inputs": [
                {"name": "who", "type": "string", "required": True},
                {"name": "times", "type": "integer", "default": 1},
                {"name": "loud", "type": "boolean", "default": False},
            ]
        },
        label="Start",
    ),
    node("greet", "transform.template", {"template": "Hello {{ inputs.who }}"}),
    node(
        "out",
        "output",
        {"fields": {"greeting": "{{ nodes.greet.output.text }}", "times": "{{ inputs.times }}"}},
    ),
)


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a fresh install: defaults only, data in a temp dir."""
    env = {k: v for k, v in os.environ.items() if k not in ("DB_URL", "REDIS_URL")}
    env["AGENTFLOW_DATA_DIR"] = str(tmp_path / "data")
    env["AGENTFLOW_ALLOW_PRIVATE_NETWORK"] = "true"
    return env


def write(tmp_path: Path, document: dict[str, Any] | str, name: str = "flow.json") -> Path:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def executions_in(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM executions").fetchone()[0]


def agentflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentflow_app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_success_prints_the_record_and_exits_0(tmp_path, cli_env):
    flow = write(tmp_path, GREETING)

    done = agentflow(cli_env, "run", str(flow), "--input", "who=Ann", "-i", "times=3", "--json")

    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["status"] == "succeeded"
    assert record["inputs"] == {"who": "Ann", "times": 3, "loud": False}
    assert record["outputs"] == {"greeting": "Hello Ann", "times": 3}
    assert [(s["node_id"], s["status"]) for s in record["steps"]] == [
        ("start", "succeeded"),
        ("greet", "succeeded"),
        ("out", "succeeded"),
    ]
    assert record["finished_at"] is not None
    # Progress went to stderr, one line per step change (stderr is not a terminal here).
    assert "greet succeeded" in done.stderr
    assert (tmp_path / "data" / "agentflow.db").exists()


def test_progress_and_summary_without_json(tmp_path, cli_env):
    flow = write(tmp_path, GREETING)

    done = agentflow(cli_env, "run", str(flow), "-i", "who=Bo")

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "[3/3] out succeeded" in "\n".join(lines)
    assert any(line.startswith("execution ") and line.endswith(" succeeded") for line in lines)
    assert '"greeting": "Hello Bo"' in done.stdout


def test_a_failing_workflow_exits_1(tmp_path, cli_env, counting_server: CountingServer):
    flow = write(
        tmp_path,
        chain(
            node("start", "trigger.manual", {}),
            node("fetch", "http.request", {"url": f"{counting_server.url}/missing"}),
            node("after", "transform.template", {"template": "never"}),
        ),
    )

    done = agentflow(cli_env, "run", str(flow), "--json")

    assert done.returncode == 1, done.stderr
    record = json.loads(done.stdout)
    assert record["status"] == "failed"
    assert "fetch" in record["error"]
    steps = {s["node_id"]: s for s in record["steps"]}
    assert steps["fetch"]["status"] == "failed"
    assert "404" in steps["fetch"]["error"]
    assert "after" not in steps or steps["after"]["status"] == "pending"
    assert counting_server.count("/missing") == 1


def test_validation_problems_are_listed_and_exit_2(tmp_path, cli_env):
    flow = write(
        tmp_path,
        chain(
            node("start", "trigger.manual", {}),
            node("odd", "acme.unknown", {}),
            node("t", "transform.template", {"template": "x", "colour": "red"}),
        ),
    )

    done = agentflow(cli_env, "run", str(flow))

    assert done.returncode == 2
    assert "node 'odd', field 'type': unknown node type 'acme.unknown'" in done.stderr
    assert "node 't', field 'config.colour'" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert executions_in(tmp_path / "data" / "agentflow.db") == 0


def test_bad_inputs_name_the_input_and_exit_2(tmp_path, cli_env):
    flow = write(tmp_path, GREETING)

    done = agentflow(cli_env, "run", str(flow), "-i", "times=many", "-i", "colour=red", "--json")

    assert done.returncode == 2
    answer = json.loads(done.stdout)
    fields = {p["field"]: p["message"] for p in answer["problems"]}
    assert fields["inputs.who"] == "input 'who' is required"
    assert "must be an integer" in fields["inputs.times"]
    assert "unknown input 'colour'" in fields["inputs.colour"]
    assert "field 'inputs.times'" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"nodes": [', "is not valid JSON: Expecting value at line 1, column 12"),
        ("[1, 2]", "must hold a JSON object"),
    ],
)
def test_unreadable_files_exit_2(tmp_path, cli_env, content, message):
    done = agentflow(cli_env, "run", str(write(tmp_path, content)))

    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_file_and_bad_input_syntax_exit_2(tmp_path, cli_env):
    missing = agentflow(cli_env, "run", str(tmp_path / "nope.json"))
    bad_pair = agentflow(cli_env, "run", str(write(tmp_path, GREETING)), "-i", "who")

    assert missing.returncode == 2
    assert "cannot read" in missing.stderr and "nope.json" in missing.stderr
    assert bad_pair.returncode == 2
    assert "--input expects NAME=VALUE, got 'who'" in bad_pair.stderr


def test_the_command_in_process(tmp_path, cli_env, monkeypatch):
    for key in ("DB_URL", "REDIS_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AGENTFLOW_DATA_DIR", cli_env["AGENTFLOW_DATA_DIR"])
    from agentflow_app.db import engine_for
    from agentflow_app.settings import reset_settings

    reset_settings()
    engine_for.cache_clear()
    try:
        ok = CliRunner().invoke(
            run_command, [str(write(tmp_path, GREETING)), "-i", "who=Cy", "--json"]
        )
        resumed = CliRunner().invoke(run_command, ["--resume", "1"])
    finally:
        reset_settings()
        engine_for.cache_clear()

    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["outputs"]["greeting"] == "Hello Cy"
    assert resumed.exit_code == 2
    assert "execution 1 has already succeeded; nothing to resume" in resumed.stderr


def test_ctrl_c_cancels_the_run(tmp_path, cli_env, counting_server: CountingServer):
    flow = write(
        tmp_path,
        chain(
            node("start", "trigger.manual", {}),
            node("wait", "http.request", {"url": f"{counting_server.url}/block"}),
            node("after", "transform.template", {"template": "never"}),
        ),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "agentflow_app", "run", str(flow), "--json"],
        cwd=ROOT,
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 180  # a guard against a hung test, not a measurement
    while counting_server.count("/block") == 0 and process.poll() is None:
        assert time.monotonic() < deadline, "the run never reached the blocking step"
        time.sleep(0.05)

    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)

    assert process.returncode == 1, err
    record = json.loads(out)
    assert record["status"] == "cancelled"
    steps = {s["node_id"]: s["status"] for s in record["steps"]}
    assert steps["wait"] == "cancelled"
    assert "after" not in steps or steps["after"] == "pending"
    assert "cancelling" in err
