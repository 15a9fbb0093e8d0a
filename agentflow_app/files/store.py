"""The one interface every file store speaks, and the streaming write they share.

Bytes go through in chunks of :data:`CHUNK`: an upload is hashed, counted and checked
against its limit while it is written, so a 10 MiB file and a 10 GiB one cost a worker
the same memory, and a file over the limit is refused as soon as it passes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

#: Bytes read or written at a time.
CHUNK = 1024 * 1024


class TooLarge(Exception):
    """The bytes passed the limit they were written under; nothing was kept."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"over {limit} bytes")
        self.limit = limit


class MissingBlob(Exception):
    """The store has no bytes under the key (deleted, or a store that was changed)."""


@dataclass(frozen=True)
class Written:
    """What a write measured: the size, the sha256 and the first bytes (for sniffing)."""

    size: int
    sha256: str
    head: bytes


class Measure:
    """Counts, hashes and keeps the head of chunks as they pass, refusing past ``limit``."""

    HEAD = 4096

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.head = b""
        self._hash = hashlib.sha256()

    def __call__(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            if not chunk:
                continue
            self.size += len(chunk)
            if self.size > self.limit:
                raise TooLarge(self.limit)
            if len(self.head) < self.HEAD:
                self.head += chunk[: self.HEAD - len(self.head)]
            self._hash.update(chunk)
            yield chunk

    def written(self) -> Written:
        return Written(size=self.size, sha256=self._hash.hexdigest(), head=self.head)


class FileStore(Protocol):
    """Bytes under opaque keys; keys are random, never derived from a user's file name."""

    def put(self, key: str, chunks: Iterable[bytes], *, limit: int) -> Written:
        """Store the chunks under ``key``; nothing stays when it raises.

        Raises:
            TooLarge: the bytes passed ``limit``.
        """
        ...

    def open(self, key: str) -> Iterator[bytes]:
        """The bytes under ``key``, chunk by chunk.

        Raises:
            MissingBlob: nothing is stored under ``key``.
        """
        ...

    def delete(self, key: str) -> None:
        """Forget ``key``; a key that is already gone is not an error."""
        ...

    def keys_before(self, before: datetime) -> Iterator[str]:
        """The keys of bytes last written before ``before`` (for the sweep of bytes whose
        row is gone); anything in the store that is not a key of ours is left out."""
        ...
