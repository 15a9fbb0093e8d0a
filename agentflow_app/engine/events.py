"""The closed set of execution events (SPEC §8) and the record of one step."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from agentflow_app.engine.status import StepStatus


class EventType(StrEnum):
    EXECUTION_QUEUED = "execution.queued"
    EXECUTION_STARTED = "execution.started"
    STEP_STARTED = "step.started"
    STEP_LOG = "step.log"
    STEP_TOKEN = "step.token"
    STEP_WAITING = "step.waiting"
    STEP_SUCCEEDED = "step.succeeded"
    STEP_FAILED = "step.failed"
    STEP_SKIPPED = "step.skipped"
    EXECUTION_WAITING = "execution.waiting"
    EXECUTION_SUCCEEDED = "execution.succeeded"
    EXECUTION_FAILED = "execution.failed"
    EXECUTION_CANCELLED = "execution.cancelled"

    @property
    def terminal(self) -> bool:
        return self in {
            EventType.EXECUTION_SUCCEEDED,
            EventType.EXECUTION_FAILED,
            EventType.EXECUTION_CANCELLED,
        }


class Event(BaseModel):
    """One event as stored, published on ``agentflow:execution:<id>`` and streamed."""

    execution_id: int | str
    seq: int
    ts: datetime
    type: EventType
    node_id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class StepRecord(BaseModel):
    """The durable state of one node in one execution."""

    node_id: str
    type: str
    status: StepStatus = StepStatus.PENDING
    attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    output: Any = None
    output_truncated: bool = False
    error: str | None = None
    usage: dict[str, Any] | None = None
