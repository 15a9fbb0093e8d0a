"""A stdio MCP server, started as a command by the code under test (not imported by tests).

Its one tool, ``environment``, answers the names of the environment variables the process
was started with, so a test can assert from inside the server what AgentFlow let through.

    python tests/fakes/mcp_stdio_server.py
"""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer

server = MCPServer("environment")


@server.tool()
def environment() -> list[str]:
    """The names of this process's environment variables."""
    return sorted(os.environ)


if __name__ == "__main__":
    server.run("stdio")
