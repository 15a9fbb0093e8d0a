"""Property tests over random DAGs with conditions, waits and maps (issues 4 and 13).

Every generated workflow is run and compared with a direct reading of SPEC §7: which nodes
succeed, fail (with ``on_error: continue``) or are skipped. A ``pause`` node waits once
(``Wait``): the run then ends ``waiting`` and is run again on its store, as a worker
would after the wait ends, until it finishes. A ``map`` node is the real ``flow.map``
over a drawn list; its host (:class:`ChildRuns`) keeps the item runs as the database
would, and between two turns of the run it runs the items through the same runner, as
workers would, some of them interrupted once on the way. Then the same workflow is
interrupted after its k-th finished step (the store stops working, as when a worker dies)
and run again on the same store: it must end the same, no finished step runs again, and
no item's finished run is repeated.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentflow_app.engine.events import Event, EventType, StepRecord
from agentflow_app.engine.status import ExecutionStatus, StepStatus
from agentflow_app.engine.store import MemoryStore
from agentflow_app.nodes.flow import Map
from tests.helpers.engine_builders import Journal, document, edge, make_registry, node, run_doc

KINDS = ("echo", "true", "false", "fail", "pause", "map")
#: The workflow each map runs per item: trigger → echo of the item.
ITEM_DOC = document(
    [node("item_start", "test.trigger"), node("item_echo", "test.echo", value="{{ inputs.item }}")],
    [edge("item_start", "item_echo")],
)
#: Turns on the worker a run may take: each wait ends one, so this bounds the waits.
MAX_TURNS = 12
FINISHED = {StepStatus.SUCCEEDED, StepStatus.SKIPPED, StepStatus.FAILED}
STEP_END = {EventType.STEP_SUCCEEDED, EventType.STEP_FAILED, EventType.STEP_SKIPPED}


@dataclass
class Graph:
    kinds: list[str]  # kinds[0] is the trigger
    edges: list[tuple[int, int, str | None]]  # (source, target, sourceHandle)
    items: list[int] = field(default_factory=list)  # what every map runs over
    #: Item runs interrupted once after their k-th finished step: {index: k}.
    item_crashes: dict[int, int] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        nodes = [node("n0", "test.trigger")]
        for i, kind in enumerate(self.kinds[1:], start=1):
            if kind == "echo":
                nodes.append(node(f"n{i}", "test.echo", value=i))
            elif kind == "pause":
                nodes.append(node(f"n{i}", "test.pause"))
            elif kind == "map":
                nodes.append(
                    node(
                        f"n{i}",
                        "flow.map",
                        items="{{ inputs.items }}",
                        workflow_id=1,
                        concurrency=2,
                    )
                )
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
    items = draw(st.lists(st.integers(min_value=-5, max_value=5), max_size=4))
    item_crashes = draw(
        st.dictionaries(st.integers(min_value=0, max_value=3), st.integers(1, 2), max_size=2)
    )
    return Graph(kinds, edges, items, item_crashes)


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

    async def emit_nowait(self, type: EventType, node_id: str | None = None, **data: Any) -> None:
        await self.emit(type, node_id, **data)

    async def cancel_requested(self) -> bool:
        return await self.inner.cancel_requested()


@dataclass
class ItemRun:
    index: int
    item: Any
    store: MemoryStore
    status: ExecutionStatus = ExecutionStatus.QUEUED
    outputs: Any = None
    error: str | None = None


class ChildRuns:
    """The ``FlowHost`` of a map, in memory: item runs kept per calling step (the rows the
    database would hold), run by :meth:`work` between the run's turns.

    Args:
        crashes: ``{index: k}``: the item's first run dies after its k-th finished step
            and is run again, as the reaper would have it.
    """

    def __init__(self, crashes: dict[int, int]) -> None:
        self.maps: dict[str, list[ItemRun]] = {}
        self.journal = Journal()
        self.crashes = dict(crashes)
        self.starts: Counter[str] = Counter()

    async def start_map(self, node_id: str, workflow_id: int, items: list, concurrency: int) -> int:
        self.starts[node_id] += 1
        if node_id not in self.maps:  # once per step, as start_map is idempotent
            self.maps[node_id] = [
                ItemRun(i, item, MemoryStore(f"{node_id}/{i}")) for i, item in enumerate(items)
            ]
        return len(self.maps[node_id])

    async def map_progress(self, node_id: str) -> dict[str, int]:
        runs = self.maps[node_id]
        count = lambda status: sum(r.status == status for r in runs)  # noqa: E731
        return {
            "total": len(runs),
            "succeeded": count(ExecutionStatus.SUCCEEDED),
            "failed": count(ExecutionStatus.FAILED),
            "cancelled": count(ExecutionStatus.CANCELLED),
        }

    async def map_results(self, node_id: str) -> list[dict[str, Any]]:
        return [
            {
                "index": r.index,
                "execution_id": r.store.execution_id,
                "status": str(r.status),
                "outputs": r.outputs,
                "error": r.error,
            }
            for r in self.maps[node_id]
        ]

    async def stop_children(self, node_id: str) -> int:
        raise AssertionError("no item fails here, so no map stops its items")

    def work(self) -> None:
        """Run every unfinished item to its end, as the workers would."""
        for runs in self.maps.values():
            for run in runs:
                if run.status != ExecutionStatus.QUEUED:
                    continue
                if (k := self.crashes.pop(run.index, None)) is not None:
                    with contextlib.suppress(Crash):
                        asyncio.run(
                            run_doc(
                                ITEM_DOC,
                                {"item": run.item, "index": run.index},
                                store=CrashingStore(run.store, after=k),
                                journal=self.journal,
                            )
                        )
                result, _ = asyncio.run(
                    run_doc(
                        ITEM_DOC,
                        {"item": run.item, "index": run.index},
                        store=run.store,
                        journal=self.journal,
                    )
                )
                run.status, run.error = result.status, result.error
                run.outputs = result.steps["item_echo"].output  # the item's answer


def _registry():
    registry = make_registry()
    registry.register_node(Map)
    return registry


def _run(doc: dict, store: Any, journal: Journal, host: ChildRuns, items: list[int]):
    """Run to the end, again after each wait (each turn resumes from the store); the
    map's items run between the turns."""
    for _ in range(MAX_TURNS):
        result, used = asyncio.run(
            run_doc(
                doc, {"items": items}, store=store, registry=_registry(), journal=journal, flow=host
            )
        )
        if result.status != ExecutionStatus.WAITING:
            return result, used
        host.work()
    raise AssertionError("the run still waits after every pause was resumed")


