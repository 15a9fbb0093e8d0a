"""The live view's fold, the history filters and the Execute form, on real executions.

A workflow (trigger → template → output) is run in-process by the real runner over the
real store, so the events folded here are the ones a worker writes and publishes. The
Reflex handlers are driven the way Reflex drives them (see tests/helpers/states.py): a state
tree with the browser's token, the URL in the router.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import reflex as rx
from reflex.istate.data import ReflexURL, RouterData

from agentflow_app.components.json_viewer import json_html
from agentflow_app.engine.events import Event, EventType
from agentflow_app.services import executions, workflows
from agentflow_app.services.executions import DbExecutionStore, load_execution, run_execution
from agentflow_app.state.execute import ExecuteState, make_fields, parse_fields, trigger_specs
from agentflow_app.state.execution import ExecutionState
from agentflow_app.state.execution_view import LiveRun, format_duration, topological
from agentflow_app.state.executions import ExecutionsState, day_range
from tests.helpers.stack import Stack
from tests.helpers.states import redirects, run, session_for, state_text
from tests.helpers.users import Account, new_account


def document(name: str = "Greeting") -> dict[str, Any]:
    return {
        "schema_version": 1,
        "name": name,
        "description": "",
        "nodes": [
            {
                "id": "start",
                "type": "trigger.manual",
                "position": {"x": 0, "y": 0},
                "data": {
                    "label": "Start",
                    "config": {
                        "inputs": [
                            {"name": "who", "type": "string", "required": True},
                            {"name": "times", "type": "integer", "default": 1},
                            {"name": "loud", "type": "boolean"},
                        ]
                    },
                },
            },
            {
                "id": "greet",
                "type": "transform.template",
                "position": {"x": 300, "y": 0},
                "data": {"label": "Greet", "config": {"template": "Hello {{ inputs.who }}"}},
            },
            {
                "id": "out",
                "type": "output",
                "position": {"x": 600, "y": 0},
                "data": {"label": "Result", "config": {"value": "{{ nodes.greet.output.text }}"}},
            },
        ],
        "edges": [
            {"id": "e1", "source": "start", "target": "greet"},
            {"id": "e2", "source": "greet", "target": "out"},
        ],
    }


def at(path: str) -> RouterData:
    return RouterData(url=ReflexURL(f"http://localhost:3000{path}"))


def open_tab(account: Account, path: str) -> rx.State:
    root = session_for(account.token())
    root.router = at(path)
    for substate in (ExecutionState, ExecutionsState, ExecuteState):
        root.get_substate(substate._get_substate_path()).router = root.router
    return root


async def finished_run(account: Account, who: str = "Ada") -> tuple[int, int]:
    """A workflow of ``account`` and one execution of it, run to its end in-process."""
    workflow = workflows.create(account.actor, document())
    execution_id = executions.start(account.actor, workflow.id, {"who": who})
    claimed = executions.claim(execution_id, "test-worker")
    assert claimed is not None
    assert (claimed.execution_id, claimed.owner_id) == (execution_id, account.actor.id)
    assert claimed.inputs == {"who": who, "times": 1}  # the trigger default applied
    assert claimed.document["nodes"] == document()["nodes"]
    assert claimed.has_steps is False  # a first start: nothing to resume from
    await run_execution(execution_id, http=None, credentials=None, claimed=claimed)
    return workflow.id, execution_id


@pytest.fixture
def owner(stack: Stack) -> Account:
    return new_account("live-owner")


@pytest.fixture
def other(stack: Stack) -> Account:
    return new_account("live-other")


# -- following a run to its end ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ending", "data", "status", "outputs", "error"),
    [
        (
            EventType.EXECUTION_SUCCEEDED,
            {"outputs": {"answer": "42"}},
            "succeeded",
            {"answer": "42"},
            None,
        ),
        (
            EventType.EXECUTION_FAILED,
            {"error": "the key sk-hidden was refused"},
            "failed",
            {},
            "the key [redacted] was refused",
        ),
        (EventType.EXECUTION_CANCELLED, {}, "cancelled", {}, None),
    ],
)
async def test_whoever_hears_the_end_reads_a_finished_record(
    owner: Account,
    ending: EventType,
    data: dict[str, Any],
    status: str,
    outputs: dict[str, Any],
    error: str | None,
) -> None:
    """The live view, the node-test panel and SSE clients read the record once they hear a
    terminal event: the row's end is written with that event, so they never read
    ``running`` after ``execution.succeeded``, and it holds what the event says."""
    workflow = workflows.create(owner.actor, document())
    execution_id = executions.start(owner.actor, workflow.id, {"who": "Ada"})
    claimed = executions.claim(execution_id, "test-worker")
    usage = {"input_tokens": 12, "output_tokens": 3, "cost_usd": 0.0001}
    read_on_hearing: list[dict[str, Any]] = []

    def on_event(event: Event) -> None:
        if event.type.terminal:
            read_on_hearing.append(executions.get(owner.actor, execution_id) | {"ts": event.ts})

    store = DbExecutionStore(
        execution_id,
        claimed=claimed,
        on_event=on_event,
        redact=lambda value: json.loads(json.dumps(value).replace("sk-hidden", "[redacted]")),
    )
    await store.emit(EventType.EXECUTION_STARTED)
    assert executions.get(owner.actor, execution_id)["status"] == "running"
    await store.emit(ending, usage=usage, **data)

    [record] = read_on_hearing
    assert record["status"] == status
    assert record["outputs"] == outputs
    assert record["error"] == error
    assert record["usage"] == usage
    assert record["finished_at"] == record["ts"].isoformat()
    assert load_execution(execution_id).worker is None  # the reaper leaves it alone
    seen = [str(e.type) async for e in executions.follow(owner.actor, execution_id)]
    assert seen == ["execution.queued", "execution.started", str(ending)]
    await store.aclose()


# -- the fold over a real run's events ---------------------------------------------------------


async def test_folding_the_stored_events_gives_the_stored_record(owner: Account) -> None:
    _, execution_id = await finished_run(owner)
    record = executions.get(owner.actor, execution_id)
    row = load_execution(execution_id)
    events = executions.events_after(execution_id)
    queued = {**record, "status": "queued", "steps": [], "outputs": None, "started_at": None}

    run_ = LiveRun(queued, row.document, "Greeting")
    assert {n: d["status"] for n, d in run_.decorations().items()} == {
        "start": "pending",
        "greet": "pending",
        "out": "pending",
    }
    for event in events:
        run_.apply(event)
    assert run_.status == "succeeded"
    assert run_.decorations() == {n: {"status": "succeeded"} for n in ("start", "greet", "out")}
    assert run_.steps["greet"]["output"] == record["steps"][1]["output"] == {"text": "Hello Ada"}
    header = run_.header()
    assert header["status"] == "succeeded" and not header["active"]
    assert "Hello Ada" in header["outputs_html"]
    assert header["steps_done"] == header["steps_total"] == 3
    views = run_.step_views()
    assert [v["node_id"] for v in views] == ["start", "greet", "out"]
    assert all(v["duration"] for v in views)
    detail = run_.detail("greet")
    assert "Ada" in detail["input_html"] and "Hello Ada" in detail["output_html"]


async def test_resuming_from_any_seq_gives_no_gap_and_no_duplicate(owner: Account) -> None:
    _, execution_id = await finished_run(owner)
    row = load_execution(execution_id)
    record = executions.get(owner.actor, execution_id)
    events = executions.events_after(execution_id)
    assert len(events) >= 8

    whole = LiveRun(record, row.document, "Greeting")
    for event in events:
        whole.apply(event)
    for cut in range(1, len(events)):
        resumed = LiveRun(record, row.document, "Greeting")
        for event in events[:cut]:
            resumed.apply(event)
        # a reconnect follows from the last applied seq; a replay overlapping it is dropped
        again = executions.events_after(execution_id, resumed.seq)
        assert [e.seq for e in again] == [e.seq for e in events[cut:]]
        touched = [resumed.apply(e) for e in events[: cut + 1] + again]
        assert touched[:cut] == [None] * cut
        assert resumed.seq == whole.seq
        assert resumed.step_views() == whole.step_views()
        assert resumed.logs == whole.logs


def _event(seq: int, kind: EventType, node: str | None = None, **data: Any) -> Event:
    return Event(
        execution_id=1,
        seq=seq,
        ts=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seq),
        type=kind,
        node_id=node,
        data=data,
    )


def test_tokens_stream_into_the_running_step_then_give_way_to_its_output() -> None:
    record = {"id": 1, "status": "queued", "steps": [], "inputs": {"who": "Ada"}}
    run_ = LiveRun(record, document(), "Greeting")
    run_.apply(_event(1, EventType.EXECUTION_STARTED))
    run_.apply(_event(2, EventType.STEP_STARTED, "greet", attempt=1))
    run_.apply(_event(3, EventType.STEP_TOKEN, "greet", text="Hel"))
    run_.apply(_event(4, EventType.STEP_TOKEN, "greet", text="lo <b>"))
    run_.apply(_event(5, EventType.STEP_LOG, "greet", message="halfway", level="warning"))
    row = next(v for v in run_.step_views() if v["node_id"] == "greet")
    assert (row["status"], row["stream"], row["log_count"]) == ("running", "Hello <b>", 1)
    assert run_.detail("greet")["logs"][0]["level"] == "warning"
    run_.apply(_event(6, EventType.STEP_SUCCEEDED, "greet", output={"text": "Hello <b>"}))
    row = next(v for v in run_.step_views() if v["node_id"] == "greet")
    assert (row["status"], row["stream"], row["duration"]) == ("succeeded", "", "4.0 s")
    assert "&lt;b&gt;" in run_.detail("greet")["output_html"]  # escaped, never markup

    run_.apply(_event(7, EventType.STEP_STARTED, "out", attempt=1))
    run_.apply(_event(8, EventType.EXECUTION_CANCELLED))
    assert run_.decorations()["out"] == {"status": "cancelled"}
    assert run_.header()["retryable"]


def test_formatting_helpers() -> None:
    assert [format_duration(s) for s in (0.0042, 4.25, 75, 3725, None)] == [
        "4 ms",
        "4.2 s",
        "1 m 15 s",
        "1 h 02 m",
        "",
    ]
    assert topological(
        ["out", "start", "mid"],
        [
            {"source": "start", "target": "mid"},
            {"source": "mid", "target": "out"},
        ],
    ) == ["start", "mid", "out"]
    html = json_html({"<k>": ['x"y', 1, None, True]})
    assert "<k>" not in html and "&lt;k&gt;" in html and "&quot;" in html


# -- the page's load: ownership --------------------------------------------------------------


async def test_the_live_view_loads_its_owners_run_and_nobody_elses(
    owner: Account, other: Account
) -> None:
    _, execution_id = await finished_run(owner, who="Owner-only-Grace")
    root = open_tab(owner, f"/executions/{execution_id}")
    events = await run(root, ExecutionState, "load")
    state = root.get_substate(ExecutionState._get_substate_path())
    assert state.load_error == "" and state.header["status"] == "succeeded"
    assert [e.fn.__name__ for e in events if hasattr(e, "fn")] == ["watch"]
    assert {n["id"] for n in state.graph["nodes"]} == {"start", "greet", "out"}
    assert "trigger.manual" in state.catalog
    await run(root, ExecutionState, "select_step", node="greet")
    assert "Owner-only-Grace" in state.detail["output_html"]

    stranger = open_tab(other, f"/executions/{execution_id}")
    await run(stranger, ExecutionState, "load")
    state = stranger.get_substate(ExecutionState._get_substate_path())
    assert state.load_error == "This execution does not exist, or it is not yours."
    assert "Owner-only-Grace" not in state_text(stranger)

    signed_out = session_for("")
    signed_out.router = at(f"/executions/{execution_id}")
    signed_out.get_substate(ExecutionState._get_substate_path()).router = signed_out.router
    events = await run(signed_out, ExecutionState, "load")
    assert [p.split("?")[0] for p in redirects(events)] == ["/login"]


async def test_cancel_retry_and_rerun_from_the_page(owner: Account) -> None:
    workflow = workflows.create(owner.actor, document())
    execution_id = executions.start(owner.actor, workflow.id, {"who": "Ada"})  # stays queued
    root = open_tab(owner, f"/executions/{execution_id}")
    await run(root, ExecutionState, "load")
    state = root.get_substate(ExecutionState._get_substate_path())
    assert state.header["active"]
    # A reconnect runs on_load again: the view stays and the watcher goes on from its seq.
    state._run.seq = 1
    events = await run(root, ExecutionState, "load")
    assert [e.fn.__name__ for e in events if hasattr(e, "fn")] == ["watch"]
    assert state._run.seq == 1 and state.header["active"]
    await run(root, ExecutionState, "cancel")
    assert executions.get(owner.actor, execution_id)["status"] == "cancelled"

    events = await run(root, ExecutionState, "retry")
    assert executions.get(owner.actor, execution_id)["status"] == "queued"
    assert any(getattr(e, "fn", None) and e.fn.__name__ == "watch" for e in events)

    await run(root, ExecutionState, "cancel")
    events = await run(root, ExecutionState, "rerun")
    (target,) = redirects(events)
    new_id = int(target.rsplit("/", 1)[-1])
    assert new_id != execution_id
    assert executions.get(owner.actor, new_id)["inputs"] == {"who": "Ada", "times": 1}

    # Acting on a finished run says why not, instead of failing.
    await run(root, ExecutionState, "cancel")
    assert "already" in state.action_error


# -- history ---------------------------------------------------------------------------------


async def test_history_filters_and_pages(owner: Account, other: Account) -> None:
    workflow_id, done = await finished_run(owner)
    second = workflows.create(owner.actor, document("Second"))
    queued = [executions.start(owner.actor, second.id, {"who": str(i)}) for i in range(26)]
    await finished_run(other)

    root = open_tab(owner, "/executions")
    await run(root, ExecutionsState, "load")
    state = root.get_substate(ExecutionsState._get_substate_path())
    assert state.total == 27 and len(state.rows) == 25 and state.rows[0]["id"] == queued[-1]
    assert state.page_label == "1–25 of 27" and state.has_next and not state.has_previous
    await run(root, ExecutionsState, "next_page")
    assert [r["id"] for r in state.rows] == [queued[0], done]

    await run(root, ExecutionsState, "set_status", value="succeeded")
    assert [r["id"] for r in state.rows] == [done] and state.page == 0
    await run(root, ExecutionsState, "set_status", value="all")
    await run(root, ExecutionsState, "set_workflow", value=str(workflow_id))
    assert [r["id"] for r in state.rows] == [done]

    today = datetime.now(UTC).date()
    await run(root, ExecutionsState, "set_until", value=(today - timedelta(days=1)).isoformat())
    assert state.rows == [] and state.filtered
    await run(root, ExecutionsState, "set_since", value=today.isoformat())
    assert state.error == "The “to” date is before the “from” date." and state.rows == []
    await run(root, ExecutionsState, "clear_filters")
    assert state.total == 27 and state.error == ""

    with pytest.raises(ValueError, match="from"):
        day_range("31/01/2026", "")

    # Another user's workflow id in the address is not a filter they can use.
    stranger = open_tab(other, f"/executions?workflow={workflow_id}")
    await run(stranger, ExecutionsState, "load")
    theirs = stranger.get_substate(ExecutionsState._get_substate_path())
    assert theirs.workflow == "all" and theirs.total == 1


# -- the Execute form ---------------------------------------------------------------------------


def test_the_form_is_made_from_the_trigger_and_typed_by_it() -> None:
    specs = trigger_specs(document())
    fields = make_fields(specs, {"who": "Ada", "times": 3})
    assert [(f["name"], f["value"], f["checked"]) for f in fields] == [
        ("who", "Ada", False),
        ("times", "3", False),
        ("loud", "", False),
    ]
    fields[1]["value"] = "three"
    fields[2]["checked"] = True
    values, errors = parse_fields(fields)
    assert values == {"who": "Ada", "loud": True}
    assert errors == {"times": "Enter a whole number, e.g. 3."}
    fields[0]["value"] = ""
    assert parse_fields(fields)[1]["who"] == "Required."


async def test_execute_remembers_the_last_inputs_and_opens_the_run(owner: Account) -> None:
    workflow_id, _ = await finished_run(owner, who="Lovelace")
    root = open_tab(owner, f"/workflows/{workflow_id}")
    await run(root, ExecuteState, "open_dialog")
    state = root.get_substate(ExecuteState._get_substate_path())
    assert state.open and state.fields[0]["value"] == "Lovelace"

    await run(root, ExecuteState, "set_value", field="times", value="2.5")
    events = await run(root, ExecuteState, "submit")
    assert redirects(events) == [] and state.fields[1]["error"] == "Enter a whole number, e.g. 3."

    await run(root, ExecuteState, "set_value", field="times", value="2")
    events = await run(root, ExecuteState, "submit")
    (target,) = redirects(events)
    new_id = int(target.rsplit("/", 1)[-1])
    assert executions.get(owner.actor, new_id)["inputs"] == {
        "who": "Lovelace",
        "times": 2,
        "loud": False,
    }
    assert not state.open


async def test_execute_on_someone_elses_workflow_shows_nothing(
    owner: Account, other: Account
) -> None:
    workflow_id, _ = await finished_run(owner, who="Owner-only-Hopper")
    root = open_tab(other, f"/workflows/{workflow_id}")
    events = await run(root, ExecuteState, "open_dialog")
    assert redirects(events) == []
    assert "Owner-only-Hopper" not in state_text(root)
    assert (
        json.dumps(executions.list_executions(other.actor).model_dump(mode="json")["items"]) == "[]"
    )
