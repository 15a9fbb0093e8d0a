"""What a file really is, from its first bytes, checked against what the uploader claims.

A claimed type is a hint, never trusted: a "PNG" that starts like a PDF is refused, and so
is "text" that is binary. Types recognised by their magic bytes must match exactly (the
Office formats are zips, so any zip-based Office type matches a zip); text types need
text. Anything else keeps the claimed type: AgentFlow serves every file as an attachment
with ``nosniff``, so a type only tells nodes (``file.extract``, the LLM blocks) what to do.
"""

from __future__ import annotations

import mimetypes

from agentflow_app.errors import InvalidInput

OCTET = "application/octet-stream"
ZIP = "application/zip"
#: Office formats are zip archives; their claimed type is kept when the bytes are a zip.
ZIP_BASED = {
    ZIP,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
_MAGIC: list[tuple[bytes, str]] = [
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"PK\x03\x04", ZIP),
]
#: Types recognised from their bytes: a claim of one of these must be borne out.
RECOGNISED = {media for _, media in _MAGIC} | {"image/webp"} | ZIP_BASED
#: Text types that are not ``text/*``.
TEXTUAL = {"application/json", "application/xml", "image/svg+xml", "application/x-ndjson"}


class TypeMismatch(InvalidInput):
    """The claimed media type is not what the bytes are."""


def sniff(head: bytes) -> str:
    """The media type the first bytes show: a magic number, else text or octet-stream."""
    for magic, media in _MAGIC:
        if head.startswith(magic):
            return media
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if not _is_text(head):
        return OCTET
    lowered = head.lstrip().lower()
    if lowered.startswith((b"<!doctype html", b"<html")):
        return "text/html"
    if b"<svg" in lowered[:1024] and lowered.startswith((b"<svg", b"<?xml", b"<!--")):
        return "image/svg+xml"
    return "text/plain"


def is_textual(media_type: str) -> bool:
    return media_type.startswith("text/") or media_type in TEXTUAL or media_type.endswith("+json")


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A character cut in two at the end of the head is still text.
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


def settle(claimed: str | None, name: str, head: bytes) -> str:
    """The media type a file is stored with.

    Args:
        claimed: what the uploader said (a multipart part's type); None or
            ``application/octet-stream`` means "don't know", and the name's extension
            is tried instead.
        name: the (sanitised) file name, for the name in messages and the extension.
        head: the file's first bytes.

    Raises:
        TypeMismatch: the claimed type contradicts the content (names the file).
    """
    sniffed = sniff(head)
    explicit = bool(claimed) and _base(claimed) != OCTET
    candidate = _base(claimed) if explicit else mimetypes.guess_type(name)[0]
    if not candidate:
        return sniffed
    if _agrees(candidate, sniffed):
        return candidate
    if not explicit:  # only the extension disagreed: believe the bytes
        return sniffed
    raise TypeMismatch(
        f"file {name!r} was sent as {candidate} but its content is {_describe(sniffed)}; "
        "send it with its real type",
        [{"node_id": None, "field": name, "message": f"content is not {candidate}"}],
    )


def _base(media_type: str | None) -> str:
    return (media_type or "").split(";")[0].strip().lower()


def _agrees(candidate: str, sniffed: str) -> bool:
    if candidate == sniffed:
        return True
    if candidate in ZIP_BASED:
        return sniffed == ZIP
    if candidate in RECOGNISED:
        return False
    if is_textual(candidate):
        return is_textual(sniffed)
    return sniffed == OCTET or sniffed == "text/plain"


def _describe(sniffed: str) -> str:
    if sniffed == OCTET:
        return "binary data of no recognised type"
    return sniffed
