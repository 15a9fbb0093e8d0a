"""Files on local disk, under ``<data dir>/files`` by default.

A write goes to a temporary name in the same folder and is renamed into place when
complete, so a reader never sees half a file and a refused upload leaves nothing behind.
Keys are random hex made by the service, split two levels deep so no folder grows huge.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

from agentflow_app.files.store import CHUNK, Measure, MissingBlob, Written

_KEY = re.compile(r"^[0-9a-f]{32}$")


class DiskStore:
    """A :class:`~agentflow_app.files.store.FileStore` in a folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        # Keys come from the service, but a path is still never built from anything else.
        if not _KEY.match(key):
            raise ValueError(f"not a file key: {key!r}")
        return self.root / key[:2] / key[2:4] / key

    def put(self, key: str, chunks: Iterable[bytes], *, limit: int) -> Written:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        measure = Measure(limit)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in measure(chunks):
                    handle.write(chunk)
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return measure.written()

    def open(self, key: str) -> Iterator[bytes]:
        try:
            handle = self._path(key).open("rb")
        except FileNotFoundError:
            raise MissingBlob(key) from None
        return _chunks(handle)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    def keys_before(self, before: datetime) -> Iterator[str]:
        cutoff = before.timestamp()
        for path in self.root.glob("[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]/*"):
            if (
                not _KEY.match(path.name)
                or path.name[:4] != path.parent.parent.name + path.parent.name
            ):
                continue
            with contextlib.suppress(FileNotFoundError):  # deleted while we looked
                if path.stat().st_mtime < cutoff:
                    yield path.name


def _chunks(handle) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK):
            yield chunk
