"""The contract every registered node type and agent tool keeps (ARCHITECTURE rule 6).

The editor draws the palette and the config forms from these classes alone, and the agent
describes tools from them, so each must carry its metadata and a schema that renders.
"""

from __future__ import annotations

import json
import re

import pytest
from pydantic import ValidationError

from agentflow_app.catalog import register_builtins
from agentflow_app.engine.node import Node, NodeConfig, Tool
from agentflow_app.engine.registry import Registry
from agentflow_app.nodes import NODES as NODE_CLASSES

REGISTRY = Registry()
register_builtins(REGISTRY)
NODES = REGISTRY.nodes()
TOOLS = REGISTRY.tools()
LUCIDE_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
SPEC_NODES = {
    "trigger.manual",
    "trigger.webhook",
    "trigger.schedule",
    "http.request",
    "logic.condition",
    "transform.template",
    "output",
    "slack.message",
    "hubspot.contact",
    "email.send",
}
SPEC_TOOLS = {"http_request", "slack_message", "hubspot_contact", "email_send"}


def test_the_spec_catalog_is_registered() -> None:
    assert set(NODES) >= SPEC_NODES
    assert set(TOOLS) >= SPEC_TOOLS


@pytest.mark.parametrize("type_id", sorted(NODES))
def test_node_contract(type_id: str) -> None:
    cls: type[Node] = NODES[type_id]
    assert cls.type == type_id
    for attr in ("label", "category", "description"):
        assert isinstance(getattr(cls, attr), str) and getattr(cls, attr).strip(), attr
    assert LUCIDE_NAME.match(cls.icon), f"{cls.icon!r} is not a lucide icon name"
    assert issubclass(cls.Config, NodeConfig)

    schema = cls.Config.model_json_schema()
    json.dumps(schema)  # renders to JSON for the editor
    assert schema["type"] == "object"
    assert {"timeout_s", "retries", "on_error"} <= set(schema["properties"])

    required = {name for name, field in cls.Config.model_fields.items() if field.is_required()}
    if not required:
        try:
            config = cls.Config()
        except ValidationError as exc:  # a cross-field rule (exactly one of a, b) may refuse
            assert "exactly one of" in str(exc)
        else:
            assert isinstance(cls().is_idempotent(config), bool)
    assert set(schema.get("required", [])) == required

    assert cls.outputs, "a node needs an output handle"
    if cls.is_trigger:
        assert cls.inputs == ()
    else:
        assert cls.inputs, "a non-trigger node needs an input handle"
    assert cls.default_retries >= 0
    if cls.side_effects is False:
        assert cls.idempotent, "a node without side effects is idempotent"


@pytest.mark.parametrize("node", NODE_CLASSES, ids=lambda cls: cls.type)
def test_built_in_config_fields_are_described_for_the_form(node: type[Node]) -> None:
    for name, field in node.Config.model_fields.items():
        assert field.description or name in NodeConfig.model_fields, f"{name} has no description"
        if name == "credential":
            extra = field.json_schema_extra or {}
            assert extra.get("credential_kinds"), "credential fields name their kinds"


@pytest.mark.parametrize("tool_id", sorted(TOOLS))
def test_tool_contract(tool_id: str) -> None:
    cls: type[Tool] = TOOLS[tool_id]
    assert cls.id == tool_id
    assert re.match(r"^[a-z][a-z0-9_]*$", tool_id), "models need a plain identifier"
    assert cls.description.strip()
    schema = cls.Args.model_json_schema()
    json.dumps(schema)
    for name, field in cls.Args.model_fields.items():
        assert field.description, f"{tool_id}.{name} has no description for the model"
    kinds = getattr(cls, "credential_kinds", ())
    assert isinstance(kinds, tuple) and all(isinstance(kind, str) for kind in kinds)
