"""Talking to one MCP server: open a session, list its tools, call one.

Everything a caller gets back is plain JSON, capped and scrubbed:

* a tool list is :class:`ToolInfo` (name, description, input schema);
* a call's result is :class:`ToolResult`: the text a model reads, the structured JSON
  when the tool gave one, and the content blocks (text, images, audio, resources) as
  JSON. Over :data:`MAX_RESULT_BYTES` it is cut to the text that fits and marked
  ``truncated``; every known secret is replaced with ``***``.

Failures become :class:`~agentflow_app.mcp.servers.McpError` with a sentence naming the
server: refused by the network guard, unreachable, timed out, or a protocol error. A
tool's own failure (``isError``) is not an exception: it is a result with ``is_error``,
which an agent hands back to the model and the ``mcp.tool`` node turns into a step error.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, nullcontext
from typing import Any

import anyio
import httpx2
import mcp_types as types
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from pydantic import BaseModel

from agentflow_app.errors import AgentFlowError
from agentflow_app.llm.errors import scrub
from agentflow_app.mcp.servers import HttpServer, McpError, Server, StdioServer
from agentflow_app.mcp.transport import MAX_WIRE_BYTES, guarded_client
from agentflow_app.net.guard import check_url, redact_url

#: The most of one tool result a step keeps and a model is shown (SPEC-wide step cap).
MAX_RESULT_BYTES = 1024 * 1024
#: Seconds one MCP request (connect, list, call) may take unless the caller says less.
DEFAULT_CALL_TIMEOUT_S = 60.0
#: How much longer than a call's deadline the HTTP read timeout is.
READ_GRACE_S = 5.0

log = logging.getLogger(__name__)


class ToolInfo(BaseModel):
    """A tool as a server lists it."""

    name: str
    description: str = ""
    input_schema: dict[str, Any]


class ToolResult(BaseModel):
    """One call's result as JSON data."""

    #: What a model reads: the text blocks joined (else the structured JSON as text), with
    #: a one-line note for each image, audio clip, binary resource or link.
    text: str
    #: ``structuredContent``, or the text parsed when it is one JSON value.
    data: Any = None
    #: The blocks that are not text (images, audio, resources, links) as JSON, data included.
    content: list[dict[str, Any]]
    is_error: bool = False
    #: Cut at :data:`MAX_RESULT_BYTES`; ``text`` says so at its end.
    truncated: bool = False


class McpSession:
    """An open session with one server (use :func:`open_session`)."""

    def __init__(self, server: Server, client: Client, timeout_s: float, secrets: tuple[str, ...]):
        self.server = server
        self._client = client
        self._timeout_s = timeout_s
        self._secrets = secrets

    async def list_tools(self) -> list[ToolInfo]:
        """Every tool the server offers (all pages)."""
        tools: list[ToolInfo] = []
        cursor: str | None = None
        async with _errors(self.server, self._timeout_s, "listing its tools"):
            for _ in range(100):  # a paginator that never ends must not hang the step
                page = await self._client.list_tools(cursor=cursor, cache_mode="refresh")
                tools += [
                    ToolInfo(
                        name=tool.name,
                        description=tool.description or "",
                        input_schema=tool.input_schema or {"type": "object"},
                    )
                    for tool in page.tools
                ]
                cursor = page.next_cursor
                if cursor is None:
                    break
        return tools

    async def call_tool(
        self, name: str, arguments: dict[str, Any], timeout_s: float | None = None
    ) -> ToolResult:
        """Call tool ``name``; a tool's own failure comes back as ``is_error``.

        Raises:
            McpError: the call did not complete (timeout, connection, protocol error), or
                the server no longer offers the tool.
        """
        limit = min(timeout_s or self._timeout_s, self._timeout_s)
        async with _errors(self.server, limit, f"calling tool {name!r}"):
            result = await self._client.call_tool(name, arguments)
        return to_result(result, self._secrets)


