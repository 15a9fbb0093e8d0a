"""An index on executions (owner_id, status): claiming a run no longer reads its owner's past.

Every claim counts the owner's running runs and finds their oldest queued one. With only
(owner_id, created_at) and (status) to choose from, a planner without statistics of the
table searched the first, which visits every run the owner ever started: 27 ms a claim
after 100,000 runs on SQLite (which AgentFlow never analyzes), 4 ms on PostgreSQL before
autovacuum's analyze, against about 0.5 ms with this index (bench/claims.py).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 00:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_executions_owner_status", "executions", ["owner_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_executions_owner_status", table_name="executions")
