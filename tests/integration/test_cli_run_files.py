"""``agentflow run FILE --input doc=@invoice.pdf``: a real process stores the file, the
run's ``file.extract`` step reads it, and the record carries the reference, not bytes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentflow_app.errors import InvalidInput
from agentflow_app.services import files
from tests.helpers.documents import chain, node
from tests.helpers.suite import ROOT

SAMPLES = Path(__file__).resolve().parents[1] / "samples"

READ_INVOICE = chain(
    "Read an invoice",
    node("start", "trigger.manual", inputs=[{"name": "doc", "type": "file", "required": True}]),
    node("read", "file.extract", file="{{ inputs.doc }}"),
    node(
        "out",
        "output",
        fields={"text": "{{ nodes.read.output.text }}", "name": "{{ inputs.doc.name }}"},
    ),
)


def _agentflow(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DB_URL", "REDIS_URL")}
    env["AGENTFLOW_DATA_DIR"] = str(tmp_path / "data")
    return subprocess.run(
        [sys.executable, "-m", "agentflow_app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_a_file_input_from_a_path_is_stored_and_extracted(tmp_path: Path) -> None:
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(READ_INVOICE))
    pdf = SAMPLES / "invoice.pdf"
    done = _agentflow(tmp_path, "run", str(flow), "--input", f"doc=@{pdf}", "--json")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["outputs"] == {
        "text": "Invoice 2026-042\nTotal due: 1,250.00 EUR",
        "name": "invoice.pdf",
    }
    doc = record["inputs"]["doc"]
    assert doc["media_type"] == "application/pdf"
    assert doc["size"] == pdf.stat().st_size
    stored = [p for p in (tmp_path / "data" / "files").rglob("*") if p.is_file()]
    assert [p.read_bytes() for p in stored] == [pdf.read_bytes()]


def test_a_missing_path_names_the_input() -> None:
    # Refused before anything is stored or queued (in-process: no need for a process).
    with pytest.raises(InvalidInput, match=r"input 'doc': cannot read /nonexistent/x\.pdf"):
        files.inputs_from_paths({"doc": "@/nonexistent/x.pdf", "who": "ada"})
