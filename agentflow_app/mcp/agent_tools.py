"""An MCP server's tools as LangChain tools, for one ``llm.agent`` step.

Per step, each server in the agent's ``mcp_servers`` gets one session, and its tools are
listed once (the list the model is given cannot change under it mid-step). Only the tools
the author ticked are offered when the agent's ``mcp_tools`` names that server. Each call
goes through the session; the result becomes the tool message (text for the model, the
whole result as the step's record), and anything that goes wrong, from a timeout to a tool
the server stopped offering, goes back to the model as a tool error, the way a failing
built-in tool does, instead of failing the step.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from langchain_core.tools import StructuredTool, ToolException

from agentflow_app.engine.errors import NodeError
from agentflow_app.engine.node import RunContext
from agentflow_app.llm.errors import scrub
from agentflow_app.mcp.client import McpSession, ToolInfo, open_session
from agentflow_app.mcp.servers import McpError, resolve
from agentflow_app.settings import get_settings

#: Longest tool result text the model is shown (the same as for built-in tools).
MAX_MODEL_CHARS = 16_000
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class McpToolRef:
    """Where a model-visible tool name leads: which server, which tool."""

    server: str
    tool: str

    @property
    def id(self) -> str:
        """How steps and logs name the tool: ``mcp:<server>/<tool>``."""
        return f"mcp:{self.server}/{self.tool}"


def model_name(server: str, tool: str) -> str:
    """The name the model calls an MCP tool by: ``<server>__<tool>``, provider-safe.

    Providers allow ``[A-Za-z0-9_-]{1,64}``; the server prefix keeps two servers' tools of
    the same name apart.
    """
    return _UNSAFE.sub("_", f"{server}__{tool}")[:64]


async def open_tools(
    stack: AsyncExitStack,
    ctx: RunContext,
    servers: Sequence[str],
    allowed: Mapping[str, Sequence[str]],
    *,
    timeout_s: float,
    secrets: Callable[[], tuple[str, ...]],
    images: bool = False,
) -> tuple[list[StructuredTool], dict[str, McpToolRef]]:
    """Open a session per server on ``stack`` and make tools of what each offers.

    Args:
        stack: closes the sessions when the step ends.
        servers: credential names or ``stdio:<name>`` references.
        allowed: per server, the tool names the agent may use (absent: all).
        timeout_s: bound on each MCP request (the step's ``timeout_s`` bounds the whole).
        secrets: the strings to scrub from results and errors (the model's key...).
        images: hand images in results to the model as images (a provider whose tool
            results take them); otherwise the model reads a note and the step keeps them.

    Raises:
        NodeError: a server cannot be resolved or reached, or does not list its tools.
    """
    tools: list[StructuredTool] = []
    refs: dict[str, McpToolRef] = {}
    allow_private = get_settings().agentflow_allow_private_network
    for ref in servers:
        try:
            server = await resolve(ref, ctx.credentials)
            session = await stack.enter_async_context(
                open_session(server, allow_private=allow_private, timeout_s=timeout_s)
            )
            offered = await session.list_tools()
        except McpError as exc:
            raise NodeError(f"mcp_servers: {scrub(str(exc), secrets())}") from None
        chosen = offered
        if ref in allowed:
            wanted = set(allowed[ref])
            chosen = [info for info in offered if info.name in wanted]
            missing = sorted(wanted - {info.name for info in offered})
            if missing:
                await ctx.log(
                    f"MCP server {ref!r} no longer offers {', '.join(missing)} "
                    "(ticked in mcp_tools); the agent goes on without them",
                    level="warning",
                )
        for info in chosen:
            tool_ref = McpToolRef(ref, info.name)
            name = model_name(ref, info.name)
            refs[name] = tool_ref
            tools.append(_tool(session, tool_ref, name, info, timeout_s, secrets, images))
    return tools, refs


def _tool(
    session: McpSession,
    ref: McpToolRef,
    name: str,
    info: ToolInfo,
    timeout_s: float,
    secrets: Callable[[], tuple[str, ...]],
    images: bool,
) -> StructuredTool:
    async def run(**kwargs: Any) -> tuple[str | list[dict[str, Any]], Any]:
        try:
            result = await session.call_tool(ref.tool, kwargs, timeout_s=timeout_s)
        except McpError as exc:
            raise ToolException(f"{ref.id} failed: {scrub(str(exc), secrets())}") from None
        result = result.model_copy(update=scrub(result.model_dump(), secrets()))
        if result.is_error:
            raise ToolException(f"{ref.id} failed: {result.text or 'the tool reported an error'}")
        text = result.text
        if len(text) > MAX_MODEL_CHARS:
            text = text[:MAX_MODEL_CHARS] + f"… (cut at {MAX_MODEL_CHARS} characters)"
        record = result.model_dump(exclude={"is_error"})
        shown = [
            {"type": "image", "base64": block["data"], "mime_type": block["mime_type"]}
            for block in result.content
            if images and block["type"] == "image"
        ]
        if shown:  # LangChain's standard blocks, which the provider's client translates
            return [{"type": "text", "text": text}, *shown], record
        return text, record

    return StructuredTool.from_function(
        coroutine=run,
        name=name,
        description=(info.description or f"Tool {info.name} of MCP server {ref.server}")[:1024],
        args_schema=_schema(info.input_schema),
        response_format="content_and_artifact",
        handle_tool_error=True,
    )


def _schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The tool's input schema as the providers take it: an object, JSON-clean."""
    clean = json.loads(json.dumps(schema))
    if clean.get("type") != "object":
        clean = {"type": "object", "properties": {}}
    clean.setdefault("properties", {})
    return clean
