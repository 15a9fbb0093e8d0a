"""Compiled plans, remembered per document: the same document gives the same frozen plan,
an edited one its own, and a broken one its problems every time."""

from __future__ import annotations

import copy

import pytest

from agentflow_app.engine.errors import InvalidWorkflow
from agentflow_app.engine.plan import plan_of
from tests.helpers.engine_builders import chain, document, edge, make_registry, node


def test_an_equal_document_gets_the_same_plan_and_an_edited_one_its_own() -> None:
    registry = make_registry()
    doc = chain(2)
    plan = plan_of(doc, registry)
    assert plan_of(copy.deepcopy(doc), registry) is plan
    edited = copy.deepcopy(doc)
    edited["nodes"][1]["data"]["config"]["value"] = "changed"
    assert plan_of(edited, registry).nodes["n0"].config.value == "changed"
    assert plan.nodes["n0"].config.value is None
    assert plan_of(doc, make_registry()) is not plan  # another registry compiles again


def test_an_outputs_fields_keep_their_order() -> None:
    doc = document(
        [node("start", "test.trigger"), node("out", "output", fields={"b": "2", "a": "1"})],
        [edge("start", "out")],
    )
    assert list(plan_of(doc, make_registry()).nodes["out"].config.fields) == ["b", "a"]


def test_a_broken_document_raises_its_problems_every_time() -> None:
    doc = chain(1)
    doc["nodes"][1]["type"] = "test.nope"
    for _ in range(2):
        with pytest.raises(InvalidWorkflow, match=r"test\.nope"):
            plan_of(doc, make_registry())
