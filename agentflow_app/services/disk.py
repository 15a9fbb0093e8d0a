"""The data disk's free space, and a reserve kept on it for the day it fills.

A full disk stops SQLite from writing anything at all, not even the line that says a run
failed: it would then stay ``running`` with no reason given. So a small file
(:data:`RESERVE_BYTES`) is kept in the data dir while space allows; the first write that
meets a full disk releases it (:func:`note_full`), which leaves room to record why the runs
in flight failed, and says so once in the log. Until there is room to take the reserve
back, the disk counts as full (:func:`status`): health says so and new runs are refused
with the same readable sentence (:class:`DiskFull`). :func:`status` takes the reserve back
once space returns; health and a periodic worker task call it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from pathlib import Path
from typing import Literal

from agentflow_app.errors import AgentFlowError
from agentflow_app.settings import get_settings

log = logging.getLogger(__name__)

RESERVE_NAME = "disk-reserve.bin"
RESERVE_BYTES = 1024 * 1024
#: With the reserve in place, less free space than this is a full disk all the same.
LOW_BYTES = 64 * 1024

DiskState = Literal["ok", "full"]


class DiskFull(AgentFlowError):
    """A write found no space left (the API answers 507); the message names the disk."""

    def __init__(self, path: Path | None = None) -> None:
        where = path or get_settings().data_dir
        super().__init__(f"the data disk is full ({where}): free space and run again")


class _Said:
    """Whether this process has logged the current full disk (once per episode)."""

    full = False


def data_dir() -> Path:
    return get_settings().data_dir


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer may still use on ``path``'s filesystem."""
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def is_enospc(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)


def status() -> DiskState:
    """``"full"`` while the reserve is spent and there is no room to take it back, or the
    disk is nearly full with the reserve in place; takes the reserve (back) when it can."""
    directory = data_dir()
    reserve = directory / RESERVE_NAME
    try:
        free = free_bytes(directory)
    except FileNotFoundError:  # no data dir yet: nothing to fill
        return "ok"
    if reserve.exists():
        return "ok" if free >= LOW_BYTES else "full"
    if free < 2 * RESERVE_BYTES:
        return "full"
    try:
        _write_reserve(reserve)
    except OSError as exc:
        log.warning("could not set aside the disk reserve %s: %s", reserve, exc)
        # Raced with another writer for the space: full. Anything else (a read-only
        # dir) says nothing about room; the writes themselves will say what is wrong.
        return "full" if is_enospc(exc) else "ok"
    if _Said.full:
        log.warning("the data disk %s has free space again; writes resume", directory)
    _Said.full = False
    return "ok"


def _write_reserve(reserve: Path) -> None:
    partial = reserve.with_suffix(".partial")
    try:
        with partial.open("wb") as handle:
            try:
                os.posix_fallocate(handle.fileno(), 0, RESERVE_BYTES)
            except OSError as exc:
                if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                    raise
                handle.write(bytes(RESERVE_BYTES))  # a filesystem without fallocate
        partial.replace(reserve)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def refuse_when_full() -> None:
    """Raise :class:`DiskFull` when :func:`status` says full (before starting new work)."""
    if status() == "full":
        raise DiskFull()


def note_full(path: Path | None = None) -> DiskFull:
    """A write found the disk full: release the reserve so the failures can be recorded,
    log it once, and answer the error to raise."""
    error = DiskFull(path)
    released = False
    with contextlib.suppress(FileNotFoundError):
        (data_dir() / RESERVE_NAME).unlink()
        released = True
    if released or not _Said.full:
        _Said.full = True
        log.error(
            "%s; released the %d KiB reserve so the runs in flight can record why they fail",
            error,
            RESERVE_BYTES // 1024,
        )
    return error
