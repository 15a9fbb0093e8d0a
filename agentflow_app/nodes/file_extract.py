"""``file.extract``: a file's text or rows, so ``flow.map`` or an LLM can use it (SPEC §12).

Reads PDF (pypdf), DOCX (python-docx), XLSX (openpyxl), CSV and plain text in-process; no
shelling out. Everything a hostile file could blow up is bounded before the parser sees
it: the bytes read (:data:`MAX_BYTES`), an Office zip's entry count, total unpacked size
and compression ratio (a zip bomb is refused unopened), PDF pages, rows and characters
returned. A file that does not parse is the step's error, naming the file and the format.
"""

from __future__ import annotations

import asyncio
import csv
import io
import zipfile
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Literal

from pydantic import ConfigDict, Field

from agentflow_app.engine.errors import NodeError
from agentflow_app.engine.node import Node, NodeConfig, RunContext, TemplateStr
from agentflow_app.files.host import file_host
from agentflow_app.files.sniff import is_textual

#: The largest file read (bytes).
MAX_BYTES = 50 * 1024 * 1024
#: An Office file (a zip) may unpack to at most this, in at most this many entries, at a
#: ratio of at most this much unpacked per packed byte.
MAX_UNPACKED = 200 * 1024 * 1024
MAX_ENTRIES = 2000
MAX_RATIO = 200
MAX_PAGES = 1000

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv"
_BY_EXTENSION = {".pdf": PDF, ".docx": DOCX, ".xlsx": XLSX, ".csv": CSV}
_FORMAT_NAMES = {PDF: "PDF", DOCX: "DOCX", XLSX: "XLSX", CSV: "CSV"}


class FileExtract(Node):
    type = "file.extract"
    label = "Extract file"
    icon = "file-text"
    category = "Data"
    description = "Turns a PDF, DOCX, XLSX, CSV or text file into {text} or {rows}."

    class Config(NodeConfig):
        model_config = ConfigDict(extra="forbid", populate_by_name=True)

        file: TemplateStr = Field(
            description="A template giving a file, e.g. {{ inputs.document }}"
        )
        as_: Literal["text", "rows"] = Field(
            default="text",
            alias="as",
            description="text: the words; rows: a list of objects (CSV, XLSX), one per row",
        )
        sheet: str | None = Field(default=None, description="XLSX: the sheet (default: the first)")
        max_chars: int = Field(default=200_000, ge=1, le=10_000_000, description="Text cap")
        max_rows: int = Field(default=10_000, ge=1, le=1_000_000, description="Rows cap")

    async def run(self, ctx: RunContext, config: Config) -> dict[str, Any]:
        ref, data = await file_host(ctx, self.type).read(config.file, limit=MAX_BYTES)
        kind = _kind(ref)
        try:
            result = await asyncio.to_thread(_extract, kind, data, config)
        except NodeError:
            raise
        except Exception as exc:
            what = _FORMAT_NAMES.get(kind, kind)
            raise NodeError(
                f"file.extract: {ref['name']!r} could not be read as {what}: {exc}"
            ) from None
        return {**result, "file": ref}


def _kind(ref: dict[str, Any]) -> str:
    media_type = ref["media_type"]
    if media_type in _FORMAT_NAMES:
        return media_type
    name = ref["name"].lower()
    for extension, kind in _BY_EXTENSION.items():
        # A zip or text file named like a format we read: the sniffed type cannot tell
        # an .xlsx from a .docx, the name can.
        if name.endswith(extension) and media_type in ("application/zip", "text/plain"):
            return kind
    if is_textual(media_type):
        return "text/plain"
    raise NodeError(
        f"file.extract cannot read {media_type} files ({ref['name']!r}); "
        "it reads PDF, DOCX, XLSX, CSV and text"
    )


def _extract(kind: str, data: bytes, config: FileExtract.Config) -> dict[str, Any]:
    if config.as_ == "rows":
        if kind == CSV:
            return _rows(_csv_rows(data, config.max_rows + 1), config.max_rows)
        if kind == XLSX:
            return _rows(_xlsx_rows(data, config.sheet, config.max_rows + 1), config.max_rows)
        raise NodeError(
            f"file.extract: rows come from CSV or XLSX files, not {_FORMAT_NAMES.get(kind, kind)}"
            "; use as: text"
        )
    if kind == PDF:
        text = _pdf_text(data, config.max_chars)
    elif kind == DOCX:
        text = _docx_text(data)
    elif kind == XLSX:
        rows = _xlsx_rows(data, config.sheet, config.max_rows)
        text = "\n".join(
            "\t".join("" if v is None else str(v) for v in row.values()) for row in rows
        )
    else:
        text = _decode(data)
    truncated = len(text) > config.max_chars
    return {"text": text[: config.max_chars], "truncated": truncated}


def _rows(rows: list[dict[str, Any]], cap: int) -> dict[str, Any]:
    return {"rows": rows[:cap], "truncated": len(rows) > cap}


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _csv_rows(data: bytes, limit: int) -> list[dict[str, Any]]:
    text = _decode(data)
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    rows: list[dict[str, Any]] = []
    for row in reader:
        rows.append({key: value for key, value in row.items() if key is not None})
        if len(rows) >= limit:
            break
    return rows


def _check_zip(data: bytes) -> None:
    """Refuse an Office file whose zip would unpack to too much (a zip bomb)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        entries = archive.infolist()
    if len(entries) > MAX_ENTRIES:
        raise NodeError(f"file.extract: the file holds {len(entries)} parts; at most {MAX_ENTRIES}")
    unpacked = sum(entry.file_size for entry in entries)
    packed = sum(entry.compress_size for entry in entries) or 1
    if unpacked > MAX_UNPACKED or unpacked / packed > MAX_RATIO:
        raise NodeError(
            f"file.extract: the file would unpack to {unpacked} bytes from {packed} "
            "(refused as a possible zip bomb)"
        )


def _docx_text(data: bytes) -> str:
    import docx

    _check_zip(data)
    document = docx.Document(io.BytesIO(data))
    parts = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        parts.extend("\t".join(cell.text for cell in row.cells) for row in table.rows)
    return "\n".join(parts)


def _xlsx_rows(data: bytes, sheet: str | None, limit: int) -> list[dict[str, Any]]:
    import openpyxl

    _check_zip(data)
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise NodeError(
                f"file.extract: no sheet {sheet!r}; the sheets are {', '.join(book.sheetnames)}"
            )
        values = (book[sheet] if sheet else book.worksheets[0]).iter_rows(values_only=True)
        header = [
            str(h) if h is not None else f"column_{i + 1}" for i, h in enumerate(next(values, ()))
        ]
        rows: list[dict[str, Any]] = []
        for row in values:
            if all(cell is None for cell in row):
                continue
            rows.append({name: _cell(cell) for name, cell in zip(header, row, strict=False)})
            if len(rows) >= limit:
                break
        return rows
    finally:
        book.close()


def _cell(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _pdf_text(data: bytes, max_chars: int) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        raise NodeError("file.extract: the PDF is encrypted; upload it without a password")
    parts: list[str] = []
    size = 0
    for index, page in enumerate(reader.pages):
        if index >= MAX_PAGES or size > max_chars:
            break
        text = page.extract_text() or ""
        parts.append(text)
        size += len(text)
    return "\n\n".join(parts)
