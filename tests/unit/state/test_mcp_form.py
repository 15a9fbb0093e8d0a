"""The config form of MCP fields: servers to tick among the user's choices, tools apart."""

from __future__ import annotations

import json

from agentflow_app.llm.nodes import AgentConfig
from agentflow_app.nodes.mcp import McpToolConfig
from agentflow_app.state.form_model import CredentialChoice, build_form

CHOICES = [
    CredentialChoice(name="directory", kind="mcp"),
    CredentialChoice(name="stdio:files", kind="mcp"),
    CredentialChoice(name="team", kind="slack"),
]


def test_an_agent_ticks_mcp_servers_among_mcp_credentials_and_stdio_servers() -> None:
    values = {"mcp_servers": ["directory", "gone"], "mcp_tools": {"directory": ["add"]}}
    fields = {f["key"]: f for f in build_form(AgentConfig, values, credentials=CHOICES)}

    servers = fields["mcp_servers"]
    assert servers["kind"] == "multi"
    assert servers["options"] == ["directory", "stdio:files", "gone"]
    assert [(r["key"], r["cells"][0]["checked"]) for r in servers["rows"]] == [
        ("directory", True),
        ("stdio:files", False),
        ("gone", True),  # a name no longer among the choices stays visible, to untick
    ]
    tools = fields["mcp_tools"]
    assert tools["kind"] == "mcp_tools"
    assert json.loads(tools["value"]) == {"directory": ["add"]}
    assert fields["mcp_timeout_s"]["kind"] == "number"


def test_the_mcp_tool_node_picks_one_server() -> None:
    fields = {f["key"]: f for f in build_form(McpToolConfig, {}, credentials=CHOICES)}
    assert fields["credential"]["kind"] == "credential"
    assert fields["credential"]["options"] == ["directory", "stdio:files"]
    assert fields["arguments"]["kind"] == "json"
