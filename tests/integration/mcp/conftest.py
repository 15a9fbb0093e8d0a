"""Fixtures for MCP tests: real SDK servers on loopback (:mod:`tests.fakes.mcp_server`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.mcp_server import McpFake, directory_server, serve_mcp, trouble_server
from tests.fakes.servers import asgi_server

__all__ = ["asgi_server"]


@pytest.fixture(scope="module")
def directory() -> Iterator[McpFake]:
    with serve_mcp(directory_server) as fake:
        yield fake


@pytest.fixture(scope="module")
def trouble() -> Iterator[McpFake]:
    with serve_mcp(trouble_server) as fake:
        yield fake
