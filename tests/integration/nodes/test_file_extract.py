"""``file.extract`` on the real sample files under tests/samples, through the app's file
host (the disk store and the database of a fresh SQLite stack)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from agentflow_app.engine.errors import NodeError
from agentflow_app.net.client import GuardedClient
from agentflow_app.nodes.file_extract import FileExtract
from agentflow_app.services import files
from agentflow_app.services.files import DbFileHost
from tests.helpers.node_context import node_context, run_node
from tests.helpers.stack import Stack
from tests.helpers.users import new_account

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.fixture
def owner(module_stack: Stack):
    return new_account("extract")


def _store(owner, name: str, data: bytes | None = None, claimed: str | None = None) -> dict:
    data = (SAMPLES / name).read_bytes() if data is None else data
    return files.store_file(owner.actor.workspace_id, name, claimed, [data]).as_json()


async def _extract(http: GuardedClient, owner, ref: Any, **config: Any) -> dict[str, Any]:
    ctx = node_context(
        http=http,
        inputs={"doc": ref},
        services={"files": DbFileHost(1, owner.actor.workspace_id)},
    )
    return await run_node(FileExtract, {"file": "{{ inputs.doc }}", **config}, ctx)


async def test_pdf_text(http: GuardedClient, owner) -> None:
    out = await _extract(http, owner, _store(owner, "invoice.pdf"))
    assert out["text"] == "Invoice 2026-042\nTotal due: 1,250.00 EUR"
    assert out["file"]["name"] == "invoice.pdf"
    assert out["truncated"] is False


async def test_docx_text_has_paragraphs_and_tables(http: GuardedClient, owner) -> None:
    out = await _extract(http, owner, _store(owner, "notes.docx"))
    assert out["text"].splitlines() == [
        "Meeting notes",
        "Ship the files feature on Friday.",
        "owner\ttask",
        "Ada\ttests",
    ]


async def test_xlsx_rows_by_header(http: GuardedClient, owner) -> None:
    out = await _extract(http, owner, _store(owner, "leads.xlsx"), **{"as": "rows"})
    assert out["rows"] == [
        {
            "email": "ada@example.com",
            "company": "Analytical",
            "score": 42,
            "since": "2026-03-01T00:00:00",
        },
        {
            "email": "grace@example.com",
            "company": "Compilers Inc",
            "score": 7.5,
            "since": "2025-12-24T00:00:00",
        },
    ]
    missing = _store(owner, "leads.xlsx")
    with pytest.raises(NodeError, match="no sheet 'Nope'; the sheets are Leads, Empty"):
        await _extract(http, owner, missing, **{"as": "rows", "sheet": "Nope"})


async def test_csv_rows_and_text_with_caps(http: GuardedClient, owner) -> None:
    ref = _store(owner, "leads.csv")
    out = await _extract(http, owner, ref, **{"as": "rows", "max_rows": 1})
    assert out["rows"] == [{"email": "ada@example.com", "company": "Analytical", "score": "42"}]
    assert out["truncated"] is True
    text = await _extract(http, owner, ref, max_chars=5)
    assert text == {"text": "email", "truncated": True, "file": ref}


async def test_a_malformed_pdf_is_a_clear_step_error(http: GuardedClient, owner) -> None:
    with pytest.raises(NodeError, match=r"'broken.pdf' could not be read as PDF"):
        await _extract(http, owner, _store(owner, "broken.pdf"))


async def test_a_zip_bomb_is_refused_unopened(http: GuardedClient, owner) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", b"<Types/>")
        archive.writestr("word/document.xml", b"\x00" * (20 * 1024 * 1024))
    ref = _store(owner, "bomb.docx", buffer.getvalue())
    with pytest.raises(NodeError, match="possible zip bomb"):
        await _extract(http, owner, ref)


async def test_rows_from_a_pdf_and_unknown_types_say_what_works(http: GuardedClient, owner) -> None:
    with pytest.raises(NodeError, match="rows come from CSV or XLSX files, not PDF"):
        await _extract(http, owner, _store(owner, "invoice.pdf"), **{"as": "rows"})
    png = _store(owner, "x.png", b"\x89PNG\r\n\x1a\n" + b"\x01" * 64)
    with pytest.raises(NodeError, match="cannot read image/png files"):
        await _extract(http, owner, png)


async def test_only_the_runs_owner_files_can_be_read(http: GuardedClient, owner) -> None:
    stranger = new_account("stranger")
    theirs = files.store_file(stranger.actor.id, "t.csv", None, [b"a,b\n1,2\n"]).as_json()
    with pytest.raises(NodeError, match=f"file {theirs['$file']} not found"):
        await _extract(http, owner, theirs)
    with pytest.raises(NodeError, match="not a file"):
        await _extract(http, owner, "just text")
