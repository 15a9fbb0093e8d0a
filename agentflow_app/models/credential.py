"""Credentials: encrypted values (db backend) or references (aws backend)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Column, Field, SQLModel

from agentflow_app.models.base import UTCDateTime, utcnow


class Credential(SQLModel, table=True):
    __tablename__ = "credentials"
    __table_args__ = (UniqueConstraint("owner_id", "name", name="uq_credential_owner_name"),)

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
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
