"""The runner over small test nodes: what a user would see in steps, events and outputs."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import Any, ClassVar

from agentflow_app.engine.events import EventType, StepRecord
from agentflow_app.engine.node import Node, NodeConfig, RunContext
from agentflow_app.engine.registry import Registry
from agentflow_app.engine.resolver import UNRESOLVED
from agentflow_app.engine.runner import MAY_HAVE_BEEN_SENT, run
from agentflow_app.engine.status import ExecutionStatus, StepStatus
from agentflow_app.engine.step_output import MAX_OUTPUT_BYTES
from agentflow_app.engine.store import MemoryStore
from agentflow_app.engine.validate import validate
from agentflow_app.nodes.logic import Switch
from tests.helpers.engine_builders import (
    Journal,
    chain,
    document,
    edge,
    fan_out,
    make_registry,
    node,
    run_doc,
)


def statuses(result) -> dict[str, StepStatus]:
    return {node_id: step.status for node_id, step in result.steps.items()}


def event_types(store: MemoryStore, node_id: str | None = None) -> list[EventType]:
    return [e.type for e in store.events if node_id is None or e.node_id == node_id]


async def test_a_chain_runs_in_order_and_events_are_numbered() -> None:
    journal = Journal()
    result, store = await run_doc(chain(5), journal=journal)
    assert result.status == ExecutionStatus.SUCCEEDED
    assert journal.started() == ["start", "n0", "n1", "n2", "n3", "n4"]
    assert [e.seq for e in store.events] == list(range(1, len(store.events) + 1))
    assert store.events[0].type == EventType.EXECUTION_STARTED
    assert store.events[-1].type == EventType.EXECUTION_SUCCEEDED
    started = next(e for e in store.events if e.type == EventType.STEP_STARTED)
    assert started.data == {"node_type": "test.trigger", "attempt": 1}
    done = next(e for e in store.events if e.type == EventType.STEP_SUCCEEDED)
    assert set(done.data) == {"output", "output_truncated", "duration_ms", "usage"}
    assert all(s.status == StepStatus.SUCCEEDED for s in store.steps.values())


class _WhoWaits(MemoryStore):
    """Records, for each step's start and end, whether the runner waited until it was
    stored before going on."""

    def __init__(self) -> None:
        super().__init__("exec-1")
        self.writes: dict[tuple[str, str | None], str] = {}

    async def emit(self, type: EventType, node_id: str | None = None, **data: Any) -> Any:
        self.writes[str(type), node_id] = "waited"
        return await super().emit(type, node_id, **data)

    async def emit_soon(self, type: EventType, node_id: str | None = None, **data: Any) -> None:
        self.writes[str(type), node_id] = "went on"
        await MemoryStore.emit(self, type, node_id, **data)

    emit_nowait = emit_soon


async def test_the_run_goes_on_while_a_steps_end_is_written_not_before_a_step_acts() -> None:
    doc = document(
        [
            node("start", "test.trigger"),
            node("echo", "test.echo", value="x"),
            node("send", "test.send"),
            node("after", "test.echo", value="y"),
        ],
        [edge("start", "echo"), edge("echo", "send"), edge("send", "after")],
    )
    store = _WhoWaits()
    result, _ = await run_doc(doc, store=store)
    assert result.status == ExecutionStatus.SUCCEEDED
    steps = ("start", "echo", "send", "after")
    # A step that acts on the world is stored as running before it acts: a crash then
    # fails it as "may have been sent" instead of sending again.
    assert {n: store.writes["step.started", n] for n in steps} == {
        "start": "went on",
        "echo": "went on",
        "send": "waited",
        "after": "went on",
    }
    assert {store.writes["step.succeeded", n] for n in steps} == {"went on"}
    assert store.writes["execution.succeeded", None] == "waited"
    # The events are in the order of the steps all the same.
    ends = [e.node_id for e in store.events if e.type == EventType.STEP_SUCCEEDED]
    assert ends == list(steps)


async def test_independent_branches_overlap() -> None:
    # Three nodes meet at one barrier: the run can only finish if all three are in flight
    # together; run one at a time, the first would wait until its timeout_s and fail.
    barrier = asyncio.Barrier(3)
    doc = document(
        [node("start", "test.trigger")]
        + [node(f"r{i}", "test.rendezvous", timeout_s=30) for i in range(3)],
        [edge("start", f"r{i}") for i in range(3)],
    )
    result, _ = await run_doc(doc, barrier=barrier)
    assert result.status == ExecutionStatus.SUCCEEDED, result.error


def _router(flag: bool) -> dict:
    return document(
        [
            node("start", "test.trigger"),
            node("c", "test.condition", expression="inputs.go"),
            node("yes", "test.echo", value="yes"),
            node("yes2", "test.echo", value="{{ nodes.yes.output.value }}!"),
            node("no", "test.echo", value="no"),
            node("join", "test.echo", value="joined"),
            node("out", "output", fields={"answer": "{{ nodes.join.output.value }}"}),
        ],
        [
            edge("start", "c"),
            edge("c", "yes", "true"),
            edge("yes", "yes2"),
            edge("c", "no", "false"),
            edge("yes2", "join"),
            edge("no", "join"),
            edge("join", "out"),
        ],
    ), flag


async def test_condition_routes_and_skips_propagate_to_a_join() -> None:
    doc, _ = _router(True)
    result, store = await run_doc(doc, {"go": True})
    assert result.status == ExecutionStatus.SUCCEEDED
    assert statuses(result) == {
        "start": "succeeded",
        "c": "succeeded",
        "yes": "succeeded",
        "yes2": "succeeded",
        "no": "skipped",
        "join": "succeeded",
        "out": "succeeded",
    }
    assert result.outputs == {"answer": "joined"}
    assert event_types(store, "no") == [EventType.STEP_SKIPPED]

    result, _ = await run_doc(doc, {"go": False})
    assert statuses(result)["yes"] == statuses(result)["yes2"] == "skipped"
    assert statuses(result)["join"] == "succeeded"


async def test_a_node_whose_every_input_is_inactive_is_skipped() -> None:
    doc = document(
        [
            node("start", "test.trigger"),
            node("c", "test.condition", expression="false"),
            node("a", "test.echo"),
            node("b", "test.echo"),
            node("after", "test.echo"),
        ],
        [
            edge("start", "c"),
            edge("c", "a", "true"),
            edge("c", "b", "true"),
            edge("a", "after"),
            edge("b", "after"),
        ],
    )
    result, _ = await run_doc(doc)
    assert [statuses(result)[n] for n in ("a", "b", "after")] == ["skipped"] * 3
    assert result.status == ExecutionStatus.SUCCEEDED


async def test_timeout_fails_the_step_and_the_run() -> None:
    doc = document(
        [node("start", "test.trigger"), node("slow", "test.sleep", seconds=60, timeout_s=0.05)],
        [edge("start", "slow")],
    )
    result, store = await run_doc(doc)
    assert result.status == ExecutionStatus.FAILED
    assert result.steps["slow"].status == StepStatus.FAILED
    assert "timed out after 0.05 s" in result.steps["slow"].error
    assert "'slow'" in result.error
    assert store.events[-1].type == EventType.EXECUTION_FAILED


async def test_transient_errors_are_retried_up_to_retries() -> None:
    journal = Journal()
    doc = document(
        [
            node("start", "test.trigger"),
            node("ok", "test.flaky", failures=2, retries=2),
            node("gives_up", "test.flaky", failures=5, retries=1, on_error="continue"),
        ],
        [edge("start", "ok"), edge("start", "gives_up")],
    )
    result, store = await run_doc(doc, journal=journal)
    assert result.steps["ok"].status == StepStatus.SUCCEEDED
    assert result.steps["ok"].attempts == 3
    assert result.steps["ok"].output == {"attempt": 3}
    assert journal.calls("ok") == 3
    assert journal.calls("gives_up") == 2
    assert "after 2 attempts" in result.steps["gives_up"].error
    logs = [e for e in store.events if e.type == EventType.STEP_LOG and e.node_id == "ok"]
    assert len(logs) == 2 and "retrying" in logs[0].data["message"]


async def test_permanent_errors_are_not_retried() -> None:
    journal = Journal()
    doc = document(
        [
            node("start", "test.trigger"),
            node("no", "test.flaky", failures=1, permanent=True, retries=3),
        ],
        [edge("start", "no")],
    )
    result, _ = await run_doc(doc, journal=journal)
    assert journal.calls("no") == 1
    assert result.steps["no"].error == "the far side said no"
    assert result.status == ExecutionStatus.FAILED


async def test_on_error_continue_passes_the_error_downstream() -> None:
    doc = document(
        [
            node("start", "test.trigger"),
            node("bad", "test.flaky", failures=1, permanent=True, on_error="continue"),
            node("next", "test.echo", value="{{ nodes.bad.output.error }}"),
        ],
        [edge("start", "bad"), edge("bad", "next")],
    )
    result, _ = await run_doc(doc)
    assert result.status == ExecutionStatus.SUCCEEDED
    assert result.steps["bad"].status == StepStatus.FAILED
    assert result.steps["next"].output == {"value": "the far side said no"}


async def test_a_failure_stops_new_work_and_leaves_the_rest_pending() -> None:
    journal = Journal()
    doc = document(
        [
            node("start", "test.trigger"),
            node("bad", "test.flaky", failures=1, permanent=True),
            node("after", "test.echo"),
        ],
        [edge("start", "bad"), edge("bad", "after")],
    )
    result, store = await run_doc(doc, journal=journal)
    assert result.status == ExecutionStatus.FAILED
    assert "after" not in store.steps
    assert journal.calls("after") == 0
    assert result.error == "node 'bad' failed: the far side said no"


async def test_cancellation_ends_the_run_and_marks_running_steps() -> None:
    store = MemoryStore("exec-c")
    doc = document(
        [node("start", "test.trigger"), node("slow", "test.sleep", seconds=600)],
        [edge("start", "slow")],
    )
    journal = Journal()
    running = asyncio.create_task(run_doc(doc, store=store, journal=journal))
    while journal.calls("slow") == 0:
        await asyncio.sleep(0.01)
    store.cancel = True
    # the test's own bound: 2 s (SPEC §7) would be exceeded only by a broken runner
    result, _ = await asyncio.wait_for(running, timeout=2)
    assert result.status == ExecutionStatus.CANCELLED
    assert store.steps["slow"].status == StepStatus.CANCELLED
    assert store.events[-1].type == EventType.EXECUTION_CANCELLED


async def test_a_cancel_requested_before_start_runs_nothing() -> None:
    store = MemoryStore()
    store.cancel = True
    journal = Journal()
    result, _ = await run_doc(chain(3), store=store, journal=journal)
    assert result.status == ExecutionStatus.CANCELLED
    assert journal.entries == []


async def test_outputs_over_one_mib_are_stored_truncated() -> None:
    doc = document(
        [
            node("start", "test.trigger"),
            node("big", "test.big", size=MAX_OUTPUT_BYTES + 10),
            node("small", "test.big", size=1000),
            node("len", "test.echo", value="{{ nodes.big.output.blob | length }}"),
        ],
        [edge("start", "big"), edge("start", "small"), edge("big", "len")],
    )
    _result, store = await run_doc(doc)
    big = store.steps["big"]
    assert big.output_truncated is True
    assert isinstance(big.output, str) and len(big.output) < MAX_OUTPUT_BYTES
    assert big.output.startswith('{"blob": "xxx')
    assert store.steps["small"].output_truncated is False
    # downstream nodes of the same run still see the whole output
    assert store.steps["len"].output == {"value": MAX_OUTPUT_BYTES + 10}


async def test_max_cost_usd_fails_the_run_with_that_reason() -> None:
    doc = document(
        [
            node("start", "test.trigger"),
            node("a", "test.spend", cost_usd=0.4),
            node("b", "test.spend", cost_usd=0.4),
            node("c", "test.echo"),
        ],
        [edge("start", "a"), edge("a", "b"), edge("b", "c")],
        max_cost_usd=0.5,
    )
    journal = Journal()
    result, _ = await run_doc(doc, journal=journal)
    assert result.status == ExecutionStatus.FAILED
    assert "max_cost_usd" in result.error and "0.8000" in result.error
    assert result.usage == {"input_tokens": 20, "output_tokens": 20, "cost_usd": 0.8}
    assert journal.calls("c") == 0


async def test_usage_is_summed_on_success() -> None:
    doc = document(
        [
            node("start", "test.trigger"),
            node("a", "test.spend", cost_usd=0.25, tokens=3),
            node("b", "test.spend", cost_usd=0.5, tokens=4),
        ],
        [edge("start", "a"), edge("start", "b")],
    )
    result, store = await run_doc(doc)
    assert result.usage == {"input_tokens": 7, "output_tokens": 7, "cost_usd": 0.75}
    assert store.steps["a"].usage == {"input_tokens": 3, "output_tokens": 3, "cost_usd": 0.25}
    assert store.events[-1].data["usage"] == result.usage


async def test_a_non_json_output_is_a_clear_step_error() -> None:
    doc = document(
        [node("start", "test.trigger"), node("odd", "test.not_json")], [edge("start", "odd")]
    )
    result, _ = await run_doc(doc)
    assert "not JSON" in result.steps["odd"].error
    assert "'odd'" in result.steps["odd"].error


async def test_logs_and_batched_tokens() -> None:
    doc = document(
        [node("start", "test.trigger"), node("talk", "test.chatty", tokens=200)],
        [edge("start", "talk")],
    )
    _result, store = await run_doc(doc)
    tokens = [e for e in store.events if e.type == EventType.STEP_TOKEN]
    assert "".join(e.data["text"] for e in tokens) == "".join(f"t{i} " for i in range(200))
    assert len(tokens) < 200  # batched, not one event per token
    types = event_types(store, "talk")
    assert types.index(EventType.STEP_LOG) < types.index(EventType.STEP_TOKEN)
    assert types[-1] == EventType.STEP_SUCCEEDED  # every token is flushed before the end
    log = next(e for e in store.events if e.type == EventType.STEP_LOG)
    assert log.data == {"level": "info", "message": "thinking"}


async def test_template_errors_fail_the_step_naming_the_field() -> None:
    doc = document(
        [node("start", "test.trigger"), node("a", "test.echo", value="{{ inputs.missing }}")],
        [edge("start", "a")],
    )
    result, _ = await run_doc(doc, {"present": 1})
    assert "config.value" in result.steps["a"].error
    assert "inputs.missing was not given" in result.steps["a"].error


async def test_fan_out_of_200_all_succeed() -> None:
    result, _ = await run_doc(fan_out(200))
    assert result.status == ExecutionStatus.SUCCEEDED
    assert len(result.steps) == 201


# -- durable resume ----------------------------------------------------------------------------


def _record(node_id: str, type_: str, status: StepStatus, output=None) -> StepRecord:
    return StepRecord(
        node_id=node_id,
        type=type_,
        status=status,
        attempts=1,
        started_at=datetime.now(UTC),
        output=output,
    )


async def test_resume_reuses_finished_steps_and_reruns_failed_ones() -> None:
    store = MemoryStore()
    store.steps = {
        "start": _record("start", "test.trigger", StepStatus.SUCCEEDED, {"x": 1}),
        "n0": _record("n0", "test.echo", StepStatus.SUCCEEDED, {"value": "old"}),
        "n1": _record("n1", "test.echo", StepStatus.FAILED),
    }
    journal = Journal()
    result, _ = await run_doc(chain(3), store=store, journal=journal)
    assert result.status == ExecutionStatus.SUCCEEDED
    assert journal.started() == ["n1", "n2"]
    assert result.steps["n0"].output == {"value": "old"}
    assert result.steps["n1"].attempts == 2
    assert store.events[0].data == {"resumed": True}


async def test_an_in_flight_side_effect_is_not_repeated() -> None:
    doc = document(
        [
            node("start", "test.trigger"),
            node("send", "test.send"),
            node("echo", "test.echo"),
        ],
        [edge("start", "echo"), edge("start", "send")],
    )
    store = MemoryStore()
    store.steps = {
        "start": _record("start", "test.trigger", StepStatus.SUCCEEDED, {}),
        "send": _record("send", "test.send", StepStatus.RUNNING),
        "echo": _record("echo", "test.echo", StepStatus.RUNNING),
    }
    journal = Journal()
    result, _ = await run_doc(doc, store=store, journal=journal)
    assert journal.calls("send") == 0
    assert journal.calls("echo") == 1  # harmless to repeat: it runs again
    assert result.steps["send"].error == MAY_HAVE_BEEN_SENT
    assert result.status == ExecutionStatus.FAILED

    # /retry: the user decided; the failed step now runs
    journal = Journal()
    result, _ = await run_doc(doc, store=store, journal=journal)
    assert journal.started() == ["send"]
    assert result.status == ExecutionStatus.SUCCEEDED


class _AsksTheRegistry(Node):
    """Like an agent: safe to repeat only if the run's registry has what it needs."""

    type = "test.asks_registry"
    label = "Asks the registry"
    side_effects = True
    seen: ClassVar[list[Registry | None]] = []

    def is_idempotent(self, config: NodeConfig, registry: Registry | None = None) -> bool:
        self.seen.append(registry)
        return registry is not None and registry.has_node("test.echo")

    async def run(self, ctx: RunContext, config: NodeConfig) -> Any:
        return {"registry_has_echo": ctx.registry.has_node("test.echo")}


