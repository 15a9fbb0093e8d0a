"""Real MCP servers on loopback, built with the SDK's own server side (``MCPServer``).

:func:`serve_mcp` serves an :class:`McpFake` over streamable HTTP on 127.0.0.1 and yields
its endpoint URL; the fake records every tool call (name and arguments) and the
``Authorization`` header of every HTTP request, so a test asserts what really went over
the wire. :func:`directory_server` has the two tools an agent test needs;
:func:`trouble_server` has the misbehaving ones (an oversized answer, a hang, a failure).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from mcp.server.mcpserver import Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from starlette.types import Receive, Scope, Send

from tests.fakes.servers import serve_asgi

#: Bigger than the 1 MiB a result keeps.
BIG_TEXT_BYTES = 1536 * 1024
#: A 1×1 PNG, what ``logo`` answers.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


@dataclass
class McpFake:
    server: MCPServer
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)
    url: str = ""

    def record(self, tool: str, /, **arguments: Any) -> None:
        self.calls.append((tool, arguments))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers", []))
            value = headers.get(b"authorization")
            self.authorizations.append(value.decode() if value else None)
        await self._app(scope, receive, send)

    def __post_init__(self) -> None:
        self._app = self.server.streamable_http_app()


def directory_server() -> McpFake:
    """Two tools: ``lookup_company`` (what an agent is asked to use) and ``add``."""
    fake = McpFake(MCPServer("directory"))

    def lookup_company(name: str) -> dict[str, Any]:
        """Look a company up in the directory: its size and home town."""
        fake.record("lookup_company", name=name)
        return {"name": name, "employees": 42, "city": "Oslo"}

    def add(a: int, b: int) -> int:
        """Add two whole numbers."""
        fake.record("add", a=a, b=b)
        return a + b

    fake.server.add_tool(lookup_company)
    fake.server.add_tool(add)
    return fake


def gallery_server() -> McpFake:
    """One tool, ``logo``, answering with a caption and an image."""
    fake = McpFake(MCPServer("gallery"))

    def logo(company: str) -> list[Any]:
        """The company's logo."""
        fake.record("logo", company=company)
        return [f"the logo of {company}", Image(data=PNG, format="png")]

    fake.server.add_tool(logo, structured_output=False)
    return fake


def trouble_server(release: asyncio.Event | None = None) -> McpFake:
    """``big`` (1.5 MiB of text), ``hang`` (never answers), ``fail`` (a tool error)."""
    fake = McpFake(MCPServer("trouble"))

    def big() -> str:
        """Answer with more text than anyone should keep."""
        fake.record("big")
        return "x" * BIG_TEXT_BYTES

    async def hang() -> str:
        """Never answer."""
        fake.record("hang")
        await asyncio.sleep(3600)
        return "too late"

    def fail(reason: str) -> str:
        """Fail with the given reason."""
        fake.record("fail", reason=reason)
        raise ToolError(f"the directory refused: {reason}")

    for tool in (big, hang, fail):
        fake.server.add_tool(tool)
    return fake


@contextmanager
def serve_mcp(make: Callable[[], McpFake]) -> Iterator[McpFake]:
    """Serve a fresh fake on 127.0.0.1; ``fake.url`` is its ``/mcp`` endpoint."""
    fake = make()
    with serve_asgi(fake, lifespan="on") as base:
        fake.url = f"{base}/mcp"
        yield fake
