"""One execution as the live view shows it: a fold of its events into view models.

:class:`LiveRun` starts from the SPEC §9 record and the pinned document, applies events
in ``seq`` order (an event at or below the last applied ``seq`` is a duplicate and is
ignored, which is what lets a reconnecting viewer resume from any point) and builds the
view models the page renders. It is plain Python, so the Reflex state stays thin and the
fold is tested without a browser.
"""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime
from typing import Any, TypedDict

from agentflow_app import routes
from agentflow_app.components.json_viewer import json_html
from agentflow_app.db import aware
from agentflow_app.engine.events import Event, EventType, execution_status_after, step_status_after
from agentflow_app.state.formatting import format_clock, format_cost, format_duration, format_tokens

#: Streamed text kept per step for the view (the step's output holds the whole answer).
STREAM_KEEP = 20_000
#: Streamed text shown in a timeline row while the step runs.
STREAM_TAIL = 1_200
#: Log lines kept per step.
LOG_KEEP = 500

ACTIVE = frozenset({"queued", "running", "waiting"})


class RunHeader(TypedDict):
    id: int
    status: str
    workflow_name: str
    workflow_href: str
    version: str
    trigger: str
    created: str
    duration: str
    tokens: str
    cost: str
    error: str
    inputs_html: str
    outputs_html: str
    has_outputs: bool
    active: bool
    retryable: bool
    steps_done: int
    steps_total: int
    #: The run that started this one (a sub-workflow, a map item, an error workflow).
    caller_href: str
    caller_label: str
    #: What the run waits for, when it waits.
    waiting: str


class StepView(TypedDict):
    node_id: str
    label: str
    type: str
    status: str
    attempts: int
    duration: str
    usage: str
    error: str
    stream: str
    log_count: int
    bar_left: str
    bar_width: str
    #: What a waiting step waits for, and a map's ``done / total``.
    waiting: str
    progress: str


class LogView(TypedDict):
    time: str
    level: str
    message: str


class StepDetail(TypedDict):
    node_id: str
    label: str
    type: str
    status: str
    output_html: str
    has_output: bool
    truncated: bool
    input_html: str
    logs: list[LogView]
    error: str
    stream: str
    started: str
    finished: str
    #: A waiting ``human.approval`` step: its question (the page offers Approve / Reject).
    approval_message: str
    can_decide: bool
    #: The run this step started (a sub-workflow; a map's first item) and how many.
    child_href: str
    child_runs: int


def empty_header() -> RunHeader:
    return RunHeader(
        id=0,
        status="",
        workflow_name="",
        workflow_href="",
        version="",
        trigger="",
        created="",
        duration="",
        tokens="",
        cost="",
        error="",
        inputs_html="",
        outputs_html="",
        has_outputs=False,
        active=False,
        retryable=False,
        steps_done=0,
        steps_total=0,
        caller_href="",
        caller_label="",
        waiting="",
    )


def empty_detail() -> StepDetail:
    return StepDetail(
        node_id="",
        label="",
        type="",
        status="",
        output_html="",
        has_output=False,
        truncated=False,
        input_html="",
        logs=[],
        error="",
        stream="",
        started="",
        finished="",
        approval_message="",
        can_decide=False,
        child_href="",
        child_runs=0,
    )


# -- formatting --------------------------------------------------------------------------------


