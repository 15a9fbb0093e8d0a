"""Fixtures for nodes that need the app around them (the file store and its database):
one embedded stack per module, and the guarded HTTP client the node context takes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from agentflow_app.net.client import GuardedClient
from tests.helpers.stack import Stack, make_stack


@pytest.fixture(scope="module")
def module_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One embedded stack for the module: the files need a database, not a fresh one each."""
    with make_stack("embedded", tmp_path_factory.mktemp("nodes")) as made:
        yield made


@pytest.fixture
async def http() -> AsyncIterator[GuardedClient]:
    async with GuardedClient(allow_private=True) as client:
        yield client