@asynccontextmanager
async def open_session(
    server: Server,
    *,
    allow_private: bool,
    timeout_s: float = DEFAULT_CALL_TIMEOUT_S,
    secrets: Sequence[str] = (),
) -> AsyncIterator[McpSession]:
    """A session with ``server`` for the length of the block.

    Args:
        allow_private: let the URL reach loopback / private addresses.
        timeout_s: bound on opening the session and on each request.
        secrets: more strings to scrub from results (the model's key, other tools').

    Raises:
        McpError: the URL is refused, the server cannot be reached or does not speak MCP.
    """
    all_secrets = tuple(dict.fromkeys((*server.secrets, *secrets)))
    finished = False
    try:
        async with AsyncExitStack() as stack:
            # No deadline around the handshake itself: it starts the SDK's task groups, which
            # a cancel scope may not outlive; the client's own read timeout bounds it.
            async with _errors(server, None, "connecting"):
                client = await stack.enter_async_context(_client(server, allow_private, timeout_s))
            yield McpSession(server, client, timeout_s, all_secrets)
            finished = True
    except BaseExceptionGroup as group:
        # The SDK's task groups wrap whatever ended the block, next to what their own tasks
        # raised on the way out: the caller wants the error that ended it, said plainly.
        error = _first(server, group)
        if finished and isinstance(error, McpError):
            # The block is done; a stream that broke meanwhile (a call that timed out, and
            # was answered as such) is no reason to fail it now.
            log.info("closing the session with %s: %s", describe(server), error)
            return
        raise error from None


def _client(server: Server, allow_private: bool, timeout_s: float) -> Client:
    if isinstance(server, StdioServer):
        params = StdioServerParameters(
            command=server.command, args=list(server.args), env=dict(server.env)
        )
        return Client(params, read_timeout_seconds=timeout_s, cache=None)
    check_url(server.url)
    # The socket may stay quiet a little longer than a call may last, so that a call that
    # runs out of time is reported as such (by the call's own deadline) and not as a read
    # error of the stream it was waiting on.
    http = guarded_client(
        headers=server.headers, allow_private=allow_private, timeout_s=timeout_s + READ_GRACE_S
    )
    transport = streamable_http_client(
        server.url, http_client=http, max_sse_event_size=MAX_WIRE_BYTES
    )
    return _OwningClient(http, transport, timeout_s)


class _OwningClient(Client):
    """A Client that closes the HTTP client it was given when it closes."""

    def __init__(self, http: httpx2.AsyncClient, transport: Any, timeout_s: float) -> None:
        super().__init__(transport, read_timeout_seconds=timeout_s, cache=None)
        self._http = http

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            await super().__aexit__(*exc_info)
        finally:
            await self._http.aclose()


def describe(server: Server) -> str:
    """How messages name a server: its credential or stdio name and where it is."""
    if isinstance(server, HttpServer):
        return f"MCP server {server.name!r} ({redact_url(server.url)})"
    return f"stdio MCP server {server.name!r}"


@asynccontextmanager
async def _errors(server: Server, timeout_s: float | None, doing: str) -> AsyncIterator[None]:
    """Turn whatever the SDK and the transport raise into one :class:`McpError`."""
    try:
        with anyio.fail_after(timeout_s) if timeout_s is not None else nullcontext():
            yield
    except (TimeoutError, MCPError) as exc:
        if isinstance(exc, MCPError) and exc.code != types.REQUEST_TIMEOUT:
            raise McpError(f"{describe(server)}: {doing} failed: {exc}") from None
        within = f"within {timeout_s:g} s" if timeout_s is not None else "in time"
        raise McpError(f"{describe(server)} did not answer {within} ({doing})") from None
    except McpError:
        raise
    except BaseException as exc:  # the SDK's task groups wrap failures in groups
        cause = next((leaf for leaf in _leaves(exc) if isinstance(leaf, Exception)), None)
        if cause is None:  # a cancellation: not ours to explain
            raise
        raise McpError(f"{describe(server)}: {doing} failed: {_explain(cause)}") from None


def _first(server: Server, group: BaseExceptionGroup) -> BaseException:
    """The one error a caller should see from an exception group.

    Ours (an :class:`AgentFlowError` the block raised) comes first; else the transport's
    failure, explained.
    """
    leaves = _leaves(group)
    for leaf in leaves:
        if isinstance(leaf, AgentFlowError):
            return leaf
    for leaf in leaves:
        if isinstance(leaf, _TRANSPORT_ERRORS):
            return McpError(f"{describe(server)}: {_explain(leaf)}")
    # Anything else was raised by the caller's block, not by the server: pass it on as is.
    return next((leaf for leaf in leaves if isinstance(leaf, Exception)), group)