class _OldStyleOverride(Node):
    """A plugin written before ``is_idempotent`` received the registry."""

    type = "test.old_style"
    label = "Old style"
    side_effects = True

    def is_idempotent(self, config: NodeConfig) -> bool:
        return False

    async def run(self, ctx: RunContext, config: NodeConfig) -> Any:
        return {"sent": True}


async def test_an_in_flight_step_is_judged_with_the_run_registry() -> None:
    registry = make_registry()
    registry.register_node(_AsksTheRegistry)
    registry.register_node(_OldStyleOverride)
    doc = document(
        [
            node("start", "test.trigger"),
            node("asks", "test.asks_registry"),
            node("old", "test.old_style"),
        ],
        [edge("start", "asks"), edge("start", "old")],
    )
    store = MemoryStore()
    store.steps = {
        "start": _record("start", "test.trigger", StepStatus.SUCCEEDED, {}),
        "asks": _record("asks", "test.asks_registry", StepStatus.RUNNING),
        "old": _record("old", "test.old_style", StepStatus.RUNNING),
    }
    _AsksTheRegistry.seen.clear()
    result, _ = await run_doc(doc, store=store, registry=registry)
    assert _AsksTheRegistry.seen == [registry]
    assert result.steps["asks"].status == StepStatus.SUCCEEDED
    assert result.steps["asks"].output == {"registry_has_echo": True}
    assert result.steps["old"].error == MAY_HAVE_BEEN_SENT


