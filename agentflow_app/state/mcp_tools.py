"""The config panel's MCP tools editor: each chosen server's tools, fetched live, to tick.

A mixin of :class:`~agentflow_app.state.config_panel.ConfigPanelState`: the panel's form
already holds the node's ``mcp_servers`` (a ``multi`` field) and ``mcp_tools`` (the
``mcp_tools`` field, its value the JSON of the allow-lists). The tool lists come from the
servers themselves through :func:`agentflow_app.services.mcp_servers.list_tools`, in a
background event (network work never runs under the state lock), and are kept per server
until refreshed. Ticking writes ``mcp_tools``: a server whose every tool is ticked is
left out of it, which means "all its tools, including new ones".
"""

from __future__ import annotations

import json
from typing import Any, TypedDict

import reflex as rx

from agentflow_app.errors import AgentFlowError
from agentflow_app.services import mcp_servers


class McpToolView(TypedDict):
    name: str
    description: str
    schema: str
    checked: bool


class McpServerView(TypedDict):
    server: str
    loaded: bool
    error: str
    tools: list[McpToolView]


class McpToolsMixin(rx.State, mixin=True):
    """What the panel shows of MCP servers; ``_set``/``_actor`` come from the panel."""

    #: Per server: ``{"tools": [{name, description, input_schema}], "error": str}``.
    mcp_listing: dict[str, dict[str, Any]] = {}
    mcp_loading: bool = False

    def _mcp_choice(self) -> tuple[list[str], dict[str, list[str]]]:
        """The servers ticked in the form and the allow-lists, as the form holds them."""
        servers: list[str] = []
        allowed: dict[str, list[str]] = {}
        for view in self.form:
            if view["key"] == "mcp_servers":
                servers = [row["key"] for row in view["rows"] if row["cells"][0]["checked"]]
            elif view["kind"] == "mcp_tools" and view["value"].strip():
                try:
                    parsed = json.loads(view["value"])
                except ValueError:
                    parsed = {}
                allowed = {k: list(v) for k, v in parsed.items() if isinstance(v, list)}
        return servers, allowed

    @rx.var
    def mcp_servers_view(self) -> list[McpServerView]:
        servers, allowed = self._mcp_choice()
        views: list[McpServerView] = []
        for server in servers:
            listing = self.mcp_listing.get(server)
            tools = (listing or {}).get("tools", [])
            ticked = allowed.get(server)
            views.append(
                McpServerView(
                    server=server,
                    loaded=listing is not None,
                    error=str((listing or {}).get("error", "")),
                    tools=[
                        McpToolView(
                            name=tool["name"],
                            description=tool.get("description", ""),
                            schema=json.dumps(tool.get("input_schema", {}), indent=2),
                            checked=ticked is None or tool["name"] in ticked,
                        )
                        for tool in tools
                    ],
                )
            )
        return views

    @rx.event(background=True)
    async def refresh_mcp_tools(self) -> None:
        """Fetch the tool list of every chosen server (the Refresh button, and on open)."""
        async with self:
            servers, _ = self._mcp_choice()
            actor = await self._actor()
            if actor is None or not servers:
                return
            self.mcp_loading = True
        fetched: dict[str, dict[str, Any]] = {}
        for server in servers:
            try:
                tools = await mcp_servers.list_tools(actor, server)
                fetched[server] = {"tools": [t.model_dump() for t in tools], "error": ""}
            except AgentFlowError as exc:
                fetched[server] = {"tools": [], "error": str(exc)}
        async with self:
            self.mcp_listing = {**self.mcp_listing, **fetched}
            self.mcp_loading = False

    @rx.event
    async def toggle_mcp_tool(self, server: str, tool: str, checked: bool) -> None:
        """Tick or untick one tool of ``server`` for the agent."""
        _, allowed = self._mcp_choice()
        offered = [t["name"] for t in self.mcp_listing.get(server, {}).get("tools", [])]
        current = allowed.get(server, offered)
        chosen = [name for name in current if name != tool] + ([tool] if checked else [])
        if set(chosen) >= set(offered):
            allowed.pop(server, None)  # everything ticked: all tools, new ones included
        else:
            allowed[server] = [name for name in offered if name in chosen]
        await self._set("mcp_tools", allowed or None)
