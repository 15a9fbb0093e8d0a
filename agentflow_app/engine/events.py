"""The closed set of execution events (SPEC §8), their payloads, and the record of one step.

On the wire an event stays exactly SPEC §8's ``{execution_id, seq, ts, type, node_id?,
data}``; :data:`PAYLOADS` gives each type's ``data`` a model (:meth:`Event.payload`): the
fields each type carries, checked against what the runner emits
(``tests/unit/engine/test_engine_events.py``). :func:`status_after` is the one place that
says which status an event leaves its execution or step in; the store, the live view,
the node-test panel and the CLI all fold events through it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentflow_app.engine.status import ExecutionStatus, StepStatus


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

    @property
    def about_step(self) -> bool:
        """Whether the event is about one step (it then has a ``node_id``)."""
        return self.startswith("step.")


# -- payloads: one model per event type ---------------------------------------------------


class Payload(BaseModel):
    """The ``data`` of an event. Unknown keys are kept: a plugin's log may add its own."""

    model_config = ConfigDict(extra="allow")


class ExecutionQueued(Payload):
    #: Queued again by ``/retry``.
    retry: bool = False
    #: Queued again by the reaper after its worker died; ``reason`` says why.
    recovered: bool = False
    reason: str | None = None
    #: A schedule's fire time (ISO), and whether it was missed while nothing ran.
    scheduled_for: str | None = None
    missed: bool | None = None
    #: A node test: the node it is of.
    test_of: str | None = None


class ExecutionStarted(Payload):
    #: Whether it resumed past steps a previous attempt finished.
    resumed: bool = False


class StepStarted(Payload):
    node_type: str
    attempt: int


class StepLog(Payload):
    message: str


class StepToken(Payload):
    text: str


class StepWaiting(Payload):
    #: What the step waits for, in words.
    reason: str | None = None
    #: When the step runs again even if nothing happens (ISO), if ever.
    wake_at: str | None = None
    #: The node's wait state (an approval's message and links, a map's progress).
    state: dict[str, Any] = Field(default_factory=dict)


class StepSucceeded(Payload):
    output: Any = None
    output_truncated: bool = False
    duration_ms: float | None = None
    usage: dict[str, Any] | None = None


class StepFailed(Payload):
    error: str
    attempts: int | None = None


class StepSkipped(Payload):
    pass


class ExecutionWaiting(Payload):
    #: The nodes the run waits on.
    nodes: list[str] = Field(default_factory=list)
    #: The earliest time a waiting step asked to run again (ISO), if any.
    wake_at: str | None = None
    usage: dict[str, Any] = Field(default_factory=dict)


class ExecutionSucceeded(Payload):
    outputs: dict[str, Any] = Field(default_factory=dict)
    usage: dict[str, Any] = Field(default_factory=dict)


class ExecutionFailed(Payload):
    error: str
    usage: dict[str, Any] = Field(default_factory=dict)


class ExecutionCancelled(Payload):
    usage: dict[str, Any] = Field(default_factory=dict)


#: The payload model of every event type.
PAYLOADS: dict[EventType, type[Payload]] = {
    EventType.EXECUTION_QUEUED: ExecutionQueued,
    EventType.EXECUTION_STARTED: ExecutionStarted,
    EventType.STEP_STARTED: StepStarted,
    EventType.STEP_LOG: StepLog,
    EventType.STEP_TOKEN: StepToken,
    EventType.STEP_WAITING: StepWaiting,
    EventType.STEP_SUCCEEDED: StepSucceeded,
    EventType.STEP_FAILED: StepFailed,
    EventType.STEP_SKIPPED: StepSkipped,
    EventType.EXECUTION_WAITING: ExecutionWaiting,
    EventType.EXECUTION_SUCCEEDED: ExecutionSucceeded,
    EventType.EXECUTION_FAILED: ExecutionFailed,
    EventType.EXECUTION_CANCELLED: ExecutionCancelled,
}

_STATUS_AFTER: dict[EventType, ExecutionStatus | StepStatus] = {
    EventType.EXECUTION_QUEUED: ExecutionStatus.QUEUED,
    EventType.EXECUTION_STARTED: ExecutionStatus.RUNNING,
    EventType.EXECUTION_WAITING: ExecutionStatus.WAITING,
    EventType.EXECUTION_SUCCEEDED: ExecutionStatus.SUCCEEDED,
    EventType.EXECUTION_FAILED: ExecutionStatus.FAILED,
    EventType.EXECUTION_CANCELLED: ExecutionStatus.CANCELLED,
    EventType.STEP_STARTED: StepStatus.RUNNING,
    EventType.STEP_WAITING: StepStatus.WAITING,
    EventType.STEP_SUCCEEDED: StepStatus.SUCCEEDED,
    EventType.STEP_FAILED: StepStatus.FAILED,
    EventType.STEP_SKIPPED: StepStatus.SKIPPED,
}


def status_after(event: Event | EventType | str) -> ExecutionStatus | StepStatus | None:
    """The status an event leaves its subject in, or None when it changes none.

    An ``execution.*`` event answers an :class:`ExecutionStatus`, a ``step.*`` event a
    :class:`StepStatus` of its node; ``step.log`` and ``step.token`` change nothing.

    Raises:
        ValueError: ``event`` names no event type.
    """
    kind = EventType(event.type if isinstance(event, Event) else event)
    return _STATUS_AFTER.get(kind)


def execution_status_after(event: Event | EventType | str) -> ExecutionStatus | None:
    """:func:`status_after` for readers that only follow the execution's own status."""
    status = status_after(event)
    return status if isinstance(status, ExecutionStatus) else None


def step_status_after(event: Event | EventType | str) -> StepStatus | None:
    """:func:`status_after` for readers that only follow steps."""
    status = status_after(event)
    return status if isinstance(status, StepStatus) else None


class Event(BaseModel):
    """One event as stored, published on ``agentflow:execution:<id>`` and streamed."""

    execution_id: int | str
    seq: int
    ts: datetime
    type: EventType
    node_id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def payload(self) -> Payload:
        """``data`` as its type's model (:data:`PAYLOADS`).

        Raises:
            pydantic.ValidationError: the data lacks a field its type requires.
        """
        return PAYLOADS[self.type].model_validate(self.data)


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
