"""Credentials: encrypted values (db backend) or references (aws backend)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Column, Field, SQLModel

from agentflow_app.models.base import UTCDateTime, utcnow


class Credential(SQLModel, table=True):
    __tablename__ = "credentials"
    __table_args__ = (
        UniqueConstraint("workspace_id", "name", name="uq_credential_workspace_name"),
    )

    id: int | None = Field(default=None, primary_key=True)
    #: The workspace it belongs to (issue 18): who may see and use it.
    workspace_id: int = Field(foreign_key="workspaces.id", index=True, ondelete="CASCADE")
    #: Who created it (None once that account is deleted: the workspace keeps it).
    owner_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    name: str = Field(max_length=200)
    kind: str = Field(max_length=32)
    #: Fernet token of the JSON value; null when the value lives in AWS Secrets Manager.
    ciphertext: str | None = None
    #: ARN of the secret when AGENTFLOW_SECRETS_BACKEND=aws.
    external_ref: str | None = Field(default=None, max_length=2048)
    #: The masked tail shown in lists (``••••1234``); never enough to be useful.
    hint: str = Field(default="", max_length=32)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    last_used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
