"""Workspaces (issue 18): workspaces, memberships, invitations, and a workspace on every
workflow, credential, execution, file, approval and API key.

Upgrade gives every account a personal workspace (it owns it) and moves each object into
its owner's personal workspace, so nothing changes for anyone until they share. The
``owner_id`` of those objects now says who created (or started) them: it is set to NULL,
not cascaded, when that account is deleted, since a shared workspace keeps its objects.

Downgrade puts each object back under its creator; what no account created any more
(its creator was deleted) is dropped, and a credential name one person used in two
workspaces gets the workspace's id appended, since names were unique per person before.

On SQLite, batch mode rebuilds each table (copy, DROP, rename), and with foreign keys on a
DROP deletes the rows of every table referencing it first (ON DELETE CASCADE): rebuilding
``workflows`` and ``executions`` would empty workflow_versions, executions, step_runs,
execution_events and approvals. So the rebuilds run inside ``migrate.sqlite_rebuilds``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from agentflow_app.migrate import sqlite_rebuilds
from agentflow_app.models.base import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Batch mode (SQLite) names the unnamed foreign keys of the copied table by this rule, so
#: they can be dropped; PostgreSQL named them ``<table>_<column>_fkey``.
_NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}

#: table -> (the column naming the account, whether every row has a workspace)
_OWNED = {
    "workflows": ("owner_id", True),
    "credentials": ("owner_id", True),
    "executions": ("owner_id", False),
    "files": ("owner_id", False),
    "approvals": ("owner_id", False),
    "api_keys": ("user_id", True),
}
#: Tables whose ``owner_id`` foreign key goes from CASCADE to SET NULL.
_CREATOR_KEYS = ("workflows", "credentials", "executions", "files", "approvals")


def _fk_name(table: str, column: str, referred: str) -> str:
    if op.get_bind().dialect.name == "postgresql":
        return f"{table}_{column}_fkey"
    return f"fk_{table}_{column}_{referred}"


def _batch(table: str):
    return op.batch_alter_table(table, naming_convention=_NAMING)


def upgrade() -> None:
    with sqlite_rebuilds(op.get_bind(), "0007"):
        _upgrade()


def downgrade() -> None:
    # With foreign keys still on, so the runs and versions of a dropped workflow go with it.
    op.execute("DELETE FROM workflows WHERE owner_id IS NULL")
    op.execute("DELETE FROM credentials WHERE owner_id IS NULL")
    with sqlite_rebuilds(op.get_bind(), "0007"):
        _downgrade()


def _upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "personal_of",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=True,
            unique=True,
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "memberships",
        sa.Column(
            "workspace_id",
            sa.Integer(),
            sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_memberships_user_id", "memberships", ["user_id"])
    op.create_table(
        "workspace_invitations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "workspace_id",
            sa.Integer(),
            sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False, unique=True),
        sa.Column(
            "invited_by",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("accepted_at", UTCDateTime(), nullable=True),
    )
    op.create_index(
        "ix_workspace_invitations_workspace_id", "workspace_invitations", ["workspace_id"]
    )
    op.execute(
        "INSERT INTO workspaces (name, personal_of, created_at) "
        "SELECT 'Personal', id, created_at FROM users"
    )
    op.execute(
        "INSERT INTO memberships (workspace_id, user_id, role, created_at) "
        "SELECT id, personal_of, 'owner', created_at FROM workspaces"
    )
    for table, (column, _) in _OWNED.items():
        with _batch(table) as batch:
            batch.add_column(sa.Column("workspace_id", sa.Integer(), nullable=True))
            if table == "api_keys":
                batch.add_column(
                    sa.Column("role", sa.String(length=16), nullable=False, server_default="owner")
                )
        op.execute(
            f"UPDATE {table} SET workspace_id = (SELECT w.id FROM workspaces w "
            f"WHERE w.personal_of = {table}.{column})"
        )
    for table, (_, required) in _OWNED.items():
        with _batch(table) as batch:
            batch.alter_column("workspace_id", existing_type=sa.Integer(), nullable=not required)
            batch.create_foreign_key(
                f"fk_{table}_workspace_id",
                "workspaces",
                ["workspace_id"],
                ["id"],
                ondelete="CASCADE",
            )
            if table in _CREATOR_KEYS:
                batch.drop_constraint(_fk_name(table, "owner_id", "users"), type_="foreignkey")
                batch.create_foreign_key(
                    f"fk_{table}_owner_id", "users", ["owner_id"], ["id"], ondelete="SET NULL"
                )
            if table in {"workflows", "credentials"}:
                batch.alter_column("owner_id", existing_type=sa.Integer(), nullable=True)
            if table == "workflows":
                batch.drop_index("ix_workflows_owner_updated")
                batch.create_index("ix_workflows_workspace_updated", ["workspace_id", "updated_at"])
            elif table == "credentials":
                batch.drop_index("ix_credentials_owner_id")
                batch.drop_constraint("uq_credential_owner_name", type_="unique")
                batch.create_unique_constraint(
                    "uq_credential_workspace_name", ["workspace_id", "name"]
                )
                batch.create_index("ix_credentials_workspace_id", ["workspace_id"])
            elif table == "executions":
                batch.create_index(
                    "ix_executions_workspace_created", ["workspace_id", "created_at"]
                )
            else:
                batch.create_index(f"ix_{table}_workspace_id", ["workspace_id"])


def _downgrade() -> None:
    op.execute(
        "UPDATE credentials SET name = name || ' (workspace ' || workspace_id || ')' "
        "WHERE workspace_id NOT IN (SELECT id FROM workspaces WHERE personal_of IS NOT NULL) "
        "AND EXISTS (SELECT 1 FROM credentials other WHERE other.owner_id = credentials.owner_id "
        "AND other.name = credentials.name AND other.id <> credentials.id)"
    )
    for table in reversed(_OWNED):
        with _batch(table) as batch:
            if table == "workflows":
                batch.drop_index("ix_workflows_workspace_updated")
                batch.create_index("ix_workflows_owner_updated", ["owner_id", "updated_at"])
            elif table == "credentials":
                batch.drop_index("ix_credentials_workspace_id")
                batch.drop_constraint("uq_credential_workspace_name", type_="unique")
                batch.create_unique_constraint("uq_credential_owner_name", ["owner_id", "name"])
                batch.create_index("ix_credentials_owner_id", ["owner_id"])
            elif table == "executions":
                batch.drop_index("ix_executions_workspace_created")
            else:
                batch.drop_index(f"ix_{table}_workspace_id")
            if table in {"workflows", "credentials"}:
                batch.alter_column("owner_id", existing_type=sa.Integer(), nullable=False)
            if table in _CREATOR_KEYS:
                batch.drop_constraint(f"fk_{table}_owner_id", type_="foreignkey")
                batch.create_foreign_key(
                    _fk_name(table, "owner_id", "users"),
                    "users",
                    ["owner_id"],
                    ["id"],
                    ondelete="CASCADE",
                )
            batch.drop_constraint(f"fk_{table}_workspace_id", type_="foreignkey")
            batch.drop_column("workspace_id")
            if table == "api_keys":
                batch.drop_column("role")
    op.drop_index("ix_workspace_invitations_workspace_id", table_name="workspace_invitations")
    op.drop_table("workspace_invitations")
    op.drop_index("ix_memberships_user_id", table_name="memberships")
    op.drop_table("memberships")
    op.drop_table("workspaces")
