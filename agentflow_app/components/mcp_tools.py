"""The MCP tools editor of an agent's config panel: per chosen server, its live tool list."""

from __future__ import annotations

import reflex as rx

from agentflow_app.state.config_panel import ConfigPanelState
from agentflow_app.state.mcp_tools import McpServerView, McpToolView


def _tool(server: rx.Var, tool: McpToolView) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.checkbox(
                checked=tool["checked"],
                on_change=lambda checked: ConfigPanelState.toggle_mcp_tool(
                    server, tool["name"], checked
                ),
                size="2",
            ),
            rx.code(tool["name"], size="1"),
            spacing="2",
            align="center",
        ),
        rx.cond(
            tool["description"] != "",
            rx.text(tool["description"], size="1", color_scheme="gray"),
        ),
        rx.accordion.root(
            rx.accordion.item(
                header="Input schema",
                content=rx.code_block(tool["schema"], language="json", font_size="11px"),
                value="schema",
            ),
            collapsible=True,
            type="single",
            variant="ghost",
            width="100%",
        ),
        spacing="1",
        width="100%",
        custom_attrs={"data-mcp-tool": tool["name"]},
    )


def _server(view: McpServerView) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.code(view["server"], size="1", weight="bold"),
            rx.cond(
                view["error"] != "",
                rx.text(view["error"], size="1", color_scheme="red"),
                rx.cond(
                    view["loaded"],
                    rx.foreach(view["tools"], lambda tool: _tool(view["server"], tool)),
                    rx.text("Press Refresh to list its tools.", size="1", color_scheme="gray"),
                ),
            ),
            spacing="2",
            width="100%",
        ),
        size="1",
        width="100%",
    )


def mcp_tools_editor() -> rx.Component:
    """Tick the tools the agent may use; all are allowed until one is unticked."""
    return rx.vstack(
        rx.cond(
            ConfigPanelState.mcp_servers_view.length() > 0,
            rx.fragment(
                rx.button(
                    rx.icon("refresh-cw", size=14),
                    "Refresh tool lists",
                    on_click=ConfigPanelState.refresh_mcp_tools,
                    loading=ConfigPanelState.mcp_loading,
                    variant="soft",
                    size="1",
                ),
                rx.foreach(ConfigPanelState.mcp_servers_view, _server),
            ),
            rx.text("Choose MCP servers above to list their tools.", size="1", color_scheme="gray"),
        ),
        spacing="2",
        width="100%",
        data_testid="mcp-tools",
    )
