"""AgentFlow as an MCP server: a user's exposed workflows are its tools (SPEC §12).

``tools/list`` answers the caller's workflows that have a manual trigger and
``expose_mcp: true`` (:mod:`agentflow_app.services.mcp_tools`). ``tools/call`` queues a run
exactly as ``POST /api/workflows/{id}/execute`` does, follows the run's events, sends an
MCP progress notification as each step finishes, and answers with the run's outputs (as
text and as structured content) or, when the run fails or is cancelled, a tool error
whose text is the reason, so the calling model can read it.

Who is calling is set by the HTTP endpoint (:mod:`agentflow_app.api.mcp`) after it has
checked the API key: :func:`acting_as` binds the account for the request, and the
handlers read it back. Nothing here parses credentials.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server

from agentflow_app.engine.events import EventType
from agentflow_app.errors import AgentFlowError, InvalidInput, NotFound
from agentflow_app.services import executions, mcp_tools
from agentflow_app.services.users import Actor

SERVER_NAME = "agentflow"
_STEP_DONE = {EventType.STEP_SUCCEEDED, EventType.STEP_FAILED, EventType.STEP_SKIPPED}
_actor: ContextVar[Actor | None] = ContextVar("agentflow_mcp_actor", default=None)


@contextmanager
def acting_as(actor: Actor) -> Iterator[None]:
    """Serve the requests inside the block for ``actor`` (the API key's owner)."""
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


def _caller() -> Actor:
    actor = _actor.get()
    if actor is None:  # the endpoint always binds one; this is a wiring mistake
        raise RuntimeError("an MCP request reached the server without an authenticated account")
    return actor


async def list_tools(
    ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
) -> types.ListToolsResult:
    """The caller's exposed workflows as tools."""
    offered = await asyncio.to_thread(mcp_tools.exposed_workflows, _caller())
    return types.ListToolsResult(
        tools=[
            types.Tool(
                name=workflow.tool_name,
                title=workflow.title,
                description=workflow.description,
                input_schema=workflow.input_schema,
            )
            for workflow in offered
        ]
    )


async def call_tool(
    ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
) -> types.CallToolResult:
    """Run the workflow behind the tool, report progress, answer with its outputs."""
    actor = _caller()
    try:
        workflow = await asyncio.to_thread(mcp_tools.find_tool, actor, params.name)
        execution_id = await asyncio.to_thread(
            mcp_tools.start_tool, actor, workflow, params.arguments
        )
    except InvalidInput as exc:
        problems = getattr(exc, "problems", None) or []
        detail = "; ".join(f"{p.get('field')}: {p.get('message')}" for p in problems)
        return _error(f"{exc}" + (f" ({detail})" if detail and detail not in str(exc) else ""))
    except (NotFound, AgentFlowError) as exc:
        return _error(str(exc))
    total = float(workflow.steps)
    done = 0
    async for event in executions.follow(actor, execution_id):
        if event.type == EventType.EXECUTION_STARTED:
            await ctx.session.report_progress(0, total, f"run {execution_id} started")
        elif event.type in _STEP_DONE:
            done += 1
            status = event.type.value.removeprefix("step.")
            await ctx.session.report_progress(
                min(done, total), total, f"step {event.node_id} {status}"
            )
        elif event.type == EventType.EXECUTION_WAITING:
            return _error(
                f"run {execution_id} is waiting for a person (an approval); it goes on "
                "when they decide, and its result is then in AgentFlow's history"
            )
    record = await asyncio.to_thread(executions.get, actor, execution_id)
    if record.get("status") != "succeeded":
        reason = record.get("error") or record.get("status")
        return _error(f"run {execution_id} of {workflow.title!r} {record.get('status')}: {reason}")
    outputs = record.get("outputs")
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(outputs, ensure_ascii=False))],
        structured_content=outputs if isinstance(outputs, dict) else {"result": outputs},
        is_error=False,
    )


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=message)], is_error=True
    )


def build_server() -> Server[Any]:
    """The low-level SDK server with AgentFlow's two handlers."""
    return Server(
        SERVER_NAME,
        title="AgentFlow",
        description="Your AgentFlow workflows marked available to MCP clients, as tools.",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )
