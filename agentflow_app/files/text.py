"""A file's ``text`` as templates see it (``{{ inputs.doc.text }}``): the first
:data:`MAX_CHARS` characters of a text file, decoded as UTF-8.

Only text types have one (``text/*``, JSON, XML, NDJSON and ``+json``/``+xml`` types);
asking for the text of a PDF, an image or a spreadsheet is an error that points at
``file.extract``, which is the node that turns those into text. The cap keeps one template
from pulling a 25 MiB log into a step's config: at most ``4 × MAX_CHARS`` bytes are read
from the store (UTF-8 takes at most four bytes a character), however large the file.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable

from agentflow_app.files.sniff import is_textual

#: Characters of a file's text a template sees; the rest is cut off (``size`` tells the
#: whole file's size in bytes).
MAX_CHARS = 100_000


class NotText(Exception):
    """The file is not of a text type, so it has no ``text``."""


def has_text(media_type: str) -> bool:
    """Whether files of ``media_type`` have a ``text`` for templates."""
    return is_textual(media_type) or media_type.endswith("+xml")


def capped_text(name: str, media_type: str, chunks: Iterable[bytes]) -> str:
    """The first :data:`MAX_CHARS` characters of the bytes (undecodable bytes become
    U+FFFD; a UTF-8 byte-order mark is dropped); reads no more than it needs.

    Raises:
        NotText: ``media_type`` is not a text type, naming the file.
    """
    if not has_text(media_type):
        raise NotText(
            f"file {name!r} is {media_type}, not text, so it has no .text: "
            "use a file.extract step to read PDF, DOCX or XLSX files"
        )
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
    parts: list[str] = []
    count = 0
    for chunk in chunks:
        part = decoder.decode(chunk[: 4 * MAX_CHARS])
        parts.append(part)
        count += len(part)
        if count >= MAX_CHARS:
            break
    else:
        parts.append(decoder.decode(b"", final=True))
    return "".join(parts)[:MAX_CHARS]
