"""Property tests over random DAGs with conditions and waits (issues 4 and 13).

Every generated workflow is run and compared with a direct reading of SPEC §7: which nodes
succeed, fail (with ``on_error: continue``) or are skipped. A ``pause`` node waits once
(``Wait``): the run then ends ``waiting`` and is run again on its store, as a worker
would after the wait ends, until it finishes. Then the same workflow is interrupted after
its k-th finished step (the store stops working, as when a worker dies) and run again on
the same store: it must end the same, and no finished step runs again.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentflow_app.engine.events import Event, EventType, StepRecord
from agentflow_app.engine.status import ExecutionStatus, StepStatus
from agentflow_app.engine.store import MemoryStore
from tests.helpers.engine_builders import Journal, document, edge, node, run_doc

KINDS = ("echo", "true", "false", "fail", "pause")
#: Turns on the worker a run may take: each wait ends one, so this bounds the waits.
MAX_TURNS = 12
FINISHED = {StepStatus.SUCCEEDED, StepStatus.SKIPPED, StepStatus.FAILED}
STEP_END = {EventType.STEP_SUCCEEDED, EventType.STEP_FAILED, EventType.STEP_SKIPPED}


@dataclass
class Graph:
    kinds: list[str]  # kinds[0] is the trigger
    edges: list[tuple[int, int, str | None]]  # (source, target, sourceHandle)

    def document(self) -> dict[str, Any]:
        nodes = [node("n0", "test.trigger")]
        for i, kind in enumerate(self.kinds[1:], start=1):
            if kind == "echo":
                nodes.append(node(f"n{i}", "test.echo", value=i))
            elif kind == "pause":
                nodes.append(node(f"n{i}", "test.pause"))
            elif kind == "fail":
                nodes.append(
                    node(f"n{i}", "test.flaky", failures=1, permanent=True, on_error="continue")
                )
            else:
                nodes.append(node(f"n{i}", "test.condition", expression=kind))
        return document(nodes, [edge(f"n{s}", f"n{t}", h) for s, t, h in self.edges])

    def expected(self) -> dict[str, StepStatus]:
        """SPEC §7 read directly, node by node in index (= topological) order."""
        status: dict[int, StepStatus] = {0: StepStatus.SUCCEEDED}
        for i in range(1, len(self.kinds)):
            active = False
            for s, t, handle in self.edges:
                if t != i:
                    continue
                if status[s] == StepStatus.FAILED:
                    active = True
                elif status[s] == StepStatus.SUCCEEDED:
                    active |= self.kinds[s] not in ("true", "false") or handle == self.kinds[s]
            if not active:
                status[i] = StepStatus.SKIPPED
            elif self.kinds[i] == "fail":
                status[i] = StepStatus.FAILED
            else:
                status[i] = StepStatus.SUCCEEDED
        return {f"n{i}": s for i, s in status.items()}


@st.composite
def graphs(draw: st.DrawFn) -> Graph:
    size = draw(st.integers(min_value=1, max_value=9))
    kinds = ["trigger"] + [draw(st.sampled_from(KINDS)) for _ in range(size)]
    edges = []
    for target in range(1, size + 1):
        sources = draw(
            st.lists(
                st.integers(min_value=0, max_value=target - 1),
                min_size=1,
                max_size=min(3, target),
                unique=True,
            )
        )
        for source in sources:
            handle = (
                draw(st.sampled_from(["true", "false"]))
                if kinds[source] in ("true", "false")
                else None
            )
            edges.append((source, target, handle))
    return Graph(kinds, edges)


class Crash(Exception):
    """The store stops working, as a killed worker would."""


class CrashingStore:
    """A MemoryStore that dies right after recording its k-th finished step."""

    def __init__(self, inner: MemoryStore, after: int) -> None:
        self.inner = inner
        self.after = after
        self.finished = 0
        self.execution_id = inner.execution_id

    async def load_steps(self) -> dict[str, StepRecord]:
        return await self.inner.load_steps()

    async def save_step(self, step: StepRecord) -> None:
        await self.inner.save_step(step)

    async def emit(self, type: EventType, node_id: str | None = None, **data: Any) -> Event:
        event = await self.inner.emit(type, node_id, **data)
        if type in STEP_END:
            self.finished += 1
            if self.finished == self.after:
                raise Crash
        return event

    async def emit_soon(self, type: EventType, node_id: str | None = None, **data: Any) -> None:
        await self.emit(type, node_id, **data)

    async def cancel_requested(self) -> bool:
        return await self.inner.cancel_requested()


def _run(doc: dict, store: Any, journal: Journal):
    """Run to the end, again after each wait (each turn resumes from the store)."""
    for _ in range(MAX_TURNS):
        result, used = asyncio.run(run_doc(doc, store=store, journal=journal))
        if result.status != ExecutionStatus.WAITING:
            return result, used
    raise AssertionError("the run still waits after every pause was resumed")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_every_node_ends_once_as_spec_says_and_in_edge_order(graph: Graph) -> None:
    journal = Journal()
    result, store = _run(graph.document(), MemoryStore(), journal)
    assert result.status == ExecutionStatus.SUCCEEDED
    assert {k: v.status for k, v in result.steps.items()} == graph.expected()

    ends = [e for e in store.events if e.type in STEP_END]
    assert sorted(e.node_id for e in ends) == sorted(graph.expected())  # exactly once each
    end_seq = {e.node_id: e.seq for e in ends}
    start_seq = {e.node_id: e.seq for e in store.events if e.type == EventType.STEP_STARTED}
    for s, t, _ in graph.edges:
        target = f"n{t}"
        assert end_seq[f"n{s}"] < start_seq.get(target, end_seq[target])
    # a node that ran, ran once; a skipped node never ran
    for node_id, status in graph.expected().items():
        assert journal.calls(node_id) == (0 if status == StepStatus.SKIPPED else 1)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs(), st.integers(min_value=1, max_value=10))
def test_resume_after_an_interruption_at_any_step(graph: Graph, k: int) -> None:
    doc = graph.document()
    inner = MemoryStore()
    with contextlib.suppress(Crash):
        _run(doc, CrashingStore(inner, after=k), Journal())
    finished_before = {n for n, rec in inner.steps.items() if rec.status in FINISHED}

    journal = Journal()
    result, _ = _run(doc, inner, journal)
    assert result.status == ExecutionStatus.SUCCEEDED
    assert {k: v.status for k, v in result.steps.items()} == graph.expected()
    assert not finished_before & set(journal.started())
    for node_id, status in graph.expected().items():
        if node_id not in finished_before:
            assert journal.calls(node_id) == (0 if status == StepStatus.SKIPPED else 1)
