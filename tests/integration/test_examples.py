"""The example the README shows runs as the README says."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.helpers.suite import ROOT


def test_hello_example_runs_headless(tmp_path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentflow_app",
            "run",
            "examples/hello.json",
            "--input",
            "name=Ada",
            "--json",
        ],
        cwd=ROOT,
        env=os.environ | {"AGENTFLOW_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["status"] == "succeeded"
    assert record["outputs"] == {"greeting": "Hello, Ada! Hello, Ada!"}
    assert [step["status"] for step in record["steps"]] == ["succeeded"] * 3
