"""Files: one row per stored file; its bytes live in the file store under ``key``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger
from sqlmodel import Column, Field, SQLModel

from agentflow_app.models.base import UTCDateTime, utcnow


class StoredFile(SQLModel, table=True):
    """A file someone uploaded or a step produced.

    ``execution_id`` is the run the file came in with or was made by; the file is deleted
    with it (retention). A file uploaded but not yet used by a run has none. ``owner_id``
    (who uploaded it) and ``workspace_id`` are None for files of ``agentflow run``.
    """

    __tablename__ = "files"

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int | None = Field(
        default=None, foreign_key="users.id", ondelete="SET NULL", index=True
    )
    #: The workspace it belongs to (issue 18); None only for ``agentflow run``.
    workspace_id: int | None = Field(
        default=None, foreign_key="workspaces.id", index=True, ondelete="CASCADE"
    )
    execution_id: int | None = Field(
        default=None, foreign_key="executions.id", ondelete="SET NULL", index=True
    )
    #: Random hex; where the bytes are in the store (never derived from the name).
    key: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=255)
    media_type: str = Field(max_length=200)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    sha256: str = Field(max_length=64)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
