"""Testing one node from the editor: a real run of that node alone, on sample data.

A node test is an ordinary execution (trigger ``test``) of a small document built from the
editor's working copy, unsaved edits included:

* the workflow's trigger, as a ``trigger.manual`` that passes the sample inputs through;
* a stand-in for each upstream node the tested node reads (its direct parents and every
  ancestor its templates name), which has *already finished* with the sample output the
  user typed: its step is stored as ``succeeded`` before the run is queued, so the engine's
  durable resume reuses it instead of running it (SPEC §7), and ``nodes.<id>.output…``
  resolves to the sample;
* the tested node itself, with its current config.

So the node runs on a worker, with the owner's credentials from the vault, the guarded
HTTP client, streamed tokens and logs, exactly as in a full run, and nothing upstream of it
is run again (no Slack message re-sent to test the step after it).
"""

from __future__ import annotations

import json
from collections import deque
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select

from agentflow_app.catalog import default_registry
from agentflow_app.db import get_engine
from agentflow_app.engine.errors import InvalidWorkflow
from agentflow_app.engine.status import ExecutionStatus, StepStatus
from agentflow_app.engine.step_output import MAX_OUTPUT_BYTES
from agentflow_app.engine.validate import analyse
from agentflow_app.errors import InvalidInput, NotFound
from agentflow_app.models import Execution, StepRun
from agentflow_app.services import executions
from agentflow_app.services.executions import FinishedStep
from agentflow_app.services.executions.rows import owned_workflow
from agentflow_app.services.users import Actor
from agentflow_app.services.workspaces import Can

E = Execution.__table__
S = StepRun.__table__

#: The node type standing in for an upstream node whose output is the user's sample.
STAND_IN_TYPE = "transform.template"
_STAND_IN_CONFIG = {"template": ""}
#: An input's sample value when neither an earlier run nor a default gives one.
_EMPTY_BY_TYPE: dict[str, Any] = {
    "string": "",
    "number": 0,
    "integer": 0,
    "boolean": False,
    "object": {},
    "array": [],
}


class SampleSlot(BaseModel):
    """An upstream node whose output the test takes from a sample."""

    node_id: str
    label: str
    type: str
    #: The prefilled sample: the node's output in the latest run that has one, else {}.
    output: Any = None
    #: The execution that output comes from (None: no run had it).
    from_execution: int | None = None


class NodeTestSetup(BaseModel):
    """What the test form shows for one node, prefilled."""

    node_id: str
    inputs: dict[str, Any]
    inputs_from_execution: int | None = None
    samples: list[SampleSlot]


class NodeTestResult(BaseModel):
    """How a node test went, as the panel shows it."""

    execution_id: int
    #: The execution's status (queued while it waits for a worker).
    status: ExecutionStatus
    #: The tested node's step status, once it has one.
    step_status: StepStatus | None = None
    output: Any = None
    output_truncated: bool = False
    error: str | None = None
    duration_s: float | None = None
    usage: dict[str, Any] | None = None


class TestPlan(BaseModel):
    """The document a node test runs and which upstream nodes it samples."""

    document: dict[str, Any]
    trigger_id: str
    samples: list[SampleSlot]


# -- building the test document (pure) ----------------------------------------------------------


def _nodes(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        node["id"]: node
        for node in document.get("nodes", [])
        if isinstance(node, dict) and isinstance(node.get("id"), str)
    }


def _incoming(document: dict[str, Any], known: dict[str, Any]) -> dict[str, list[str]]:
    incoming: dict[str, list[str]] = {}
    for edge in document.get("edges", []):
        if isinstance(edge, dict) and edge.get("source") in known and edge.get("target") in known:
            incoming.setdefault(edge["target"], []).append(edge["source"])
    return incoming


def _ancestors(node_id: str, incoming: dict[str, list[str]]) -> set[str]:
    found: set[str] = set()
    todo = deque(incoming.get(node_id, []))
    while todo:
        current = todo.popleft()
        if current not in found and current != node_id:
            found.add(current)
            todo.extend(incoming.get(current, []))
    return found


def _label(node: dict[str, Any]) -> str:
    data = node.get("data") if isinstance(node.get("data"), dict) else {}
    return str(data.get("label") or node["id"])


