"""File names as users give them, made safe to store, show and send back in a header.

A name is only ever a label: bytes live under random keys, so a name cannot reach a path.
It is still cleaned, because it comes back in ``Content-Disposition``, in templates and
in e-mails: folders, control characters, quotes and odd Unicode forms are dropped, and
length is capped with the extension kept.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

MAX_NAME = 200
_UNSAFE = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|;]+')


def clean_name(raw: str | None, fallback: str = "file") -> str:
    """A safe display name for ``raw``: no folders, controls or quotes; never empty."""
    name = unicodedata.normalize("NFC", raw or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name).strip(" .")
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    if not name:
        return fallback
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        ext = ext[:16] if dot and stem else ""
        name = name[: MAX_NAME - len(ext) - 1].rstrip(" .") + ("." + ext if ext else "")
    return name


def attachment_header(name: str) -> str:
    """``Content-Disposition: attachment`` with an ASCII fallback and the RFC 5987 name."""
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
