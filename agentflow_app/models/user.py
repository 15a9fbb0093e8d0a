"""Accounts and their API keys."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Column, Field, SQLModel

from agentflow_app.models.base import UTCDateTime, utcnow


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True, index=True)
    name: str = Field(default="", max_length=200)
    password_hash: str = Field(max_length=512)
    is_admin: bool = False
    #: Bumped on logout-everywhere and password change: tokens carry the version they
    #: were issued under, so one write revokes them all.
    token_version: int = 0
    #: Set by an admin: every token and API key of the account stops working at once
    #: (``services.users.active_actor`` reads it on each request).
    disabled: bool = False
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    #: The workspace the key acts in, and the role it acts with: never higher than its
    #: creator's role there when it was made, and lowered with it (issue 18).
    workspace_id: int = Field(foreign_key="workspaces.id", index=True, ondelete="CASCADE")
    role: str = Field(default="owner", max_length=16)
    name: str = Field(max_length=200)
    #: The first characters of the key, shown in lists so people can tell keys apart.
    prefix: str = Field(max_length=16, index=True)
    key_hash: str = Field(max_length=128, unique=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    last_used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


class RevokedToken(SQLModel, table=True):
    """JWT ids revoked before they expire (logout); pruned once past ``expires_at``."""

    __tablename__ = "revoked_tokens"

    jti: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))