#: What talking to a server raises (as opposed to what the caller's own code raises).
_TRANSPORT_ERRORS = (httpx2.HTTPError, MCPError, OSError, anyio.BrokenResourceError)


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _explain(exc: BaseException) -> str:
    if isinstance(exc, AgentFlowError):
        return str(exc)
    if isinstance(exc, httpx2.HTTPStatusError):
        return f"the server answered {exc.response.status_code}"
    if isinstance(exc, httpx2.ConnectError):
        return f"could not connect ({exc or 'refused'})"
    if isinstance(exc, httpx2.TimeoutException):
        return "no answer in time (the connection timed out)"
    text = str(exc) or type(exc).__name__
    return text[:500]


# -- results ----------------------------------------------------------------------------


def to_result(result: types.CallToolResult, secrets: Sequence[str] = ()) -> ToolResult:
    """A call's result as JSON: text for the model, blocks for the record; capped, scrubbed."""
    blocks = [_block(block) for block in result.content]
    texts = [b["text"] for b in blocks if b["type"] == "text"]
    notes = [b.pop("note") for b in blocks if "note" in b]
    structured = result.structured_content
    if texts:
        text = "\n".join(texts)
    elif structured is not None:
        text = json.dumps(structured, ensure_ascii=False)
    else:
        text = ""
    if notes:
        text = "\n".join(filter(None, [text, *notes]))
    data = structured if structured is not None else _json_or_none(text)
    # Text blocks live in ``text`` alone: kept twice, they would take twice the cap.
    others = [b for b in blocks if b["type"] != "text"]
    output = ToolResult(text=text, data=data, content=others, is_error=bool(result.is_error))
    return cap(ToolResult.model_validate(scrub(output.model_dump(), tuple(secrets))))


def cap(result: ToolResult, limit: int = MAX_RESULT_BYTES) -> ToolResult:
    """``result`` as is when its JSON fits in ``limit`` bytes, else its text cut to fit.

    The limit is on everything kept (text, data and blocks). A cut result keeps only the
    text (structured data and binary blocks cannot be cut meaningfully), says where it was
    cut and how big the whole text was, and is marked ``truncated``.
    """
    size = len(json.dumps(result.model_dump(), ensure_ascii=False).encode())
    if size <= limit:
        return result
    whole = len(result.text.encode())
    mark = f"… (cut at {limit // 1024} KiB; the whole text was {_size(whole)})"
    room = limit - 1024  # the JSON around the text and the mark
    text = result.text.encode()[:room].decode(errors="ignore") + mark
    return ToolResult(text=text, data=None, content=[], is_error=result.is_error, truncated=True)


def _block(block: Any) -> dict[str, Any]:
    if isinstance(block, types.TextContent):
        return {"type": "text", "text": block.text}
    if isinstance(block, types.ImageContent | types.AudioContent):
        size = _decoded_size(block.data)
        return {
            "type": block.type,
            "mime_type": block.mime_type,
            "data": block.data,
            "note": f"[{block.type} {block.mime_type}, {_size(size)}, kept in the step output]",
        }
    if isinstance(block, types.EmbeddedResource):
        inner = block.resource
        if isinstance(inner, types.TextResourceContents):
            return {"type": "text", "text": inner.text, "uri": str(inner.uri)}
        size = _decoded_size(inner.blob)
        return {
            "type": "resource",
            "uri": str(inner.uri),
            "mime_type": inner.mime_type,
            "data": inner.blob,
            "note": f"[resource {inner.uri} ({inner.mime_type or 'binary'}, {_size(size)})]",
        }
    if isinstance(block, types.ResourceLink):
        return {
            "type": "resource_link",
            "uri": str(block.uri),
            "name": block.name,
            "note": f"[resource link {block.uri} ({block.name})]",
        }
    return {"type": "unknown", "note": f"[{getattr(block, 'type', 'unknown')} content]"}


def _decoded_size(data: str) -> int:
    """Bytes a base64 string decodes to (without decoding a possibly large payload)."""
    return len(data) * 3 // 4 - data[-2:].count("=")


def _size(size: int) -> str:
    return f"{size} bytes" if size < 1024 else f"{size // 1024} KiB"


def _json_or_none(text: str) -> Any:
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{":
        return None
    try:
        return json.loads(stripped)
    except ValueError:
        return None
