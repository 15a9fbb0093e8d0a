"""Keeping the history tidy: finished executions are deleted after their retention.

``AGENTFLOW_EXECUTION_RETENTION_DAYS`` (30 by default, 0 keeps everything) applies to every
workflow that does not set its own ``retention_days``. Only finished runs go (succeeded,
failed, cancelled), counted from when they ended; a run that is queued, running or
waiting stays however old it is. Rows go in batches of :data:`BATCH`, each its own short
transaction, so the workers' writes are never held up for long; an execution's steps and
events go with it (foreign keys cascade), and so do its files, rows and bytes, and a child's link to a pruned parent is cleared.
``tasks.maintenance`` runs :func:`prune` every :data:`PRUNE_EVERY_S`.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, or_, select

from agentflow_app.db import get_engine
from agentflow_app.engine.status import TERMINAL_EXECUTION
from agentflow_app.models import Workflow
from agentflow_app.services import files
from agentflow_app.services.executions.rows import EXECUTIONS
from agentflow_app.settings import get_settings

log = logging.getLogger(__name__)

#: Executions deleted per transaction.
BATCH = 500
#: How often the workers prune (seconds).
PRUNE_EVERY_S = 3600.0

W = Workflow.__table__


def retention_days() -> int:
    """How long finished runs are kept unless their workflow says otherwise (0: for ever)."""
    return get_settings().agentflow_execution_retention_days


def prune(now: datetime | None = None, batch: int = BATCH) -> int:
    """Delete finished executions past their retention; the number deleted."""
    now = now or datetime.now(UTC)
    finished = EXECUTIONS.c.status.in_([str(s) for s in TERMINAL_EXECUTION])
    with get_engine().connect() as conn:
        overrides = conn.execute(
            select(W.c.id, W.c.retention_days).where(W.c.retention_days.is_not(None))
        ).all()
    deleted = 0
    for workflow_id, days in overrides:
        cutoff = now - timedelta(days=days)
        deleted += _delete_in_batches(
            and_(
                finished, EXECUTIONS.c.workflow_id == workflow_id, EXECUTIONS.c.finished_at < cutoff
            ),
            batch,
        )
    if days := retention_days():
        own_rule = select(W.c.id).where(W.c.retention_days.is_not(None))
        deleted += _delete_in_batches(
            and_(
                finished,
                EXECUTIONS.c.finished_at < now - timedelta(days=days),
                or_(EXECUTIONS.c.workflow_id.is_(None), EXECUTIONS.c.workflow_id.not_in(own_rule)),
            ),
            batch,
        )
    if deleted:
        log.info("retention: deleted %s finished executions", deleted)
    return deleted


def _delete_in_batches(condition: ColumnElement[bool], batch: int) -> int:
    engine = get_engine()
    deleted = 0
    while True:
        with engine.begin() as conn:
            ids = (
                conn.execute(select(EXECUTIONS.c.id).where(condition).limit(batch)).scalars().all()
            )
            if not ids:
                return deleted
            keys = files.delete_for_executions(conn, ids)
            conn.execute(delete(EXECUTIONS).where(EXECUTIONS.c.id.in_(ids)))
        files.forget_blobs(keys)  # after the commit: no row can point at deleted bytes
        deleted += len(ids)
