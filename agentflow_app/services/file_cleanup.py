"""Files nobody can use any more are deleted: the maintenance sweep (issue 15).

Two kinds go, both once they are older than ``AGENTFLOW_UNUSED_FILE_HOURS`` (24 by
default; 0 keeps them):

* **Unused files**: rows that no run holds. An upload the execute dialog made but no run
  took, and a run's file whose run went with its workflow (the foreign key clears the
  link), end up so; nothing can reach them but their owner's download, so after the
  grace period their rows and bytes go.
* **Bytes without a row**: a row the database removed itself (a user deleted in the
  database takes their files' rows with them by the foreign key's cascade), or a process
  that died between writing bytes and their row. The store is listed and every key with
  no row goes. The grace period covers an upload in progress: its bytes are written
  before its row.

Rows go in batches of :data:`BATCH`, each its own short transaction, and their bytes only
after the commit (as retention does), so no row ever points at deleted bytes.
``tasks.maintenance`` runs :func:`sweep` every :data:`SWEEP_EVERY_S`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice

from sqlalchemy import delete, select

from agentflow_app.db import get_engine
from agentflow_app.files.backends import file_store
from agentflow_app.services.files import FILES, forget_blobs
from agentflow_app.settings import get_settings

log = logging.getLogger(__name__)

#: Rows deleted, or store keys looked up, per transaction.
BATCH = 500
#: How often the workers sweep (seconds).
SWEEP_EVERY_S = 3600.0


def grace_hours() -> int:
    """How long an unused file is kept (0: for ever)."""
    return get_settings().agentflow_unused_file_hours


def sweep(now: datetime | None = None, batch: int = BATCH) -> int:
    """Delete unused files and bytes without a row, older than the grace period; how many."""
    if not (hours := grace_hours()):
        return 0
    cutoff = (now or datetime.now(UTC)) - timedelta(hours=hours)
    deleted = _unused(cutoff, batch) + _orphans(cutoff, batch)
    if deleted:
        log.info("files: deleted %s unused files", deleted)
    return deleted


def _unused(cutoff: datetime, batch: int) -> int:
    deleted = 0
    while True:
        with get_engine().begin() as conn:
            ids = list(
                conn.execute(
                    select(FILES.c.id)
                    .where(FILES.c.execution_id.is_(None), FILES.c.created_at < cutoff)
                    .limit(batch)
                ).scalars()
            )
            if not ids:
                return deleted
            # The condition again: a run may have taken one since the select.
            keys = list(
                conn.execute(
                    delete(FILES)
                    .where(FILES.c.id.in_(ids), FILES.c.execution_id.is_(None))
                    .returning(FILES.c.key)
                ).scalars()
            )
        forget_blobs(keys)
        deleted += len(keys)


def _orphans(cutoff: datetime, batch: int) -> int:
    deleted = 0
    for keys in _batched(file_store().keys_before(cutoff), batch):
        with get_engine().connect() as conn:
            known = set(conn.execute(select(FILES.c.key).where(FILES.c.key.in_(keys))).scalars())
        if gone := [key for key in keys if key not in known]:
            forget_blobs(gone)
            deleted += len(gone)
    return deleted


def _batched(items: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
