"""Validation answers every problem at once, each naming node and field (SPEC §7)."""

from __future__ import annotations

import pytest

from agentflow_app.engine.errors import InvalidWorkflow
from agentflow_app.engine.plan import compile_plan
from agentflow_app.engine.validate import Problem, validate
from tests.helpers.engine_builders import document, edge, make_registry, node


def problems(doc: dict, **kwargs) -> list[Problem]:
    return validate(doc, make_registry(), **kwargs)


def where(found: list[Problem]) -> set[tuple[str | None, str | None]]:
    return {(p.node_id, p.field) for p in found}


def test_a_valid_document_has_no_problems_and_compiles() -> None:
    doc = document(
        [node("start", "test.trigger"), node("a", "test.echo", value="{{ inputs.x }}")],
        [edge("start", "a")],
    )
    assert problems(doc) == []
    plan = compile_plan(doc, make_registry())
    assert plan.order == ("start", "a")
    assert plan.nodes["a"].incoming == (("start", "out"),)


def test_no_trigger_and_two_triggers() -> None:
    none = document([node("a", "test.echo")], [])
    assert any("needs a trigger" in p.message for p in problems(none))
    two = document(
        [node("s1", "test.trigger"), node("s2", "test.trigger"), node("a", "test.echo")],
        [edge("s1", "a"), edge("s2", "a")],
    )
    found = problems(two)
    assert ("s2", "type") in where(found)
    assert any("exactly one trigger" in p.message for p in found)


def test_a_cycle_names_its_nodes_in_order() -> None:
    doc = document(
        [node("start", "test.trigger")] + [node(n, "test.echo") for n in "abc"],
        [edge("start", "a"), edge("a", "b"), edge("b", "c"), edge("c", "a")],
    )
    (cycle,) = [p for p in problems(doc) if "cycle" in p.message]
    assert cycle.node_id == "a"
    assert "a → b → c → a" in cycle.message


def test_edges_must_name_existing_nodes_and_handles() -> None:
    doc = document(
        [
            node("start", "test.trigger"),
            node("c", "test.condition", expression="true"),
            node("a", "test.echo"),
            node("b", "test.echo"),
        ],
        [
            edge("start", "c"),
            edge("c", "a", "maybe"),  # not a handle of a condition
            {"id": "e-none", "source": "c", "target": "b"},  # ambiguous: true or false?
            edge("a", "ghost"),
            {"id": "e-in", "source": "start", "target": "a", "targetHandle": "side"},
        ],
    )
    found = problems(doc)
    messages = " | ".join(p.message for p in found)
    assert ("c", "edges.c-maybe-a.sourceHandle") in where(found)
    assert "'maybe'" in messages and "true, false" in messages
    assert ("c", "edges.e-none.sourceHandle") in where(found)
    assert (None, "edges.a-out-ghost.target") in where(found)
    assert "unknown node 'ghost'" in messages
    assert ("a", "edges.e-in.targetHandle") in where(found)


def test_unknown_type_names_the_type_and_duplicate_ids_are_reported() -> None:
    doc = document(
        [node("start", "test.trigger"), node("a", "acme.nope"), node("a", "test.echo")],
        [edge("start", "a")],
    )
    found = problems(doc)
    assert any(p.node_id == "a" and p.field == "type" and "'acme.nope'" in p.message for p in found)
    assert any(p.node_id == "a" and p.field == "id" and "used twice" in p.message for p in found)


def test_bad_config_names_the_field() -> None:
    doc = document(
        [
            node("start", "test.trigger"),
            node("f", "test.flaky", failures="lots", surprise=1),
            node("s", "test.sleep", timeout_s=-1),
        ],
        [edge("start", "f"), edge("start", "s")],
    )
    found = where(problems(doc))
    assert ("f", "config.failures") in found
    assert ("f", "config.surprise") in found
    assert ("s", "config.timeout_s") in found


