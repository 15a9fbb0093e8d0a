"""The claim's oldest queued run in one index entry; the status index folded into another.

A claim takes its owner's oldest queued run. ``ix_executions_owner_status`` finds the
owner's queued runs, but ``min(id)`` over them read every one: a ``flow.map`` of 5,000
items queues 5,000 runs of one owner, so each of their claims read up to 5,000 entries.
PostgreSQL keeps an index's equal keys in the order of their place in the table, not of
their ids. A partial index on ``(owner_id, id)`` of queued runs answers with its first
entry, and stays as small as the queue. SQLite orders equal keys by id, so it found the
oldest with one entry already (3 µs with 200,000 queued); it gets the index too, so that
both databases keep one schema, at the cost of one entry per queued run.

``ix_executions_status`` is dropped: ``ix_executions_status_wake`` begins with the same
column and serves every search by status, and a run's status changes three times, each
change writing an entry in every index on it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUED = sa.text("status = 'queued'")


def upgrade() -> None:
    op.create_index(
        "ix_executions_owner_queued",
        "executions",
        ["owner_id", "id"],
        postgresql_where=QUEUED,
        sqlite_where=QUEUED,
    )
    op.drop_index("ix_executions_status", table_name="executions")


def downgrade() -> None:
    op.create_index("ix_executions_status", "executions", ["status"])
    op.drop_index("ix_executions_owner_queued", table_name="executions")
