"""Event payloads and ``status_after``: the one fold of events into statuses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from agentflow_app.engine.events import (
    PAYLOADS,
    Event,
    EventType,
    execution_status_after,
    status_after,
    step_status_after,
)
from agentflow_app.engine.status import ExecutionStatus, StepStatus
from tests.helpers.engine_builders import document, edge, node, run_doc

EXPECTED = {
    "execution.queued": ExecutionStatus.QUEUED,
    "execution.started": ExecutionStatus.RUNNING,
    "execution.waiting": ExecutionStatus.WAITING,
    "execution.succeeded": ExecutionStatus.SUCCEEDED,
    "execution.failed": ExecutionStatus.FAILED,
    "execution.cancelled": ExecutionStatus.CANCELLED,
    "step.started": StepStatus.RUNNING,
    "step.waiting": StepStatus.WAITING,
    "step.succeeded": StepStatus.SUCCEEDED,
    "step.failed": StepStatus.FAILED,
    "step.skipped": StepStatus.SKIPPED,
    "step.log": None,
    "step.token": None,
}


def test_the_table_covers_every_event_type_of_the_spec() -> None:
    assert set(EXPECTED) == {str(t) for t in EventType}
    assert set(PAYLOADS) == set(EventType)


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_status_after_every_event_type(kind: str) -> None:
    event = Event(execution_id=1, seq=1, ts=datetime.now(UTC), type=kind)
    expected = EXPECTED[kind]
    assert status_after(event) == expected
    assert status_after(kind) == expected
    assert status_after(EventType(kind)) == expected
    # The two narrow readers see only their own subject's statuses.
    about_step = kind.startswith("step.")
    assert EventType(kind).about_step is about_step
    assert step_status_after(event) == (expected if about_step else None)
    assert execution_status_after(event) == (None if about_step else expected)


def test_status_after_refuses_an_unknown_type() -> None:
    with pytest.raises(ValueError):
        status_after("execution.exploded")


async def test_every_event_a_run_emits_fits_its_payload_model() -> None:
    doc = document(
        [
            node("start", "test.trigger"),
            node("talk", "test.chatty", tokens=3),
            node("bad", "test.flaky", failures=1, permanent=True),
            node("yes", "test.condition", expression="false"),
            node("never", "test.echo"),
        ],
        [
            edge("start", "talk"),
            edge("talk", "bad"),
            edge("start", "yes"),
            edge("yes", "never", "true"),
        ],
    )
    result, store = await run_doc(doc)
    assert result.status == ExecutionStatus.FAILED
    seen = {event.type for event in store.events}
    assert {EventType.STEP_LOG, EventType.STEP_TOKEN, EventType.STEP_FAILED} <= seen
    assert EventType.STEP_SKIPPED in seen
    for event in store.events:
        payload = event.payload
        assert isinstance(payload, PAYLOADS[event.type])
    failed = next(e for e in store.events if e.type == EventType.EXECUTION_FAILED)
    assert failed.payload.error == result.error


def test_a_payload_missing_a_required_field_is_refused() -> None:
    event = Event(execution_id=1, seq=2, ts=datetime.now(UTC), type="step.failed", data={})
    with pytest.raises(ValidationError, match="error"):
        _ = event.payload
