"""logic.condition, transform.template and output, with real template rendering."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agentflow_app.net.client import GuardedClient
from agentflow_app.nodes.logic import Condition
from agentflow_app.nodes.output import Output
from agentflow_app.nodes.transform import Template
from tests.helpers.node_context import node_context, run_node


@pytest.mark.parametrize(
    ("expression", "result", "route"),
    [
        ("inputs.amount > 100", True, ("true",)),
        ("inputs.amount > 1000", False, ("false",)),
        ("nodes.fetch.output.body.items | length", True, ("true",)),
        ("'vip' in inputs.tags", False, ("false",)),
    ],
)
async def test_condition_routes_by_its_expression(
    http: GuardedClient, expression: str, result: bool, route: tuple[str, ...]
) -> None:
    ctx = node_context(
        http=http,
        inputs={"amount": 250, "tags": ["new"]},
        upstream={"fetch": {"body": {"items": [1, 2]}}},
    )
    out = await run_node(Condition, {"expression": expression}, ctx)
    assert out == {"result": result}
    assert Condition().routes(out) == route


async def test_template_text_and_json(http: GuardedClient) -> None:
    ctx = node_context(http=http, inputs={"name": "Ada", "n": 2, "tags": ["a", "b"]})
    text = await run_node(Template, {"template": "Hi {{ inputs.name }} x{{ inputs.n }}"}, ctx)
    assert text == {"text": "Hi Ada x2"}
    data = await run_node(
        Template,
        {"json": {"who": "{{ inputs.name }}", "tags": "{{ inputs.tags }}", "fixed": 1}},
        ctx,
    )
    assert data == {"data": {"who": "Ada", "tags": ["a", "b"], "fixed": 1}}


async def test_a_json_template_rendering_to_null_is_still_data(http: GuardedClient) -> None:
    ctx = node_context(http=http, inputs={"missing": None})
    assert await run_node(Template, {"json": "{{ inputs.missing }}"}, ctx) == {"data": None}


@pytest.mark.parametrize("config", [{}, {"template": "a", "json": {"b": 1}}])
def test_template_needs_exactly_one_of_template_or_json(config: dict) -> None:
    with pytest.raises(ValidationError, match="set exactly one of template or json"):
        Template.Config(**config)


async def test_output_value_and_fields_keep_their_types(http: GuardedClient) -> None:
    ctx = node_context(http=http, inputs={"items": [1, 2]}, upstream={"sum": {"text": "3"}})
    assert await run_node(Output, {"value": "{{ inputs.items }}"}, ctx) == {"value": [1, 2]}
    fields = await run_node(
        Output,
        {"fields": {"items": "{{ inputs.items }}", "total": "{{ nodes.sum.output.text }}"}},
        ctx,
    )
    assert fields == {"items": [1, 2], "total": "3"}


def test_output_needs_exactly_one_of_value_or_fields() -> None:
    with pytest.raises(ValidationError, match="set exactly one of value or fields"):
        Output.Config()
