"""The media type a file is stored with: sniffed from its bytes, the claim checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentflow_app.files.sniff import TypeMismatch, settle, sniff

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ((SAMPLES / "invoice.pdf").read_bytes(), "application/pdf"),
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0rest", "image/jpeg"),
        (b"GIF89a....", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        ((SAMPLES / "notes.docx").read_bytes()[:64], "application/zip"),
        (b"  <!DOCTYPE html><script>alert(1)</script>", "text/html"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg">', "image/svg+xml"),
        ("naïve café".encode(), "text/plain"),
        ("é".encode()[:1], "text/plain"),  # a character cut at the end of the head
        (b"\x00\x01\x02binary", "application/octet-stream"),
    ],
)
def test_sniffing_reads_the_first_bytes(head: bytes, expected: str) -> None:
    assert sniff(head) == expected


def test_a_claim_the_content_bears_out_is_kept() -> None:
    assert settle("text/csv", "leads.csv", b"a,b\n1,2\n") == "text/csv"
    docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert settle(docx, "notes.docx", (SAMPLES / "notes.docx").read_bytes()[:64]) == docx
    assert settle("image/png; charset=x", "a.png", PNG) == "image/png"


def test_without_a_claim_the_extension_then_the_bytes_decide() -> None:
    assert settle(None, "leads.csv", b"a,b\n") == "text/csv"
    assert settle("application/octet-stream", "photo.png", PNG) == "image/png"
    # The name says PDF, the bytes say PNG: the bytes win when nobody claimed a type.
    assert settle(None, "report.pdf", PNG) == "image/png"


@pytest.mark.parametrize(
    ("claimed", "head"),
    [
        ("image/png", b"%PDF-1.4 ..."),
        ("application/pdf", PNG),
        ("text/plain", b"\x00\x01binary"),
        ("image/jpeg", b"<html><script>alert(1)</script>"),
    ],
)
def test_a_claim_the_content_contradicts_is_refused_naming_the_file(
    claimed: str, head: bytes
) -> None:
    with pytest.raises(TypeMismatch) as caught:
        settle(claimed, "upload.bin", head)
    assert "'upload.bin'" in str(caught.value)
    assert claimed in str(caught.value)
