"""What this process knows of the executions it runs: labels, the run's span, its steps.

A worker registers a run for as long as it executes it (:func:`run_scope`); the event
observer (:mod:`.observer`) and the LLM spans (:mod:`.genai`) read it to label metrics,
parent spans and stamp log lines without asking the database again. Events of runs not
registered here (a cancel answered by the web server, the reaper's) are labelled by one
read instead (:func:`labels_of`). The services are imported lazily: the LLM nodes import
this module, and the layer below the services must not pull them in.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from agentflow_app.observability import logging as structured
from agentflow_app.observability import tracing
from agentflow_app.settings import Settings, get_settings

if TYPE_CHECKING:
    from agentflow_app.services.operations import RunLabels

UNKNOWN = "unknown"


@dataclass
class Step:
    """A step that started in this process: what its end is measured against."""

    node_type: str
    started: datetime
    span: Any = None


@dataclass
class Run:
    """A run this process executes, for as long as it does."""

    execution_id: int
    workflow_id: int | None
    trigger: str
    created_at: datetime | None
    worker: str | None = None
    #: The run's span (None while tracing is off).
    span: Any = None
    #: When this process's ``execution.started`` was emitted.
    started: datetime | None = None
    steps: dict[str, Step] = field(default_factory=dict)


_lock = threading.Lock()
_runs: dict[int, Run] = {}


def observing(settings: Settings | None = None) -> bool:
    """Whether anything is recorded at all (metrics, traces or JSON logs)."""
    settings = settings or get_settings()
    return (
        settings.metrics_enabled
        or settings.tracing_enabled
        or settings.agentflow_log_format == "json"
    )


def get(execution_id: int) -> Run | None:
    with _lock:
        return _runs.get(execution_id)


def labels_of(execution_id: int) -> RunLabels | None:
    """The run's labels: from the registry, else from the database."""
    from agentflow_app.services import operations

    run = get(execution_id)
    if run is not None:
        return operations.RunLabels(
            execution_id=execution_id,
            workflow_id=run.workflow_id,
            trigger=run.trigger,
            created_at=run.created_at,
        )
    return operations.run_labels(execution_id)


@contextlib.contextmanager
def run_scope(
    execution_id: int,
    worker: str,
    *,
    labels: RunLabels | None = None,
    message_id: Any = None,
    headers: Mapping[str, Any] | None = None,
) -> Iterator[Run | None]:
    """Register a run this worker executes, with its span and log context, until it ends.

    The run's span continues the trace of the request that queued it (the message's
    headers, see :func:`.tracing.run_parent`) and is the current span while the run
    executes, so its steps' and model calls' spans and every log line join that trace.
    ``labels`` (:func:`labels_of`) are read by the caller, off the loop the process's
    runs share.
    """
    if not observing():
        yield None
        return
    run = Run(
        execution_id=execution_id,
        workflow_id=labels.workflow_id if labels else None,
        trigger=labels.trigger if labels else UNKNOWN,
        created_at=labels.created_at if labels else None,
        worker=worker,
    )
    with contextlib.ExitStack() as stack:
        if (tracer := tracing.tracer()) is not None:
            from opentelemetry import context, trace

            run.span = tracer.start_span(
                "execution run",
                context=tracing.run_parent(execution_id, message_id, headers or {}),
                kind=trace.SpanKind.CONSUMER,
                attributes=_span_attributes(run),
            )
            token = context.attach(trace.set_span_in_context(run.span))
            stack.callback(run.span.end)
            stack.callback(context.detach, token)
        stack.enter_context(
            structured.log_context(
                execution_id=execution_id, workflow_id=run.workflow_id, worker=worker
            )
        )
        with _lock:
            _runs[execution_id] = run
        stack.callback(_forget, execution_id)
        yield run


def step_of(run: Run, node_id: str, started: datetime, node_type: str | None = None) -> Step:
    """The step ``node_id`` of ``run``, made (with its span) by whoever asks first.

    The runner may start a node before its ``step.started`` event is written (it is
    batched with the next write), so a model call inside the node can ask for the
    step's span before the observer hears of the step: both get the same one.
    """
    with _lock:
        step = run.steps.get(node_id)
        if step is None:
            step = run.steps[node_id] = Step(node_type or UNKNOWN, started)
            step.span = _start_step_span(run, node_id, started)
        elif node_type is not None:
            step.node_type = node_type
    return step


def end_step(run: Run, node_id: str) -> Step | None:
    with _lock:
        return run.steps.pop(node_id, None)


def _start_step_span(run: Run, node_id: str, started: datetime) -> Any:
    tracer = tracing.tracer() if run.span is not None else None
    if tracer is None:
        return None
    from opentelemetry import trace

    return tracer.start_span(
        f"step {node_id}",
        context=trace.set_span_in_context(run.span),
        start_time=tracing.nanos(started),
        attributes={"agentflow.execution.id": run.execution_id, "agentflow.node.id": node_id},
    )


def _forget(execution_id: int) -> None:
    with _lock:
        _runs.pop(execution_id, None)


def _span_attributes(run: Run) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "agentflow.execution.id": run.execution_id,
        "agentflow.trigger": run.trigger,
        "messaging.system": "celery",
        "messaging.operation.type": "process",
    }
    if run.workflow_id is not None:
        attributes["agentflow.workflow.id"] = run.workflow_id
    if run.worker:
        attributes["agentflow.worker"] = run.worker
    return attributes
