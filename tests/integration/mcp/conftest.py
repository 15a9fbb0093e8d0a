"""Fixtures for MCP tests: real SDK servers on loopback (:mod:`tests.fakes.mcp_server`), and
one embedded stack per module for the tests that store runs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.mcp_server import McpFake, directory_server, serve_mcp, trouble_server
from tests.fakes.servers import asgi_server
from tests.helpers.stack import Stack, make_stack
from tests.helpers.users import Account, new_account

__all__ = ["asgi_server"]


@pytest.fixture(scope="module")
def directory() -> Iterator[McpFake]:
    with serve_mcp(directory_server) as fake:
        yield fake


@pytest.fixture(scope="module")
def trouble() -> Iterator[McpFake]:
    with serve_mcp(trouble_server) as fake:
        yield fake


@pytest.fixture(scope="module")
def mcp_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One embedded stack (SQLite + the bundled Redis) for a module's runs."""
    with make_stack("embedded", tmp_path_factory.mktemp("mcp")) as made:
        yield made


@pytest.fixture
def account(mcp_stack: Stack) -> Account:
    return new_account("mcp")
