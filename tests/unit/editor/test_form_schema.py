"""The config form is generated from a node type's pydantic model, nothing else."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel, Field

from agentflow_app.catalog import default_registry
from agentflow_app.engine.node import NodeConfig, TemplateStr
from agentflow_app.state.config_panel import template_hints
from agentflow_app.state.editor import merge_change
from agentflow_app.state.form_model import build_form, coerce, field_schema
from agentflow_app.state.palette import filter_palette, palette


class Auth(BaseModel):
    user: str
    port: int = 22


class Row(BaseModel):
    name: str
    kind: Literal["a", "b"] = "a"
    on: bool = False


class PluginConfig(NodeConfig):
    """A plugin's config: every kind of field the form knows."""

    title: str
    prompt: TemplateStr
    subject: TemplateStr = ""
    count: int = 3
    ratio: float | None = None
    enabled: bool = True
    mode: Literal["fast", "safe"] = "safe"
    credential: str | None = Field(default=None, json_schema_extra={"credential_kinds": ["http"]})
    tags: list[str] = Field(default_factory=list)
    headers: dict[str, str] = Field(default_factory=dict)
    rows: list[Row] = Field(default_factory=list)
    auth: Auth | None = None
    anything: object = None


def by_key(fields):
    return {f["key"]: f for f in fields}


def test_each_field_gets_the_editor_its_type_calls_for() -> None:
    fields = by_key(
        build_form(
            PluginConfig,
            {"title": "T", "tags": ["x", "y"], "headers": {"A": "1"}, "rows": [{"name": "n"}]},
            hints=["inputs.company", "nodes.brief.output"],
            credentials=[{"name": "api", "kind": "http"}, {"name": "bot", "kind": "slack"}],
        )
    )
    kinds = {key: f["kind"] for key, f in fields.items()}
    assert kinds == {
        "title": "text",
        "prompt": "textarea",
        "subject": "template",
        "count": "integer",
        "ratio": "number",
        "enabled": "boolean",
        "mode": "enum",
        "credential": "credential",
        "tags": "list",
        "headers": "keyvalue",
        "rows": "objects",
        "auth": "object",
        "auth.user": "text",
        "auth.port": "integer",
        "anything": "json",
        "timeout_s": "number",
        "retries": "integer",
        "on_error": "enum",
    }
    # The common keys come last, under "Settings".
    assert [k for k, f in fields.items() if f["advanced"]] == ["timeout_s", "retries", "on_error"]
    assert fields["mode"]["options"] == ["fast", "safe"]
    assert fields["credential"]["options"] == ["api"]  # filtered by kind
    assert fields["prompt"]["hints"] == ["inputs.company", "nodes.brief.output"]
    assert fields["title"]["hints"] == []  # not a template
    assert [r["cells"][0]["value"] for r in fields["tags"]["rows"]] == ["x", "y"]
    assert [(c["column"], c["value"]) for c in fields["headers"]["rows"][0]["cells"]] == [
        ("key", "A"),
        ("value", "1"),
    ]
    assert [c["key"] for c in fields["rows"]["columns"]] == ["name", "kind", "on"]
    assert [c["kind"] for c in fields["rows"]["rows"][0]["cells"]] == ["text", "enum", "boolean"]
    assert fields["auth.port"]["depth"] == 1
    assert fields["count"]["placeholder"] == "Default: 3"
    assert fields["title"]["required"] and not fields["count"]["required"]


def test_validation_problems_land_on_their_fields() -> None:
    fields = by_key(
        build_form(
            PluginConfig,
            {},
            problems=[
                ("config.title", "Field required"),
                ("config.rows[1].name", "String should match pattern"),
                ("config.auth.user", "Field required"),
            ],
        )
    )
    assert fields["title"]["error"] == "Field required"
    assert fields["rows"]["error"] == "row 2 · name: String should match pattern"
    assert fields["auth.user"]["error"] == "Field required"


def test_every_registered_node_type_gets_a_form() -> None:
    registry = default_registry()
    for type_id, cls in registry.nodes().items():
        fields = build_form(cls.Config, {})
        assert fields, type_id
        assert all(f["kind"] != "" for f in fields)
    trigger = by_key(build_form(registry.node("trigger.manual").Config, {}))
    assert trigger["inputs"]["kind"] == "objects"
    agent = by_key(build_form(registry.node("llm.agent").Config, {}, tool_ids=["http_request"]))
    assert agent["tools"]["kind"] == "multi"
    assert agent["tools"]["options"] == ["http_request"]


@pytest.mark.parametrize(
    ("key", "raw", "value"),
    [
        ("count", "12", 12),
        ("count", "twelve", "twelve"),  # kept, so validation says what is wrong
        ("ratio", "0.5", 0.5),
        ("title", "  spaced  ", "  spaced  "),
        ("title", "", None),
        ("anything", '{"a": [1]}', {"a": [1]}),
        ("anything", "plain words", "plain words"),
    ],
)
def test_typed_text_is_read_as_the_field_type(key: str, raw: str, value: object) -> None:
    schema, _ = field_schema(PluginConfig, key)
    assert coerce(schema, raw) == value


def test_json_that_does_not_parse_says_where() -> None:
    schema, _ = field_schema(PluginConfig, "headers")
    with pytest.raises(ValueError, match="line 1, column"):
        coerce(schema, "{nope")


def test_unknown_field_is_named() -> None:
    with pytest.raises(KeyError, match="nope"):
        field_schema(PluginConfig, "nope")


def test_palette_groups_by_category_and_searches() -> None:
    groups = palette(default_registry())
    names = [g["name"] for g in groups]
    assert names[0] == "Triggers"
    found = filter_palette(groups, "Slack.message")
    assert [i["type"] for g in found for i in g["items"]] == ["slack.message"]
    assert filter_palette(groups, "zzz-nothing") == []


def test_template_hints_are_the_inputs_and_upstream_nodes_only() -> None:
    document = {
        "nodes": [
            {
                "id": "start",
                "type": "trigger.manual",
                "data": {"config": {"inputs": [{"name": "q"}]}},
            },
            {"id": "a", "type": "llm.prompt"},
            {"id": "b", "type": "llm.prompt"},
            {"id": "c", "type": "output"},
        ],
        "edges": [
            {"id": "1", "source": "start", "target": "a"},
            {"id": "2", "source": "a", "target": "c"},
            {"id": "3", "source": "start", "target": "b"},
        ],
    }
    assert template_hints(document, "c") == ["inputs.q", "nodes.a.output", "nodes.start.output"]


def test_a_stale_canvas_report_keeps_the_panel_data() -> None:
    document = {
        "nodes": [{"id": "a", "type": "output", "data": {"label": "New label", "config": {}}}],
        "edges": [],
    }
    reported = [
        {"id": "a", "type": "output", "position": {"x": 5, "y": 6}, "data": {"label": "Old"}}
    ]
    stale = merge_change(document, reported, [], fresh=False)
    assert stale["nodes"][0]["data"]["label"] == "New label"
    assert stale["nodes"][0]["position"] == {"x": 5, "y": 6}
    fresh = merge_change(document, reported, [], fresh=True)
    assert fresh["nodes"][0]["data"]["label"] == "Old"
