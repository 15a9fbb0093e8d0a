"""Approvals: a ``human.approval`` step's question, who may answer it, and the answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Column, Field, SQLModel

from agentflow_app.models.base import JSONType, UTCDateTime, utcnow


class Approval(SQLModel, table=True):
    """One wait for a decision; decided once (a compare-and-set on ``status``).

    ``status`` is ``pending`` until decided: ``approved``, ``rejected``, ``timeout`` (the
    wait's ``timeout_s`` passed first) or ``closed`` (the run ended otherwise). The signed
    links carry ``id`` and ``nonce``; a link is only as good as its pending row.
    """

    __tablename__ = "approvals"
    __table_args__ = (UniqueConstraint("execution_id", "node_id", name="uq_approval_step"),)

    id: int | None = Field(default=None, primary_key=True)
    execution_id: int = Field(foreign_key="executions.id", ondelete="CASCADE")
    node_id: str = Field(max_length=200)
    owner_id: int | None = Field(
        default=None, foreign_key="users.id", ondelete="SET NULL", index=True
    )
    #: The workspace it belongs to (issue 18); None only for ``agentflow run``.
    workspace_id: int | None = Field(
        default=None, foreign_key="workspaces.id", index=True, ondelete="CASCADE"
    )
    #: Lower-cased account emails that may decide besides the owner.
    approvers: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    message: str = ""
    status: str = Field(default="pending", max_length=16, index=True)
    comment: str | None = None
    decided_by: str | None = Field(default=None, max_length=320)
    decided_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    #: When the wait times out (None: never); links expire with it.
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    #: Random per approval, inside the signed links: a leaked signing key alone cannot
    #: forge a link to an approval it has not seen.
    nonce: str = Field(max_length=64)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    extra: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