def plan_test(document: Any, node_id: str) -> TestPlan:
    """The small document that runs ``node_id`` alone, and the upstream outputs it needs.

    Only the tested node's own problems stop a test (a half-built node elsewhere does not):
    its config must validate and its templates may only name nodes upstream of it.

    Raises:
        NotFound: the document has no node ``node_id``.
        InvalidInput: the node is a trigger (it has nothing to test on its own).
        InvalidWorkflow: the node's type is unknown or its config has problems; each
            problem names the node and the field.
    """
    if not isinstance(document, dict):
        raise InvalidInput("the workflow document must be a JSON object")
    registry = default_registry()
    nodes = _nodes(document)
    node = nodes.get(node_id)
    if node is None:
        raise NotFound(f"the workflow has no node {node_id!r}")
    node_type = node.get("type")
    if isinstance(node_type, str) and registry.has_node(node_type):
        cls = registry.node(node_type)
        if cls.is_trigger or not cls.inputs:
            raise InvalidInput(
                f"node {node_id!r} starts the workflow: it only passes the inputs on; "
                "test a node after it, or press Execute"
            )
    analysis = analyse(document, registry)
    own = [
        problem.model_dump()
        for problem in analysis.problems
        if problem.node_id == node_id
        and problem.field is not None
        and (problem.field == "type" or problem.field.startswith("config"))
    ]
    if own or node_id not in analysis.configs:
        raise InvalidWorkflow(
            own or [{"node_id": node_id, "field": None, "message": "this node is not valid"}]
        )

    trigger_id = next(
        (
            nid
            for nid, other in nodes.items()
            if isinstance(other.get("type"), str)
            and registry.has_node(other["type"])
            and registry.node(other["type"]).is_trigger
        ),
        None,
    )
    if trigger_id is None:
        trigger_id = "start"
        while trigger_id in nodes:
            trigger_id += "_"
    incoming = _incoming(document, nodes)
    ancestors = _ancestors(node_id, incoming)
    wanted = set(incoming.get(node_id, [])) | (analysis.references.get(node_id, set()) & ancestors)
    wanted -= {trigger_id, node_id}
    sampled = [nid for nid in nodes if nid in wanted]

    target_handle = registry.node(node["type"]).inputs[0]
    test_nodes = [
        {
            "id": trigger_id,
            "type": "trigger.manual",
            "position": {"x": 0, "y": 0},
            "data": {"label": "Sample inputs", "config": {"inputs": []}},
        }
    ]
    edges = [
        {
            "id": "test-trigger",
            "source": trigger_id,
            "target": node_id,
            "sourceHandle": "out",
            "targetHandle": target_handle,
        }
    ]
    for index, upstream in enumerate(sampled):
        test_nodes.append(
            {
                "id": upstream,
                "type": STAND_IN_TYPE,
                "position": {"x": 240 * (index + 1), "y": 0},
                "data": {
                    "label": f"{_label(nodes[upstream])} (sample)",
                    "config": dict(_STAND_IN_CONFIG),
                },
            }
        )
        edges.append(
            {
                "id": f"test-in-{index}",
                "source": trigger_id,
                "target": upstream,
                "sourceHandle": "out",
                "targetHandle": "in",
            }
        )
        edges.append(
            {
                "id": f"test-out-{index}",
                "source": upstream,
                "target": node_id,
                "sourceHandle": "out",
                "targetHandle": target_handle,
            }
        )
    tested = json.loads(json.dumps(node))
    tested["position"] = {"x": 0, "y": 160}
    test_nodes.append(tested)
    test_document: dict[str, Any] = {
        "schema_version": 1,
        "name": f"Test of {_label(node)}"[:200],
        "description": f"Node test of {node_id!r}",
        "nodes": test_nodes,
        "edges": edges,
    }
    if document.get("max_cost_usd") is not None:
        test_document["max_cost_usd"] = document["max_cost_usd"]
    samples = [
        SampleSlot(node_id=nid, label=_label(nodes[nid]), type=str(nodes[nid].get("type", "")))
        for nid in sampled
    ]
    return TestPlan(document=test_document, trigger_id=trigger_id, samples=samples)


def _input_defaults(document: dict[str, Any]) -> dict[str, Any]:
    """Sample inputs from the trigger's declaration: defaults, else an empty value per type."""
    registry = default_registry()
    for node in _nodes(document).values():
        node_type = node.get("type")
        if not (isinstance(node_type, str) and registry.has_node(node_type)):
            continue
        if not registry.node(node_type).is_trigger:
            continue
        config = (node.get("data") or {}).get("config") or {}
        declared = config.get("inputs") if isinstance(config, dict) else None
        if isinstance(declared, dict):  # a schedule's fixed values
            return dict(declared)
        values: dict[str, Any] = {}
        for spec in declared if isinstance(declared, list) else []:
            if isinstance(spec, dict) and isinstance(spec.get("name"), str) and spec["name"]:
                default = spec.get("default")
                values[spec["name"]] = (
                    default if default is not None else _EMPTY_BY_TYPE.get(spec.get("type"), "")
                )
        return values
    return {}


# -- the use cases ------------------------------------------------------------------------------


