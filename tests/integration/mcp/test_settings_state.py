"""The Settings page's MCP section: the server URL and a client configuration to paste."""

from __future__ import annotations

import json

from reflex.istate.data import RouterData

from agentflow_app.services import api_keys
from agentflow_app.state.settings import SettingsState
from tests.helpers.states import run, session_for
from tests.helpers.users import Account


async def test_settings_show_the_mcp_url_and_a_config_with_the_new_key(account: Account) -> None:
    root = session_for(account.token())
    settings = root.get_substate(SettingsState._get_substate_path())
    settings.router = RouterData.from_router_data(
        {"headers": {"origin": "https://flows.example.com"}, "pathname": "/settings"}
    )

    await run(root, SettingsState, "load")
    assert settings.mcp_url == "https://flows.example.com/api/mcp"
    placeholder = json.loads(settings.mcp_config)["mcpServers"]["agentflow"]
    assert placeholder == {
        "type": "http",
        "url": "https://flows.example.com/api/mcp",
        "headers": {"Authorization": "Bearer <your API key>"},
    }

    await run(root, SettingsState, "create_api_key", form_data={"name": "Claude"})
    with_key = json.loads(settings.mcp_config)["mcpServers"]["agentflow"]
    assert with_key["headers"]["Authorization"] == f"Bearer {settings.new_key}"
    assert api_keys.authenticate_key(settings.new_key).id == account.actor.id
