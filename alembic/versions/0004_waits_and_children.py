"""Durable waits and child runs (issue 13): approvals, wake times, caller links

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 17:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from agentflow_app.migrate import sqlite_rebuilds

from agentflow_app.models.base import JSONType, UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with sqlite_rebuilds(op.get_bind(), "0004"):
        _upgrade()


def _upgrade() -> None:
    with op.batch_alter_table("executions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("caller_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("caller_node", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("item_index", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("wake_at", UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("wake_pending", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_foreign_key(
            "fk_executions_caller_id", "executions", ["caller_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_index("ix_executions_status_wake", ["status", "wake_at"])
        batch_op.create_index("ix_executions_caller", ["caller_id", "caller_node", "item_index"])
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "execution_id",
            sa.Integer(),
            sa.ForeignKey("executions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("node_id", sa.String(length=200), nullable=False),
        sa.Column(
            "owner_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column("approvers", JSONType, nullable=False),
        sa.Column("message", sa.String(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.String(), nullable=True),
        sa.Column("decided_by", sa.String(length=320), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("extra", JSONType, nullable=False),
        sa.UniqueConstraint("execution_id", "node_id", name="uq_approval_step"),
    )
    op.create_index("ix_approvals_owner_id", "approvals", ["owner_id"])
    op.create_index("ix_approvals_status", "approvals", ["status"])


def downgrade() -> None:
    with sqlite_rebuilds(op.get_bind(), "0004"):
        _downgrade()


def _downgrade() -> None:
    op.drop_index("ix_approvals_status", table_name="approvals")
    op.drop_index("ix_approvals_owner_id", table_name="approvals")
    op.drop_table("approvals")
    with op.batch_alter_table("executions", schema=None) as batch_op:
        batch_op.drop_index("ix_executions_caller")
        batch_op.drop_index("ix_executions_status_wake")
        batch_op.drop_constraint("fk_executions_caller_id", type_="foreignkey")
        batch_op.drop_column("wake_pending")
        batch_op.drop_column("wake_at")
        batch_op.drop_column("item_index")
        batch_op.drop_column("caller_node")
        batch_op.drop_column("caller_id")