# -- waiting ---------------------------------------------------------------------------------


def _paused_branch() -> dict[str, Any]:
    """trigger → pause → after, and trigger → busy (a branch that does not wait)."""
    return document(
        [
            node("start", "test.trigger"),
            node("pause", "test.pause"),
            node("after", "test.echo", value="after"),
            node("busy", "test.echo", value="busy"),
        ],
        [edge("start", "pause"), edge("pause", "after"), edge("start", "busy")],
    )


async def test_a_wait_pauses_its_branch_the_others_finish_and_the_run_waits() -> None:
    result, store = await run_doc(_paused_branch())
    assert result.status == ExecutionStatus.WAITING
    assert statuses(result) == {
        "start": StepStatus.SUCCEEDED,
        "pause": StepStatus.WAITING,
        "busy": StepStatus.SUCCEEDED,
    }
    assert store.steps["pause"].output == {"paused": "pause"}
    waiting = next(e for e in store.events if e.type == EventType.STEP_WAITING)
    assert waiting.data["reason"] == "pause pauses" and waiting.data["state"] == {"paused": "pause"}
    assert store.events[-1].type == EventType.EXECUTION_WAITING
    assert store.events[-1].data["nodes"] == ["pause"]

    journal = Journal()
    again, store = await run_doc(_paused_branch(), store=store, journal=journal)
    assert again.status == ExecutionStatus.SUCCEEDED
    assert again.steps["pause"].output == {"resumed": {"paused": "pause"}}
    assert journal.started() == ["pause", "after"], "nothing finished ran again"
    assert store.steps["pause"].attempts == 1, "waking is not another attempt"