def _check_maps(graph: Graph, result: Any, host: ChildRuns) -> None:
    """Each map that ran gave every item's result in item order, each item run once."""
    maps = [f"n{i}" for i, kind in enumerate(graph.kinds) if kind == "map"]
    ran = [n for n in maps if graph.expected()[n] == StepStatus.SUCCEEDED]
    assert sorted(host.maps) == sorted(ran)
    for node_id in ran:
        output = result.steps[node_id].output
        assert output["results"] == [{"value": item} for item in graph.items]
        assert (output["total"], output["failed"]) == (len(graph.items), 0)
    # every item's echo ended once, whatever interrupted its run on the way
    item_ends = [
        e
        for runs in host.maps.values()
        for run in runs
        for e in run.store.events
        if e.type in STEP_END and e.node_id == "item_echo"
    ]
    assert len(item_ends) == len(ran) * len(graph.items)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_every_node_ends_once_as_spec_says_and_in_edge_order(graph: Graph) -> None:
    journal, host = Journal(), ChildRuns(graph.item_crashes)
    result, store = _run(graph.document(), MemoryStore(), journal, host, graph.items)
    assert result.status == ExecutionStatus.SUCCEEDED
    assert {k: v.status for k, v in result.steps.items()} == graph.expected()
    _check_maps(graph, result, host)

    ends = [e for e in store.events if e.type in STEP_END]
    assert sorted(e.node_id for e in ends) == sorted(graph.expected())  # exactly once each
    end_seq = {e.node_id: e.seq for e in ends}
    start_seq = {e.node_id: e.seq for e in store.events if e.type == EventType.STEP_STARTED}
    for s, t, _ in graph.edges:
        target = f"n{t}"
        assert end_seq[f"n{s}"] < start_seq.get(target, end_seq[target])
    # a node that ran, ran once (a map: started its items once); a skipped node never ran
    for node_id, status in graph.expected().items():
        calls = host.starts[node_id] if node_id in host.maps else journal.calls(node_id)
        assert calls == (0 if status == StepStatus.SKIPPED else 1)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs(), st.integers(min_value=1, max_value=10))
def test_resume_after_an_interruption_at_any_step(graph: Graph, k: int) -> None:
    doc = graph.document()
    inner, host = MemoryStore(), ChildRuns(graph.item_crashes)
    with contextlib.suppress(Crash):
        _run(doc, CrashingStore(inner, after=k), Journal(), host, graph.items)
    finished_before = {n for n, rec in inner.steps.items() if rec.status in FINISHED}
    items_done_before = sum(
        r.status != ExecutionStatus.QUEUED for runs in host.maps.values() for r in runs
    )
    item_calls_before = host.journal.calls("item_echo")

    journal = Journal()
    result, _ = _run(doc, inner, journal, host, graph.items)
    assert result.status == ExecutionStatus.SUCCEEDED
    assert {k: v.status for k, v in result.steps.items()} == graph.expected()
    _check_maps(graph, result, host)
    # a map started before the interruption was not started again; its finished items
    # did not run again
    assert all(count == 1 for count in host.starts.values())
    total_items = len(host.maps) * len(graph.items)
    assert host.journal.calls("item_echo") - item_calls_before == total_items - items_done_before
    assert not finished_before & set(journal.started())
    for node_id, status in graph.expected().items():
        if node_id not in finished_before and node_id not in host.maps:
            assert journal.calls(node_id) == (0 if status == StepStatus.SKIPPED else 1)
