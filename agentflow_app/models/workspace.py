"""Workspaces, who belongs to them with which role, and invitations to join (issue 18).

Every workflow, credential, execution, file, API key and approval belongs to a workspace;
the ``owner_id`` those rows keep says who created (or started) them, nothing more.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Column, Field, SQLModel

from agentflow_app.models.base import UTCDateTime, utcnow


class WorkspaceRole(StrEnum):
    """A member's role, highest first (``services.workspaces`` says what each may do)."""

    OWNER = "owner"
    EDITOR = "editor"
    RUNNER = "runner"
    VIEWER = "viewer"


class Workspace(SQLModel, table=True):
    """A shared space, or an account's personal one (``personal_of`` set, one per account,
    deleted with it)."""

    __tablename__ = "workspaces"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    personal_of: int | None = Field(
        default=None, foreign_key="users.id", ondelete="CASCADE", unique=True
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )


class Membership(SQLModel, table=True):
    __tablename__ = "memberships"

    workspace_id: int = Field(foreign_key="workspaces.id", primary_key=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="users.id", primary_key=True, index=True, ondelete="CASCADE")
    #: A :class:`WorkspaceRole` value (a plain string column: a new role is no DDL change).
    role: str = Field(max_length=16)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )


class WorkspaceInvitation(SQLModel, table=True):
    """An invitation to join with a role; the link carries a random token whose hash is
    kept here, so the table alone cannot be used to join."""

    __tablename__ = "workspace_invitations"

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspaces.id", index=True, ondelete="CASCADE")
    email: str = Field(max_length=320)
    role: str = Field(max_length=16)
    token_hash: str = Field(max_length=128, unique=True)
    invited_by: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    accepted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