async def test_a_failure_ends_a_run_with_a_waiting_branch_and_cancels_the_wait() -> None:
    doc = document(
        [
            node("start", "test.trigger"),
            node("pause", "test.pause"),
            node("boom", "test.flaky", failures=1, permanent=True),
        ],
        [edge("start", "pause"), edge("start", "boom")],
    )
    result, store = await run_doc(doc)
    assert result.status == ExecutionStatus.FAILED
    assert store.steps["pause"].status == StepStatus.CANCELLED
    assert store.steps["pause"].error == "the run failed while this step waited"


async def test_switch_routes_by_the_first_true_case_or_default() -> None:
    registry = make_registry()
    registry.register_node(Switch)
    cases = [
        {"name": "big", "expression": "inputs.amount > 1000"},
        {"name": "medium", "expression": "inputs.amount > 100"},
    ]
    doc = document(
        [
            node("start", "test.trigger"),
            node("route", "logic.switch", cases=cases),
            node("big", "test.echo", value="big"),
            node("medium", "test.echo", value="medium"),
            node("small", "test.echo", value="small"),
        ],
        [
            edge("start", "route"),
            edge("route", "big", "big"),
            edge("route", "medium", "medium"),
            edge("route", "small", "default"),
        ],
    )
    for amount, taken in ((5000, "big"), (500, "medium"), (5, "small")):
        result, _ = await run_doc(doc, {"amount": amount}, registry=registry)
        ran = {n for n, s in statuses(result).items() if s == StepStatus.SUCCEEDED}
        assert ran == {"start", "route", taken}
        assert result.steps["route"].output == {"matched": "default" if taken == "small" else taken}
    wrong = document(doc["nodes"], [*doc["edges"], edge("route", "small", "huge")])
    problems = validate(wrong, registry)
    assert any(
        "handle 'huge'" in p.message and "big, medium, default" in p.message for p in problems
    )