def test_templates_that_do_not_parse_or_reach_outside_upstream() -> None:
    doc = document(
        [
            node("start", "test.trigger"),
            node("a", "test.echo", value="{{ nodes.b.output }}"),  # b is a sibling
            node("b", "test.echo", value={"deep": ["ok", "{{ broken( }}"]}),
            node("c", "test.echo", value="{{ nodes.ghost.output }}"),
            node("d", "test.echo", value="{{ nodes[inputs.which].output }}"),
            node("e", "output", fields={"x": "{{ nodes.a.output.value }}"}),
        ],
        [
            edge("start", "a"),
            edge("start", "b"),
            edge("start", "c"),
            edge("start", "d"),
            edge("a", "e"),
        ],
    )
    found = problems(doc)
    by_node = {(p.node_id, p.field): p.message for p in found}
    assert "not upstream" in by_node[("a", "config.value")]
    assert "line 1" in by_node[("b", "config.value.deep[1]")]
    assert "does not exist" in by_node[("c", "config.value")]
    assert "nodes.<node_id>.output" in by_node[("d", "config.value")]
    assert ("e", "config.fields.x") not in by_node  # a is upstream of e


def test_unconnected_nodes_and_edges_into_the_trigger() -> None:
    doc = document(
        [node("start", "test.trigger"), node("a", "test.echo"), node("lonely", "test.echo")],
        [edge("start", "a"), {"id": "back", "source": "a", "target": "start"}],
    )
    found = problems(doc)
    assert any(p.node_id == "lonely" and "nothing leads into" in p.message for p in found)
    # the trigger has no input handle, so the edge into it is refused by handle
    assert any(p.node_id == "start" for p in found)


def test_structural_errors_are_located() -> None:
    found = problems({"nodes": [{"id": "a"}], "edges": "nope", "max_cost_usd": -1})
    assert ("a", "type") in where(found)
    assert (None, "edges") in where(found)
    assert (None, "max_cost_usd") in where(found)
    assert problems([]) == [Problem(message="a workflow document must be a JSON object")]


def test_missing_credentials_are_reported() -> None:
    from agentflow_app.engine.node import Node, NodeConfig

    class UsesCredential(Node):
        type = "test.cred"
        label = "Cred"

        class Config(NodeConfig):
            credential: str

        async def run(self, ctx, config):
            return {}

    registry = make_registry()
    registry.register_node(UsesCredential)
    doc = document(
        [node("start", "test.trigger"), node("k", "test.cred", credential="slack-prod")],
        [edge("start", "k")],
    )
    found = validate(doc, registry, credentials_check=lambda name: name == "other")
    assert [(p.node_id, p.field) for p in found] == [("k", "config.credential")]
    assert "slack-prod" in found[0].message


def test_every_problem_at_once_and_compile_raises_them() -> None:
    doc = document(
        [
            node("start", "test.trigger"),
            node("a", "acme.nope"),
            node("b", "test.flaky", failures="x"),
            node("c", "test.echo", value="{{ nodes.zz.output }}"),
        ],
        [edge("start", "b"), edge("start", "c"), edge("start", "missing")],
    )
    found = problems(doc)
    assert {p.node_id for p in found} >= {"a", "b", "c", None}
    with pytest.raises(InvalidWorkflow) as raised:
        compile_plan(doc, make_registry())
    assert raised.value.problems == [p.model_dump() for p in found]
    assert "and" in str(raised.value)


def test_a_cycle_closing_back_into_a_branch_is_refused() -> None:
    # The shape a fuzzer found: a's first edge leads to a sink, its second to a condition
    # whose true path returns to a. It used to pass validation and kill the runner.
    doc = document(
        [
            node("start", "test.trigger"),
            node("a", "test.echo"),
            node("b", "test.echo"),
            node("c", "test.condition", expression="true"),
        ],
        [edge("start", "a"), edge("a", "b"), edge("a", "c"), edge("c", "a", "true")],
    )
    (cycle,) = [p for p in problems(doc) if "cycle" in p.message]
    assert "a → c → a" in cycle.message
    with pytest.raises(InvalidWorkflow, match="cycle"):
        compile_plan(doc, make_registry())
