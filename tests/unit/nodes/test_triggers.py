"""Trigger nodes and the inputs check the API reuses before queueing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from agentflow_app.engine.errors import NodeError
from agentflow_app.net.client import GuardedClient
from agentflow_app.nodes.triggers import (
    InputsError,
    InputSpec,
    ManualTrigger,
    ScheduleTrigger,
    WebhookTrigger,
    next_fire_time,
    validate_inputs,
)
from tests.helpers.node_context import node_context, run_node

SPECS = [
    InputSpec(name="company", type="string", required=True),
    InputSpec(name="limit", type="integer", default=10),
    InputSpec(name="score", type="number"),
    InputSpec(name="urgent", type="boolean", default=False),
    InputSpec(name="meta", type="object"),
    InputSpec(name="tags", type="array"),
]


def test_defaults_fill_in_and_given_values_are_kept() -> None:
    assert validate_inputs(SPECS, {"company": "Acme", "score": 2.5, "tags": ["a"]}) == {
        "company": "Acme",
        "limit": 10,
        "score": 2.5,
        "urgent": False,
        "tags": ["a"],
    }


def test_every_problem_is_listed_with_the_input_named() -> None:
    with pytest.raises(InputsError) as caught:
        validate_inputs(SPECS, {"limit": "ten", "urgent": 1, "meta": [], "colour": "red"})
    assert caught.value.problems == [
        {"node_id": None, "field": "inputs.company", "message": "input 'company' is required"},
        {
            "node_id": None,
            "field": "inputs.limit",
            "message": "input 'limit' must be an integer, got the text 'ten'",
        },
        {
            "node_id": None,
            "field": "inputs.urgent",
            "message": "input 'urgent' must be true or false, got 1",
        },
        {
            "node_id": None,
            "field": "inputs.meta",
            "message": "input 'meta' must be a JSON object, got an array",
        },
        {
            "node_id": None,
            "field": "inputs.colour",
            "message": "unknown input 'colour'; this workflow takes: company, limit, meta, score, tags, urgent",
        },
    ]
    assert str(caught.value) == "input 'company' is required (and 4 more)"


def test_booleans_are_not_numbers_and_integers_are_numbers() -> None:
    specs = [InputSpec(name="n", type="number")]
    assert validate_inputs(specs, {"n": 3}) == {"n": 3}
    with pytest.raises(InputsError, match="input 'n' must be a number, got true"):
        validate_inputs(specs, {"n": True})


def test_command_line_strings_are_read_as_the_declared_type() -> None:
    got = validate_inputs(
        SPECS,
        {"company": "42", "limit": "3", "score": "1.5", "urgent": "true", "tags": '["x"]'},
        coerce_strings=True,
    )
    assert got == {"company": "42", "limit": 3, "score": 1.5, "urgent": True, "tags": ["x"]}
    with pytest.raises(InputsError, match=r"input 'limit' must be an integer, got the text '3.5'"):
        validate_inputs(SPECS, {"company": "x", "limit": "3.5"}, coerce_strings=True)


def test_without_declared_inputs_anything_passes() -> None:
    assert validate_inputs([], {"free": {"form": 1}}) == {"free": {"form": 1}}


def test_inputs_that_are_not_an_object_are_refused() -> None:
    with pytest.raises(InputsError, match="the inputs must be a JSON object"):
        validate_inputs(SPECS, ["not", "an", "object"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"name": "bad name"}, "String should match pattern"),
        ({"name": "n", "type": "date"}, "Input should be 'string', 'number'"),
        (
            {"name": "n", "type": "integer", "default": "x"},
            "the default of input 'n' must be an integer",
        ),
    ],
)
def test_bad_input_specs_are_config_errors(spec: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ManualTrigger.Config(inputs=[spec])


def test_an_input_declared_twice_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match="input 'a' is declared twice"):
        ManualTrigger.Config(inputs=[{"name": "a"}, {"name": "a"}])


async def test_the_manual_trigger_outputs_the_checked_inputs(http: GuardedClient) -> None:
    config = {"inputs": [{"name": "company", "type": "string", "required": True}]}
    out = await run_node(ManualTrigger, config, node_context(http=http, inputs={"company": "Acme"}))
    assert out == {"company": "Acme"}
    with pytest.raises(NodeError, match=r"trigger.manual: input 'company' is required"):
        await run_node(ManualTrigger, config, node_context(http=http, inputs={}))


async def test_the_webhook_trigger_keeps_the_whole_posted_json(http: GuardedClient) -> None:
    config = {"inputs": [{"name": "event", "type": "string", "required": True}]}
    posted = {"event": "signup", "user": {"email": "a@example.com"}}
    out = await run_node(WebhookTrigger, config, node_context(http=http, inputs=posted))
    assert out == posted
    with pytest.raises(NodeError, match=r"trigger.webhook: input 'event' must be a string, got 5"):
        await run_node(WebhookTrigger, config, node_context(http=http, inputs={"event": 5}))


async def test_the_schedule_trigger_outputs_its_input_values(http: GuardedClient) -> None:
    config = {"cron": "*/15 * * * *", "timezone": "Europe/Paris", "inputs": {"report": "daily"}}
    out = await run_node(ScheduleTrigger, config, node_context(http=http))
    assert out == {"report": "daily"}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"cron": "61 * * * *"}, "'61 \\* \\* \\* \\*' is not a valid cron expression"),
        ({"cron": "every day"}, "is not a valid cron expression"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_bad_schedules_are_config_errors(config: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ScheduleTrigger.Config(**config)


def test_next_fire_time_follows_the_schedules_time_zone() -> None:
    config = ScheduleTrigger.Config(cron="0 9 * * *", timezone="Europe/Paris")
    after = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)  # 13:00 in Paris
    fire = next_fire_time(config, after)
    assert fire.astimezone(UTC) == datetime(2026, 1, 16, 8, 0, tzinfo=UTC)


def test_triggers_have_no_input_handle() -> None:
    for trigger in (ManualTrigger, WebhookTrigger, ScheduleTrigger):
        assert trigger.is_trigger and trigger.inputs == ()