def prepare(actor: Actor, workflow_id: int, document: Any, node_id: str) -> NodeTestSetup:
    """The test form of ``node_id``: which upstream outputs it samples, prefilled.

    Samples come from the latest execution of the workflow that has each node's output
    (a previous test's sample counts: it is what the user last tried); inputs from the
    latest execution's inputs, else from the trigger's declared defaults.

    Raises:
        NotFound: not the actor's workflow, or no such node.
        InvalidInput: the node is a trigger.
        InvalidWorkflow: the node itself has problems.
    """
    plan = plan_test(document, node_id)
    ids = [slot.node_id for slot in plan.samples]
    with get_engine().connect() as conn:
        owned_workflow(conn, actor, workflow_id, Can.EDIT)
        last = conn.execute(
            select(E.c.id, E.c.inputs)
            .where(E.c.workflow_id == workflow_id)
            .order_by(E.c.id.desc())
            .limit(1)
        ).one_or_none()
        latest = (
            select(func.max(S.c.id))
            .select_from(S.join(E, E.c.id == S.c.execution_id))
            .where(
                E.c.workflow_id == workflow_id,
                S.c.node_id.in_(ids),
                S.c.status == StepStatus.SUCCEEDED,
                S.c.output_truncated.is_(False),
            )
            .group_by(S.c.node_id)
        )
        found = {
            row.node_id: row
            for row in conn.execute(
                select(S.c.node_id, S.c.output, S.c.execution_id).where(S.c.id.in_(latest))
            )
        }
    samples = []
    for slot in plan.samples:
        row = found.get(slot.node_id)
        samples.append(
            slot.model_copy(
                update={
                    "output": row.output if row is not None else {},
                    "from_execution": row.execution_id if row is not None else None,
                }
            )
        )
    if last is not None and isinstance(last.inputs, dict):
        inputs, inputs_from = dict(last.inputs), last.id
    else:
        inputs, inputs_from = _input_defaults(document), None
    return NodeTestSetup(
        node_id=node_id, inputs=inputs, inputs_from_execution=inputs_from, samples=samples
    )


def _checked_samples(plan: TestPlan, samples: Any) -> dict[str, Any]:
    if not isinstance(samples, dict):
        raise InvalidInput("the sample outputs must be a JSON object keyed by node id")
    wanted = {slot.node_id for slot in plan.samples}
    problems = [
        {
            "node_id": name,
            "field": "sample",
            "message": f"node {name!r} is not upstream of the tested node; drop its sample",
        }
        for name in sorted(set(samples) - wanted)
    ]
    problems += [
        {
            "node_id": name,
            "field": "sample",
            "message": f"give a sample output for node {name!r} (JSON, {{}} when it has none)",
        }
        for name in sorted(wanted - set(samples))
    ]
    for name in sorted(wanted & set(samples)):
        try:
            size = len(json.dumps(samples[name]).encode())
        except (TypeError, ValueError):
            size = None
        if size is None:
            message = f"the sample output of node {name!r} is not JSON"
        elif size > MAX_OUTPUT_BYTES:
            message = f"the sample output of node {name!r} is over 1 MiB; shorten it"
        else:
            continue
        problems.append({"node_id": name, "field": "sample", "message": message})
    if problems:
        raise InvalidInput(problems[0]["message"], problems)
    return {name: samples[name] for name in wanted}


def start(
    actor: Actor,
    workflow_id: int,
    document: Any,
    node_id: str,
    inputs: Any = None,
    samples: Any = None,
) -> int:
    """Queue a test of ``node_id`` of the working ``document`` and return its execution id.

    Args:
        document: The editor's working copy (saved or not) of the actor's workflow.
        inputs: Sample execution inputs (a JSON object).
        samples: ``{node id: sample output}`` for every slot :func:`prepare` listed.

    Raises:
        NotFound: not the actor's workflow, or no such node.
        InvalidInput: a trigger node, inputs that are not an object, a missing, unknown or
            oversized sample (``problems`` names each).
        InvalidWorkflow: the node has problems, or names a credential the actor lacks.
    """
    plan = plan_test(document, node_id)
    given = _checked_samples(plan, {} if samples is None else samples)
    with get_engine().connect() as conn:
        workflow = owned_workflow(conn, actor, workflow_id, Can.EDIT)
    return executions.queue_run(
        plan.document,
        inputs,
        owner_id=actor.id,
        workspace_id=workflow.workspace_id,
        trigger=executions.TEST_TRIGGER,
        workflow_id=workflow_id,
        queued_data={"test_of": node_id},
        finished_steps=[
            FinishedStep(name, STAND_IN_TYPE, output) for name, output in given.items()
        ],
    )


def result(actor: Actor, execution_id: int, node_id: str) -> NodeTestResult:
    """Where the test of ``node_id`` in execution ``execution_id`` stands.

    Raises:
        NotFound: not the actor's execution.
    """
    record = executions.get(actor, execution_id)
    step = next((s for s in record["steps"] if s["node_id"] == node_id), None)
    status = ExecutionStatus(record["status"])
    if step is None:
        return NodeTestResult(execution_id=execution_id, status=status, error=record["error"])
    duration = None
    if step["started_at"] and step["finished_at"]:
        started = datetime.fromisoformat(step["started_at"])
        duration = (datetime.fromisoformat(step["finished_at"]) - started).total_seconds()
    return NodeTestResult(
        execution_id=execution_id,
        status=status,
        step_status=StepStatus(step["status"]),
        output=step["output"],
        output_truncated=bool(step["output_truncated"]),
        error=step["error"] or (record["error"] if status.finished else None),
        duration_s=duration,
        usage=step["usage"],
    )
