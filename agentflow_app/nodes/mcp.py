"""``mcp.tool``: call one tool of one MCP server with templated arguments, no model involved.

For deterministic workflows: the author picks the server (an ``mcp`` credential or an
administrator's ``stdio:<name>``), the tool and its arguments (templates rendered before
the call). The output is the tool's result: ``{text, data, content, truncated}``, capped
at 1 MiB and scrubbed of the server's secrets. A tool that reports an error fails the
step with the tool's own message; a server that does not answer within ``timeout_s``
fails it too. What a server's tool does is unknown, so the node counts as acting on the
world and is not repeated after a worker dies mid-call.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from agentflow_app.engine.errors import NodeError
from agentflow_app.engine.node import Node, NodeConfig, RunContext, TemplateJSON
from agentflow_app.mcp.client import open_session
from agentflow_app.mcp.servers import McpError, resolve
from agentflow_app.settings import get_settings


class McpToolConfig(NodeConfig):
    credential: str = Field(
        min_length=1,
        description="The MCP server: an mcp credential, or stdio:<name> from the "
        "administrator's list",
        json_schema_extra={"credential_kinds": ["mcp"]},
    )
    tool: str = Field(min_length=1, max_length=200, description="The tool's name on the server")
    arguments: TemplateJSON = Field(
        default_factory=dict, description="The tool's arguments; strings are templates"
    )


class McpTool(Node):
    type = "mcp.tool"
    label = "MCP tool"
    category = "Tools"
    icon = "plug"
    description = "Call one tool of an MCP server with the arguments you give."
    Config = McpToolConfig
    default_retries = 0
    side_effects = True
    idempotent = False

    async def run(self, ctx: RunContext, config: McpToolConfig) -> dict[str, Any]:
        where = f"mcp.tool {config.tool!r}"
        if not isinstance(config.arguments, dict):
            raise NodeError(f"{where}: arguments must be an object of the tool's parameters")
        try:
            server = await resolve(config.credential, ctx.credentials)
            async with open_session(
                server,
                allow_private=get_settings().agentflow_allow_private_network,
                timeout_s=config.timeout_s,
            ) as session:
                result = await session.call_tool(config.tool, config.arguments)
        except McpError as exc:
            raise NodeError(f"{where}: {exc}") from None
        if result.is_error:
            raise NodeError(f"{where}: the tool reported an error: {result.text or '(no message)'}")
        return result.model_dump(exclude={"is_error"})
