"""A file's ``text`` in templates, run by a real worker on both stacks (issue 15).

A trigger takes a file; ``transform.template`` renders ``{{ inputs.doc.text }}``. The
worker reads the text from the store only when the template asks, as the run's owner:
a text file gives its text (capped at ``files.text.MAX_CHARS`` characters), a binary one
fails the step with a message that names the file and points at ``file.extract``, and a
reference to another user's file is "not found".
"""

from __future__ import annotations

import os
from pathlib import Path

from agentflow_app.files.text import MAX_CHARS
from agentflow_app.services import executions, files
from agentflow_app.services.executions import execution_record
from tests.helpers.documents import chain, node
from tests.helpers.executions import create_workflow, wait_finished

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def _reader(template: str) -> dict:
    return chain(
        "Read a file's text",
        node("start", "trigger.manual", inputs=[{"name": "doc", "type": "file"}]),
        node("show", "transform.template", template=template),
        node("out", "output", fields={"text": "{{ nodes.show.output.text }}"}),
    )


def _run(actor, template: str, doc: dict) -> dict:
    run = executions.start(actor, create_workflow(actor, _reader(template)), {"doc": doc})
    wait_finished(run)
    return execution_record(run)


def _upload(actor, name: str, data: bytes, media_type: str | None = None) -> dict:
    return files.upload(actor, name, media_type, [data]).as_json()


def test_a_template_reads_a_text_file(stack, make_actor, workers) -> None:
    me = make_actor()
    data = (SAMPLES / "leads.csv").read_bytes()
    doc = _upload(me, "leads.csv", data, "text/csv")
    record = _run(
        me, "{{ inputs.doc.name }} ({{ inputs.doc.size }} bytes):\n{{ inputs.doc.text }}", doc
    )
    assert record["status"] == "succeeded", record["error"]
    assert record["outputs"]["text"] == f"leads.csv ({len(data)} bytes):\n{data.decode()}"


def test_the_text_is_capped(stack, make_actor, workers) -> None:
    me = make_actor()
    line = "é" * 98 + "\n"  # two bytes a character: the cap counts characters
    data = (line * (3 * MAX_CHARS // len(line))).encode()
    doc = _upload(me, "big.txt", data, "text/plain")
    record = _run(me, "{{ inputs.doc.text | length }}|{{ inputs.doc.text[-3:] }}", doc)
    assert record["status"] == "succeeded", record["error"]
    assert record["outputs"]["text"] == f"{MAX_CHARS}|{'é' * 3}"


def test_a_binary_file_has_no_text(stack, make_actor, workers) -> None:
    me = make_actor()
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(2000)
    doc = _upload(me, "scan.png", png, "image/png")
    record = _run(me, "{{ inputs.doc['text'] }}", doc)
    assert record["status"] == "failed"
    step = next(s for s in record["steps"] if s["node_id"] == "show")
    assert "'scan.png' is image/png, not text" in step["error"]
    assert "file.extract" in step["error"]


def test_another_users_file_is_not_found(stack, make_actor, workers) -> None:
    me, other = make_actor(), make_actor()
    theirs = _upload(other, "secret.txt", b"their secret", "text/plain")
    # Not through the run's inputs (those are claimed at start): as a literal reference a
    # step's template builds, which only the text read checks.
    template = (
        '{% set ref = {"$file": ' + str(theirs["$file"]) + ', "name": "x", '
        '"media_type": "text/plain", "size": 1} %}{{ ref.text }}'
    )
    mine = _upload(me, "mine.txt", b"mine", "text/plain")
    record = _run(me, template, mine)
    assert record["status"] == "failed"
    step = next(s for s in record["steps"] if s["node_id"] == "show")
    assert f"file {theirs['$file']} not found" in step["error"]
    assert "their secret" not in str(record)
