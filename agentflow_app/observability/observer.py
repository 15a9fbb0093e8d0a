"""Metrics, step spans and log lines derived from the execution events (SPEC §8).

Every event a run stores passes through ``services.executions.events.publish`` on its way
to Redis; that is the one place this module is called from (:func:`observe`). The
events are the typed record of what happened (``engine.events``), so counting them
there, instead of sprinkling counters through the engine, keeps the engine ignorant of
metrics and the numbers true to what users see in the live view.

It runs on the store's database threads right after a commit, so it only does
in-memory work: a labelled counter, a histogram sample, a span start or end, a log
record. The one exception is an event of a run this process does not execute (a cancel
answered by the web server), labelled by one small read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import ModuleType
from typing import Any

from agentflow_app.engine.events import EventType
from agentflow_app.observability import runs, tracing
from agentflow_app.settings import Settings, get_settings

log = logging.getLogger(__name__)
#: Where the per-event log lines go (INFO in JSON mode, DEBUG otherwise).
events_log = logging.getLogger("agentflow.events")

_STEP_ENDS = {
    EventType.STEP_SUCCEEDED,
    EventType.STEP_FAILED,
    EventType.STEP_SKIPPED,
    EventType.STEP_WAITING,
}
_QUIET = {EventType.STEP_TOKEN}


def observe(rows: Iterable[Mapping[str, Any]]) -> None:
    """Record what stored event rows say (``{execution_id, seq, ts, type, node_id, data}``).

    Never raises: a metric that cannot be recorded must not lose an event's publication.
    """
    settings = get_settings()
    if not runs.observing(settings):
        return
    counters = _metrics(settings)
    for row in rows:
        try:
            _observe(row, counters, settings)
        except Exception:
            log.exception(
                "observing event %s of execution %s failed",
                row.get("type"),
                row.get("execution_id"),
            )


def _metrics(settings: Settings) -> ModuleType | None:
    if not settings.metrics_enabled:
        return None
    from agentflow_app.observability import metrics

    return metrics


def _observe(row: Mapping[str, Any], m: ModuleType | None, settings: Settings) -> None:
    kind = EventType(row["type"])
    if kind in _QUIET:
        return
    execution_id = row["execution_id"]
    node_id = row.get("node_id")
    data = row.get("data") or {}
    ts: datetime = row["ts"]
    run = runs.get(execution_id)
    duration_s: float | None = None
    if kind == EventType.EXECUTION_QUEUED:
        if data.get("recovered") and m is not None:
            m.REAPER_RECOVERIES.inc()
    elif kind == EventType.EXECUTION_STARTED:
        _started(run, data, ts, m)
    elif kind == EventType.STEP_STARTED and run is not None:
        attempt = int(data.get("attempt") or 1)
        step = runs.step_of(run, node_id, ts, str(data.get("node_type") or runs.UNKNOWN))
        if step.span is not None:
            step.span.set_attribute("agentflow.node.type", step.node_type)
            step.span.set_attribute("agentflow.step.attempts", attempt)
        if attempt > 1 and m is not None:
            m.STEP_RETRIES.labels(step.node_type).inc()
    elif kind in _STEP_ENDS and run is not None:
        duration_s = _step_ended(run, kind, node_id, data, ts, m)
    elif kind == EventType.STEP_LOG:
        if (tool := data.get("tool")) and m is not None:
            m.TOOL_CALLS.labels(str(tool), "error" if data.get("error") else "ok").inc()
    elif kind.terminal:
        duration_s = _finished(execution_id, run, kind, data, ts, m)
    _log_line(row, kind, run, data, duration_s, settings)


def _started(run: runs.Run | None, data: Mapping[str, Any], ts: datetime, m: Any) -> None:
    trigger = run.trigger if run is not None else runs.UNKNOWN
    if run is not None:
        run.started = ts
    if m is None:
        return
    m.EXECUTIONS_STARTED.labels(trigger).inc()
    if run is not None and run.created_at is not None and not data.get("resumed"):
        m.QUEUE_WAIT.labels(trigger).observe(max(0.0, (ts - run.created_at).total_seconds()))


def _step_ended(
    run: runs.Run,
    kind: EventType,
    node_id: str,
    data: Mapping[str, Any],
    ts: datetime,
    m: Any,
) -> float | None:
    step = runs.end_step(run, node_id)
    if step is None:  # skipped (never started), or started by a process before a resume
        return None
    status = kind.removeprefix("step.")
    if kind == EventType.STEP_SUCCEEDED and data.get("duration_ms") is not None:
        seconds = float(data["duration_ms"]) / 1000
    else:
        seconds = max(0.0, (ts - step.started).total_seconds())
    if m is not None:
        m.STEP_DURATION.labels(step.node_type, status).observe(seconds)
    if step.span is not None:
        _end_span(step.span, status, data.get("error"), ts)
    return seconds


def _finished(
    execution_id: int,
    run: runs.Run | None,
    kind: EventType,
    data: Mapping[str, Any],
    ts: datetime,
    m: Any,
) -> float | None:
    status = kind.removeprefix("execution.")
    seconds = (ts - run.started).total_seconds() if run and run.started else None
    if m is not None:
        labels = runs.labels_of(execution_id) if run is None else None
        trigger = run.trigger if run is not None else (labels.trigger if labels else runs.UNKNOWN)
        m.EXECUTIONS_FINISHED.labels(status, trigger).inc()
        if seconds is not None:
            m.EXECUTION_DURATION.labels(status, trigger).observe(max(0.0, seconds))
    if run is not None:
        for node_id in list(run.steps):  # steps the end cut short (a cancel)
            step = runs.end_step(run, node_id)
            if step is not None and step.span is not None:
                _end_span(step.span, "cancelled", None, ts)
        if run.span is not None:
            _end_span(run.span, status, data.get("error"), None)
    return seconds


def _end_span(span: Any, status: str, error: Any, ts: datetime | None) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("agentflow.status", status)
    if status == "failed":
        span.set_status(Status(StatusCode.ERROR, str(error or "failed")[:500]))
    if ts is not None:  # the run's own span ends when its scope does
        span.end(end_time=tracing.nanos(ts))


def _log_line(
    row: Mapping[str, Any],
    kind: EventType,
    run: runs.Run | None,
    data: Mapping[str, Any],
    duration_s: float | None,
    settings: Settings,
) -> None:
    level = logging.INFO if settings.agentflow_log_format == "json" else logging.DEBUG
    if not events_log.isEnabledFor(level):
        return
    node_id = row.get("node_id")
    message = str(kind) + (f" {node_id}" if node_id else "")
    if kind == EventType.STEP_LOG and data.get("message"):
        message += f": {data['message']}"
    elif data.get("error"):
        message += f": {data['error']}"
    extra: dict[str, Any] = {
        "execution_id": row["execution_id"],
        "node_id": node_id,
        "event": str(kind),
        "duration_ms": round(duration_s * 1000, 3) if duration_s is not None else None,
    }
    if run is not None:
        extra |= {"workflow_id": run.workflow_id, "worker": run.worker}
        if run.span is not None:
            context = run.span.get_span_context()
            extra["trace_id"] = f"{context.trace_id:032x}"
    events_log.log(level, "%s", message, extra=extra)
