"""MCP servers as the editor sees them: which ones a user may pick, and what tools each offers.

The choices are the user's ``mcp`` credentials (listed with the other credentials) plus the
administrator's stdio servers as ``stdio:<name>``. Listing a server's tools goes through the
vault of the workspace the user acts in, for a role that edits there, so a user can only
ever list servers whose credentials their workspace holds, and through the same guarded
client as a run.
"""

from __future__ import annotations

from agentflow_app.mcp.client import ToolInfo, open_session
from agentflow_app.mcp.servers import STDIO_PREFIX, McpError, resolve, stdio_servers
from agentflow_app.secrets.vault import Vault
from agentflow_app.services import workspaces
from agentflow_app.services.users import Actor
from agentflow_app.services.workspaces import Can
from agentflow_app.settings import get_settings

#: Seconds the editor waits for a server's tool list.
LIST_TIMEOUT_S = 15.0


def stdio_choices() -> list[str]:
    """``stdio:<name>`` of every server in the administrator's list (none when it is broken:
    the run names the problem)."""
    try:
        return [f"{STDIO_PREFIX}{name}" for name in sorted(stdio_servers())]
    except McpError:
        return []


async def list_tools(actor: Actor, ref: str) -> list[ToolInfo]:
    """The tools server ``ref`` offers, fetched now.

    Opening the session uses the workspace's credential outside a run, which (like a
    credential's Test and a node test) only a role that edits may: editors choose an
    agent's tools, runners use credentials through runs only, viewers not at all.

    Raises:
        Forbidden: the actor's role in the workspace it acts in does not edit.
        McpError: not the actor's credential, not an allowed stdio server, or the server
            could not be reached; the message says which.
    """
    workspaces.require_here(actor, Can.EDIT, "list an MCP server's tools")
    vault = Vault(actor.workspace_id)
    server = await resolve(ref, vault)
    async with open_session(
        server,
        allow_private=get_settings().agentflow_allow_private_network,
        timeout_s=LIST_TIMEOUT_S,
    ) as session:
        tools = await session.list_tools()
    return tools
