"""File names are labels only, cleaned before they are stored or sent in a header."""

from __future__ import annotations

import pytest

from agentflow_app.files.names import MAX_NAME, attachment_header, clean_name


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("invoice.pdf", "invoice.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\ada\\report.docx", "report.docx"),
        ('evil"; filename="x.html', "evil_ filename=_x.html"),
        ("line\r\nSet-Cookie: a=b.txt", "line_Set-Cookie_ a=b.txt"),
        ("\u202etxt.exe", "txt.exe"),  # right-to-left override dropped
        ("...", "file"),
        ("", "file"),
        (None, "file"),
    ],
)
def test_names_are_cleaned(raw: str | None, clean: str) -> None:
    assert clean_name(raw) == clean


def test_long_names_keep_their_extension() -> None:
    name = clean_name("a" * 500 + ".pdf")
    assert len(name) <= MAX_NAME
    assert name.endswith(".pdf")


def test_the_header_is_an_attachment_with_an_ascii_fallback_and_the_utf8_name() -> None:
    header = attachment_header("résumé 2026.pdf")
    assert header.startswith('attachment; filename="r_sum_ 2026.pdf"; ')
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9%202026.pdf" in header