class _Texts:
    """A host resolver that supplies a file reference's ``text`` and notes the thread."""

    keys = frozenset({"text"})

    def __init__(self) -> None:
        self.threads: list[int] = []

    def __call__(self, value: dict, key: str) -> Any:
        if key != "text" or "file_id" not in value:
            return UNRESOLVED
        self.threads.append(threading.get_ident())
        return f"contents of file {value['file_id']}"


async def test_the_host_is_asked_in_a_thread_and_only_for_what_a_value_lacks() -> None:
    doc = document(
        [
            node("start", "test.trigger"),
            node("said", "test.echo", value={"text": "hi"}),
            node("echo", "test.echo", value="{{ nodes.said.output.value.text }}"),
            node("read", "test.echo", value="{{ inputs.doc.text }}"),
        ],
        [edge("start", "said"), edge("said", "echo"), edge("echo", "read")],
    )
    texts, store = _Texts(), MemoryStore("exec-1")
    result = await run(
        doc,
        {"doc": {"file_id": 7}},
        store,
        registry=make_registry(),
        http=None,
        credentials=None,
        services={},
        resolve=texts,
    )
    assert result.status == ExecutionStatus.SUCCEEDED
    assert store.steps["echo"].output == {"value": "hi"}
    assert store.steps["read"].output == {"value": "contents of file 7"}
    assert len(texts.threads) == 1  # for the file only, and not on the loop's thread
    assert texts.threads[0] != threading.get_ident()
