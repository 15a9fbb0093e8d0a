"""Where the runner keeps what it has done: the one sink interface (store + publish).

The runner never touches a database or Redis; it talks to an :class:`ExecutionStore`.
``MemoryStore`` serves tests and benchmarks; the durable store over the database (and the
Redis publisher) lives in ``services/`` and implements the same protocol.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from agentflow_app.engine.events import Event, EventType, StepRecord


class ExecutionStore(Protocol):
    async def load_steps(self) -> dict[str, StepRecord]:
        """Steps recorded so far (empty for a new run); a resumed run starts from them."""
        ...

    async def save_step(self, step: StepRecord) -> None:
        """Persist a step's state; called when it starts, on each attempt and when it ends."""
        ...

    async def emit(self, type: EventType, node_id: str | None = None, **data: Any) -> Event:
        """Allocate the next seq, store the event and publish it."""
        ...

    async def emit_soon(self, type: EventType, node_id: str | None = None, **data: Any) -> None:
        """Like :meth:`emit`, without waiting until the event is stored.

        The event keeps its place in the order, and is stored before (or with) whatever
        is emitted after it. The runner uses it where nothing depends on the event being
        durable first: a step without side effects starting, which a crash re-runs anyway.
        """
        ...

    async def emit_nowait(self, type: EventType, node_id: str | None = None, **data: Any) -> None:
        """Like :meth:`emit_soon`, but start storing the event at once rather than waiting
        for company: the runner goes on meanwhile.

        The runner uses it for the end of a step, so the steps after it start while it
        is written. Nothing is weakened by that: a crash before the write lands leaves the
        step as stored when it started (a step with side effects was stored as running
        before it acted, and fails as "may have been sent"; any other runs again); a step
        with side effects starts with a write that :meth:`emit` waits for, stored after
        this one; and the run's end is stored after everything before it.
        """
        ...

    async def cancel_requested(self) -> bool:
        """Whether someone asked to cancel; polled by the runner while it works."""
        ...


class MemoryStore:
    """An in-process store: steps and events in lists, cancellation by a flag."""

    def __init__(self, execution_id: int | str = 0) -> None:
        self.execution_id = execution_id
        self.steps: dict[str, StepRecord] = {}
        self.events: list[Event] = []
        self.cancel = False

    async def load_steps(self) -> dict[str, StepRecord]:
        return {k: v.model_copy() for k, v in self.steps.items()}

    async def save_step(self, step: StepRecord) -> None:
        self.steps[step.node_id] = step.model_copy()

    async def emit(self, type: EventType, node_id: str | None = None, **data: Any) -> Event:
        event = Event(
            execution_id=self.execution_id,
            seq=len(self.events) + 1,
            ts=datetime.now(UTC),
            type=type,
            node_id=node_id,
            data=data,
        )
        self.events.append(event)
        return event

    async def emit_soon(self, type: EventType, node_id: str | None = None, **data: Any) -> None:
        await self.emit(type, node_id, **data)

    async def emit_nowait(self, type: EventType, node_id: str | None = None, **data: Any) -> None:
        await self.emit(type, node_id, **data)

    async def cancel_requested(self) -> bool:
        return self.cancel
