"""``http.request`` with files: multipart and raw uploads arrive byte for byte at a real
server, and binary answers are kept as files of the run (text and JSON stay inline)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentflow_app.engine.errors import NodeError
from agentflow_app.net.client import GuardedClient
from agentflow_app.nodes.http import HttpRequest
from agentflow_app.services import files
from agentflow_app.services.files import DbFileHost
from tests.fakes.file_server import PNG, FileServer
from tests.fakes.servers import serve_asgi
from tests.helpers.node_context import node_context, run_node
from tests.helpers.stack import Stack
from tests.helpers.users import Account, new_account

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
PDF = (SAMPLES / "invoice.pdf").read_bytes()
CSV = (SAMPLES / "leads.csv").read_bytes()


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FileServer, str]]:
    fake = FileServer()
    with serve_asgi(fake.app) as url:
        yield fake, url


@pytest.fixture
def owner(module_stack: Stack) -> Account:
    return new_account("http-files")


def _ctx(http: GuardedClient, owner: Account, **inputs):
    return node_context(
        http=http, inputs=inputs, services={"files": DbFileHost(None, owner.actor.id)}
    )


async def test_files_go_as_multipart_parts_with_the_body_fields(
    http: GuardedClient, owner: Account, server
) -> None:
    fake, url = server
    pdf = files.store_file(owner.actor.id, "invoice.pdf", None, [PDF]).as_json()
    csv = files.store_file(owner.actor.id, "leads.csv", None, [CSV]).as_json()
    out = await run_node(
        HttpRequest,
        {
            "method": "POST",
            "url": f"{url}/upload",
            "files": {"doc": "{{ inputs.pdf }}", "sheets": "{{ inputs.many }}"},
            "body": {"note": "{{ inputs.note }}"},
        },
        _ctx(http, owner, pdf=pdf, many=[csv, csv], note="weekly"),
    )
    assert out["body"] == {"ok": True, "parts": 4}
    pdf_hash, csv_hash = hashlib.sha256(PDF).hexdigest(), hashlib.sha256(CSV).hexdigest()
    assert fake.received[-1]["parts"] == [
        {"field": "note", "value": "weekly"},
        {
            "field": "doc",
            "filename": "invoice.pdf",
            "content_type": "application/pdf",
            "sha256": pdf_hash,
        },
        {
            "field": "sheets",
            "filename": "leads.csv",
            "content_type": "text/csv",
            "sha256": csv_hash,
        },
        {
            "field": "sheets",
            "filename": "leads.csv",
            "content_type": "text/csv",
            "sha256": csv_hash,
        },
    ]


async def test_a_file_body_goes_raw_with_its_type(
    http: GuardedClient, owner: Account, server
) -> None:
    fake, url = server
    pdf = files.store_file(owner.actor.id, "invoice.pdf", None, [PDF]).as_json()
    await run_node(
        HttpRequest,
        {"method": "PUT", "url": f"{url}/raw", "body": "{{ inputs.pdf }}"},
        _ctx(http, owner, pdf=pdf),
    )
    assert fake.received[-1] == {
        "content_type": "application/pdf",
        "sha256": hashlib.sha256(PDF).hexdigest(),
    }


async def test_binary_answers_become_files_and_text_stays_text(
    http: GuardedClient, owner: Account, server
) -> None:
    _, url = server
    ctx = _ctx(http, owner)
    out = await run_node(HttpRequest, {"url": f"{url}/chart.png"}, ctx)
    ref = out["body"]
    assert ref["name"] == "chart.png"
    assert ref["media_type"] == "image/png"
    _, chunks = files.download(owner.actor, ref["$file"])
    assert b"".join(chunks) == PNG
    # A server that mislabels its answer: the bytes decide the type.
    out = await run_node(HttpRequest, {"url": f"{url}/mislabelled"}, ctx)
    assert out["body"]["name"] == "report.pdf"
    assert out["body"]["media_type"] == "image/png"
    out = await run_node(HttpRequest, {"url": f"{url}/notes.txt"}, ctx)
    assert out["body"] == "plain words"
    out = await run_node(HttpRequest, {"url": f"{url}/notes.txt", "response_file": "always"}, ctx)
    assert out["body"]["media_type"] == "text/plain"
    out = await run_node(HttpRequest, {"url": f"{url}/chart.png", "response_file": "never"}, ctx)
    assert isinstance(out["body"], str)


async def test_someone_elses_file_cannot_be_sent(
    http: GuardedClient, owner: Account, server
) -> None:
    fake, url = server
    stranger = new_account("stranger")
    theirs = files.store_file(stranger.actor.id, "t.pdf", None, [PDF]).as_json()
    before = len(fake.received)
    with pytest.raises(NodeError, match=f"file {theirs['$file']} not found"):
        await run_node(
            HttpRequest,
            {"method": "POST", "url": f"{url}/upload", "files": {"doc": "{{ inputs.f }}"}},
            _ctx(http, owner, f=theirs),
        )
    assert len(fake.received) == before