def parse_time(value: Any) -> datetime | None:
    """An ISO timestamp (or datetime) as an aware datetime; None for anything else."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return aware(moment)


def _add_usage(total: dict[str, float], usage: dict[str, Any] | None) -> None:
    for key, value in (usage or {}).items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            total[key] = total.get(key, 0) + value


def topological(node_ids: list[str], edges: list[dict[str, Any]]) -> list[str]:
    """The nodes in an order where each comes after its upstream (document order on ties)."""
    rank = {node_id: index for index, node_id in enumerate(node_ids)}
    incoming = dict.fromkeys(node_ids, 0)
    outgoing: dict[str, list[str]] = {node_id: [] for node_id in node_ids}
    for edge in edges:
        source, target = edge.get("source"), edge.get("target")
        if source in rank and target in rank:
            outgoing[source].append(target)
            incoming[target] += 1
    ready = deque(sorted((n for n, c in incoming.items() if c == 0), key=rank.__getitem__))
    order: list[str] = []
    while ready:
        node_id = ready.popleft()
        order.append(node_id)
        for target in sorted(outgoing[node_id], key=rank.__getitem__):
            incoming[target] -= 1
            if incoming[target] == 0:
                ready.append(target)
    order += [n for n in node_ids if n not in set(order)]  # a cycle: never in a valid run
    return order


# -- the fold ----------------------------------------------------------------------------------


class LiveRun:
    """The live view's model of one execution (plain data, picklable with the state)."""

    def __init__(
        self, record: dict[str, Any], document: dict[str, Any], workflow_name: str
    ) -> None:
        nodes = [n for n in document.get("nodes", []) if isinstance(n, dict) and n.get("id")]
        edges = [e for e in document.get("edges", []) if isinstance(e, dict)]
        self.execution_id: int = int(record["id"])
        self.workflow_name = workflow_name or str(document.get("name") or "")
        self.nodes = nodes
        self.edges = edges
        self.labels = {n["id"]: str((n.get("data") or {}).get("label") or n["id"]) for n in nodes}
        self.types = {n["id"]: str(n.get("type") or "") for n in nodes}
        self.order = topological([n["id"] for n in nodes], edges)
        self.incoming: dict[str, list[str]] = {n["id"]: [] for n in nodes}
        for edge in edges:
            if edge.get("target") in self.incoming and edge.get("source") in self.labels:
                self.incoming[edge["target"]].append(edge["source"])
        self.execution: dict[str, Any] = {}
        self.steps: dict[str, dict[str, Any]] = {}
        self.logs: dict[str, list[LogView]] = {}
        self.streams: dict[str, str] = {}
        #: ``{node_id: (done, total)}`` of map steps, from their progress logs.
        self.progress: dict[str, tuple[int, int]] = {}
        self.seq = 0
        self.take_record(record)

    # -- applying -----------------------------------------------------------------------

    def take_record(self, record: dict[str, Any]) -> None:
        """Adopt the stored record (statuses, outputs, errors, usage) as the truth."""
        self.execution = {k: v for k, v in record.items() if k != "steps"}
        for step in record.get("steps") or []:
            node_id = step.get("node_id")
            if node_id:
                self.steps[node_id] = dict(step)
                if step.get("status") not in ("running", "waiting"):
                    self.streams.pop(node_id, None)

    def _step(self, node_id: str) -> dict[str, Any]:
        return self.steps.setdefault(
            node_id,
            {
                "node_id": node_id,
                "type": self.types.get(node_id, ""),
                "status": "pending",
                "attempts": 0,
                "started_at": None,
                "finished_at": None,
                "output": None,
                "output_truncated": False,
                "error": None,
                "usage": None,
            },
        )

    def apply(self, event: Event) -> str | None:
        """Apply one event; answer the node it touched ("" for the execution, None if a duplicate)."""
        if event.seq <= self.seq:
            return None
        self.seq = event.seq
        data = event.data or {}
        when = event.ts.isoformat()
        if not event.type.about_step:
            self._apply_execution(event.type, data, when)
            return ""
        node_id = event.node_id or ""
        if not node_id:
            return ""
        step = self._step(node_id)
        if event.type == EventType.STEP_LOG:
            if isinstance(data.get("done"), int) and isinstance(data.get("total"), int):
                self.progress[node_id] = (data["done"], data["total"])
            lines = self.logs.setdefault(node_id, [])
            lines.append(
                LogView(
                    time=f"{event.ts:%H:%M:%S}",
                    level=str(data.get("level") or "info"),
                    message=str(data.get("message") or ""),
                )
            )
            del lines[:-LOG_KEEP]
            return node_id
        if event.type == EventType.STEP_TOKEN:
            text = self.streams.get(node_id, "") + str(data.get("text") or "")
            self.streams[node_id] = text[-STREAM_KEEP:]
            return node_id
        step["status"] = str(step_status_after(event) or step["status"])
        if event.type == EventType.STEP_STARTED:
            step.update(
                started_at=when,
                finished_at=None,
                error=None,
                output=None,
                output_truncated=False,
                attempts=int(data.get("attempt") or step.get("attempts") or 1),
            )
            self.streams.pop(node_id, None)
        elif event.type == EventType.STEP_SUCCEEDED:
            step.update(
                finished_at=when,
                output=data.get("output"),
                output_truncated=bool(data.get("output_truncated")),
                usage=data.get("usage"),
            )
            self.streams.pop(node_id, None)
        elif event.type == EventType.STEP_FAILED:
            step.update(finished_at=when, error=str(data.get("error") or "failed"))
        elif event.type == EventType.STEP_SKIPPED:
            step.update(finished_at=when)
        elif event.type == EventType.STEP_WAITING:
            # While it waits, a step's output is its wait state (the question, progress).
            step.update(output=data.get("state") or {}, wait_reason=data.get("reason"))
            state = data.get("state") or {}
            if isinstance(state.get("done"), int) and isinstance(state.get("total"), int):
                self.progress[node_id] = (state["done"], state["total"])
            if isinstance(state.get("execution_id"), int):  # a sub-workflow's child
                step.update(child_execution_id=state["execution_id"], child_runs=1)
        return node_id

    def _apply_execution(self, kind: EventType, data: dict[str, Any], when: str) -> None:
        ex = self.execution
        ex["status"] = str(execution_status_after(kind))
        if kind == EventType.EXECUTION_QUEUED:
            ex.update(error=None, finished_at=None, outputs=None)
        elif kind == EventType.EXECUTION_STARTED:
            ex["started_at"] = ex.get("started_at") or when
        elif kind == EventType.EXECUTION_SUCCEEDED:
            ex.update(finished_at=when, outputs=data.get("outputs"), error=None)
            if isinstance(data.get("usage"), dict):
                ex["usage"] = data["usage"]
        elif kind in (EventType.EXECUTION_FAILED, EventType.EXECUTION_CANCELLED):
            ex["finished_at"] = when
            ex["error"] = str(data["error"]) if data.get("error") else ex.get("error")
        if kind == EventType.EXECUTION_CANCELLED:
            # The runner records the steps it stopped without an event each; the record
            # read after the terminal event confirms this.
            for step in self.steps.values():
                if step["status"] in ("running", "waiting"):
                    step.update(status="cancelled", finished_at=when)

    # -- reading ------------------------------------------------------------------------

    @property
    def status(self) -> str:
        return str(self.execution.get("status") or "")

    @property
    def finished(self) -> bool:
        return bool(self.status) and self.status not in ACTIVE

    def _usage(self) -> dict[str, float]:
        stored = self.execution.get("usage")
        if self.finished and isinstance(stored, dict) and stored:
            return dict(stored)
        total: dict[str, float] = {}
        for step in self.steps.values():
            _add_usage(total, step.get("usage"))
        return total

    def header(self, now: datetime | None = None) -> RunHeader:
        ex = self.execution
        started = parse_time(ex.get("started_at"))
        finished = parse_time(ex.get("finished_at"))
        created = parse_time(ex.get("created_at"))
        end = finished or (now or datetime.now(UTC))
        usage = self._usage()
        outputs = ex.get("outputs")
        done = sum(
            1
            for n in self.order
            if self.steps.get(n, {}).get("status") not in (None, "pending", "running", "waiting")
        )
        workflow_id = ex.get("workflow_id")
        version = ex.get("workflow_version")
        caller = ex.get("caller_id")
        waiting = ""
        if self.status == "waiting":
            reasons = [
                str(step.get("wait_reason") or "a wait")
                for node_id, step in self.steps.items()
                if step.get("status") == "waiting"
            ]
            waiting = "; ".join(sorted(set(reasons))) or "a wait"
        return RunHeader(
            id=self.execution_id,
            status=self.status,
            workflow_name=self.workflow_name or "Workflow file",
            workflow_href=routes.workflow_url(workflow_id) if workflow_id else "",
            version=f"v{version}" if version else "",
            trigger=str(ex.get("trigger") or ""),
            created=format_clock(created),
            duration=format_duration((end - started).total_seconds()) if started else "",
            tokens=format_tokens(usage),
            cost=format_cost(usage),
            error=str(ex.get("error") or ""),
            inputs_html=json_html(ex.get("inputs") or {}),
            outputs_html=json_html(outputs) if outputs else "",
            has_outputs=bool(outputs),
            active=self.status in ACTIVE,
            retryable=self.status in ("failed", "cancelled"),
            steps_done=done,
            steps_total=len(self.order),
            caller_href=routes.execution_url(caller) if caller else "",
            caller_label=f"run {caller}"
            + (f" · {ex['caller_node']}" if ex.get("caller_node") else "")
            if caller
            else "",
            waiting=waiting,
        )

    def waiting_approval(self) -> str:
        """The first step waiting for a decision, in graph order ("" when none)."""
        return next(
            (
                node_id
                for node_id in self.order
                if self.steps.get(node_id, {}).get("status") == "waiting"
                and self.types.get(node_id) == "human.approval"
            ),
            "",
        )

    def decorations(self) -> dict[str, Any]:
        """``{node_id: {status}}`` for the canvas (SPEC §10: each node's ``data-status``)."""
        return {node_id: self._decoration(node_id) for node_id in self.order}

    def _decoration(self, node_id: str) -> dict[str, Any]:
        step = self.steps.get(node_id, {})
        decoration: dict[str, Any] = {"status": step.get("status") or "pending"}
        if node_id in self.progress and step.get("status") in ("running", "waiting"):
            done, total = self.progress[node_id]
            decoration["badge"] = f"{done} / {total}"
        elif step.get("status") == "waiting" and step.get("type") == "human.approval":
            decoration["badge"] = "needs a decision"
        return decoration

    def _span(self, now: datetime) -> tuple[datetime, float] | None:
        starts = [parse_time(s.get("started_at")) for s in self.steps.values()]
        starts = [s for s in starts if s is not None]
        first = parse_time(self.execution.get("started_at")) or (min(starts) if starts else None)
        if first is None:
            return None
        last = parse_time(self.execution.get("finished_at")) or now
        ends = [parse_time(s.get("finished_at")) for s in self.steps.values()]
        last = max([last, *[e for e in ends if e is not None]])
        return first, max((last - first).total_seconds(), 0.001)

    def _sort_key(self, node_id: str) -> tuple[float, int]:
        started = parse_time(self.steps.get(node_id, {}).get("started_at"))
        return (started.timestamp() if started else float("inf"), self.order.index(node_id))

    def step_views(self, now: datetime | None = None) -> list[StepView]:
        """The timeline: started steps by start time, then the others in graph order."""
        now = now or datetime.now(UTC)
        span = self._span(now)
        views = []
        for node_id in sorted(self.order, key=self._sort_key):
            step = self.steps.get(node_id) or {}
            status = str(step.get("status") or "pending")
            started = parse_time(step.get("started_at"))
            finished = parse_time(step.get("finished_at"))
            left = width = 0.0
            if span is not None and started is not None:
                first, total = span
                end = finished or now
                left = max(0.0, (started - first).total_seconds() / total * 100)
                width = max(0.8, (end - started).total_seconds() / total * 100)
                width = min(width, 100 - left)
            duration = ""
            if started is not None and (finished is not None or status == "running"):
                duration = format_duration(((finished or now) - started).total_seconds())
            usage = step.get("usage")
            views.append(
                StepView(
                    node_id=node_id,
                    label=self.labels.get(node_id, node_id),
                    type=str(step.get("type") or self.types.get(node_id, "")),
                    status=status,
                    attempts=int(step.get("attempts") or 0),
                    duration=duration,
                    usage=" · ".join(p for p in (format_tokens(usage), format_cost(usage)) if p),
                    error=str(step.get("error") or ""),
                    stream=self.streams.get(node_id, "")[-STREAM_TAIL:]
                    if status in ("running", "waiting")
                    else "",
                    log_count=len(self.logs.get(node_id, [])),
                    bar_left=f"{left:.2f}%",
                    bar_width=f"{width:.2f}%",
                    waiting=str(step.get("wait_reason") or "waiting")
                    if status == "waiting"
                    else "",
                    progress="{} / {}".format(*self.progress[node_id])
                    if node_id in self.progress
                    else "",
                )
            )
        return views

    def detail(self, node_id: str) -> StepDetail:
        """Everything about one step: its input, output, logs, error and live text."""
        if node_id not in self.labels:
            return empty_detail()
        step = self.steps.get(node_id) or {}
        upstream = self.incoming.get(node_id, [])
        if upstream:
            given = {
                self.labels.get(s, s): (self.steps.get(s) or {}).get("output") for s in upstream
            }
        else:  # the trigger: the run's inputs
            given = self.execution.get("inputs") or {}
        output = step.get("output")
        kind = str(step.get("type") or self.types.get(node_id, ""))
        waiting_approval = kind == "human.approval" and step.get("status") == "waiting"
        child = step.get("child_execution_id")
        return StepDetail(
            node_id=node_id,
            label=self.labels[node_id],
            type=str(step.get("type") or self.types.get(node_id, "")),
            status=str(step.get("status") or "pending"),
            output_html=json_html(output) if output is not None else "",
            has_output=output is not None,
            truncated=bool(step.get("output_truncated")),
            input_html=json_html(given),
            logs=list(self.logs.get(node_id, [])),
            error=str(step.get("error") or ""),
            stream=self.streams.get(node_id, ""),
            started=format_clock(parse_time(step.get("started_at"))),
            finished=format_clock(parse_time(step.get("finished_at"))),
            approval_message=str((output or {}).get("message") or "") if waiting_approval else "",
            can_decide=waiting_approval,
            child_href=routes.execution_url(child) if child else "",
            child_runs=int(step.get("child_runs") or 0),
        )
