"""The agent's config panel lists each chosen MCP server's tools live, to tick.

The editor's state runs as Reflex runs it (a state tree with the browser's token and URL);
the tool list comes from a real SDK server through the user's own ``mcp`` credential.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from reflex.istate.data import ReflexURL, RouterData

from agentflow_app.errors import Forbidden
from agentflow_app.services import (
    credentials,
    mcp_servers,
    mcp_tools,
    members,
    users,
    workflows,
    workspaces,
)
from agentflow_app.state.config_panel import ConfigPanelState
from agentflow_app.state.editor import EditorState
from agentflow_app.state.node_test import NodeTestState
from agentflow_app.state.versions import VersionsState
from tests.fakes.mcp_server import McpFake
from tests.helpers.documents import chain, node
from tests.helpers.states import run, session_for
from tests.helpers.users import Account, new_account


async def test_the_panel_lists_the_servers_tools_and_ticking_sets_the_allow_list(
    account: Account, directory: McpFake, set_env
) -> None:
    set_env(AGENTFLOW_ALLOW_PRIVATE_NETWORK="true")
    credentials.create_credential(account.actor, "dir", "mcp", {"url": directory.url})
    document = chain(
        "agent with mcp",
        node("start", "trigger.manual"),
        node(
            "ask",
            "llm.agent",
            provider="anthropic",
            model="claude-sonnet-4-5",
            prompt="hi",
            mcp_servers=["dir"],
        ),
    )
    workflow_id = workflows.create(account.actor, document).id
    root = session_for(account.token())
    root.router = RouterData(url=ReflexURL(f"http://localhost:3000/workflows/{workflow_id}"))
    for state in (EditorState, ConfigPanelState, NodeTestState, VersionsState):
        root.get_substate(state._get_substate_path()).router = root.router
    panel = root.get_substate(ConfigPanelState._get_substate_path())

    await run(root, EditorState, "load")
    await run(root, EditorState, "select_node", node_id="ask")
    servers = next(f for f in panel.form if f["key"] == "mcp_servers")
    assert servers["kind"] == "multi"
    assert [(r["key"], r["cells"][0]["checked"]) for r in servers["rows"]] == [("dir", True)]
    assert panel.mcp_servers_view[0]["loaded"] is False

    await run(root, ConfigPanelState, "refresh_mcp_tools")
    [view] = panel.mcp_servers_view
    assert view["error"] == ""
    assert [(t["name"], t["checked"]) for t in view["tools"]] == [
        ("lookup_company", True),
        ("add", True),
    ]
    assert view["tools"][0]["description"].startswith("Look a company up")
    assert json.loads(view["tools"][1]["schema"])["required"] == ["a", "b"]

    await run(
        root,
        ConfigPanelState,
        "toggle_mcp_tool",
        server="dir",
        tool="lookup_company",
        checked=False,
    )
    config = next(n for n in panel._doc["nodes"] if n["id"] == "ask")["data"]["config"]
    assert config["mcp_tools"] == {"dir": ["add"]}
    assert [t["checked"] for t in panel.mcp_servers_view[0]["tools"]] == [False, True]

    await run(
        root, ConfigPanelState, "toggle_mcp_tool", server="dir", tool="lookup_company", checked=True
    )
    config = next(n for n in panel._doc["nodes"] if n["id"] == "ask")["data"]["config"]
    assert "mcp_tools" not in config, "every tool ticked means all of them, new ones included"


async def test_the_workflow_panel_marks_it_available_to_mcp_clients(account: Account) -> None:
    workflow_id = workflows.create(
        account.actor, chain("offered", node("start", "trigger.manual"))
    ).id
    root = session_for(account.token())
    root.router = RouterData(url=ReflexURL(f"http://localhost:3000/workflows/{workflow_id}"))
    for state in (EditorState, ConfigPanelState, NodeTestState, VersionsState):
        root.get_substate(state._get_substate_path()).router = root.router
    editor = root.get_substate(EditorState._get_substate_path())

    await run(root, EditorState, "load")
    assert editor.expose_mcp is False
    await run(root, EditorState, "set_expose_mcp", checked=True)
    await run(root, EditorState, "save")

    assert workflows.get(account.actor, workflow_id).document["expose_mcp"] is True
    assert [t.tool_name for t in mcp_tools.exposed_workflows(account.actor)] == ["offered"]


async def test_only_editors_list_a_servers_tools_through_a_shared_credential(
    account: Account, directory: McpFake, set_env
) -> None:
    """Listing tools opens a session with the workspace's credential: a use of it outside a
    run, which (like a credential's Test and a node test) takes an editor."""
    set_env(AGENTFLOW_ALLOW_PRIVATE_NETWORK="true")
    shared = workspaces.create_workspace(account.actor, "MCP team")
    owner = workspaces.act_in(users.get_profile(account.actor), shared.id)
    credentials.create_credential(owner, "dir", "mcp", {"url": directory.url})
    for role in ("editor", "runner", "viewer"):
        member = new_account(f"mcp-{role}")
        invitation = members.invite(owner, shared.id, member.email, role)
        members.accept_invitation(
            member.actor, parse_qs(urlsplit(invitation.url).query)["token"][0]
        )
        acting = workspaces.act_in(users.get_profile(member.actor), shared.id)
        if role == "editor":
            tools = await mcp_servers.list_tools(acting, "dir")
            assert [tool.name for tool in tools] == ["lookup_company", "add"]
        else:
            with pytest.raises(Forbidden, match="editors and above"):
                await mcp_servers.list_tools(acting, "dir")
