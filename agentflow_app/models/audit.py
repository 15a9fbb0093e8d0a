"""The audit log (append-only) and the instance settings an admin changes at run time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Column, Field, SQLModel

from agentflow_app.models.base import JSONType, UTCDateTime, utcnow


class AuditEvent(SQLModel, table=True):
    """One audited action: who (id and email as they were), what, on what, when, from where.

    ``actor_id`` has no foreign key on purpose: the record outlives the account it names
    (a deleted user's sign-ins stay readable under ``actor_email``), and on PostgreSQL a
    trigger refuses every UPDATE and DELETE, which a cascading key would need.
    ``workspace_id`` is null until workspaces exist; owners will then see theirs.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_action_at", "action", "at"),
        Index("ix_audit_events_actor_at", "actor_id", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    actor_id: int | None = None
    actor_email: str = Field(default="", max_length=320)
    action: str = Field(max_length=64)
    target_type: str = Field(default="", max_length=32)
    target_id: str = Field(default="", max_length=64)
    workspace_id: int | None = None
    address: str = Field(default="", max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))


class InstanceSetting(SQLModel, table=True):
    """A setting an admin changes in the console (``signup_mode``); it beats the env var."""

    __tablename__ = "instance_settings"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=200)
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
