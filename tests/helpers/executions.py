"""Executions end to end: saving a workflow for an actor, the counted workflow that calls a
:class:`~tests.fakes.slow_server.SlowServer`, and reading results back from the database
(an execution's status and events; waiting, with a hang guard, until runs finish)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from agentflow_app.db import get_engine
from agentflow_app.engine.status import TERMINAL_EXECUTION, ExecutionStatus
from agentflow_app.models import Execution
from agentflow_app.services import workflows
from agentflow_app.services.executions import events_after
from agentflow_app.services.users import Actor
from tests.fakes.slow_server import SlowServer
from tests.helpers.documents import chain, node

#: Guards against a hung test; never a measurement.
HANG_GUARD_S = 240.0


def counted_workflow(server: SlowServer, delay_ms: int = 0, path: str = "/hit") -> dict[str, Any]:
    """trigger(n) → GET {server}{path}/<n> → template → output."""
    return chain(
        "counted",
        node(
            "start",
            "trigger.manual",
            inputs=[{"name": "n", "type": "integer", "required": True}],
        ),
        node(
            "fetch",
            "http.request",
            url=server.url + path + "/{{ inputs.n }}",
            query={"delay_ms": str(delay_ms)},
            retries=0,
        ),
        node(
            "shape",
            "transform.template",
            template="run {{ inputs.n }} hit {{ nodes.fetch.output.body.hit }}",
        ),
        node("out", "output", fields={"text": "{{ nodes.shape.output.text }}"}),
    )


def create_workflow(actor: Actor, document: dict[str, Any]) -> int:
    return workflows.create(actor, document).id


def status_of(execution_id: int) -> ExecutionStatus:
    with get_engine().connect() as conn:
        return ExecutionStatus(
            conn.execute(
                Execution.__table__.select()
                .with_only_columns(Execution.__table__.c.status)
                .where(Execution.__table__.c.id == execution_id)
            ).scalar_one()
        )


def wait_until(check: Callable[[], bool], what: str, guard_s: float = HANG_GUARD_S) -> None:
    deadline = time.monotonic() + guard_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.1)


def wait_finished(*execution_ids: int) -> None:
    wait_until(
        lambda: all(status_of(i) in TERMINAL_EXECUTION for i in execution_ids),
        f"executions {execution_ids} to finish",
    )


def event_types(execution_id: int) -> list[tuple[str, str | None]]:
    return [(str(e.type), e.node_id) for e in events_after(execution_id)]


def most_at_once(spans: list[tuple[datetime, datetime]]) -> int:
    """The largest number of spans (runs' start and end) that overlap at one instant."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = most = 0
    for _, step in edges:  # an end sorts before a start at the same instant
        running += step
        most = max(most, running)
    return most
