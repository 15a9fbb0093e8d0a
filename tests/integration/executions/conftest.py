"""Fixtures for execution tests: a counting web site, accounts, and real Celery workers.

The helpers these build on (workflows, waiting for results, the worker pool) are in
:mod:`tests.helpers.executions` and :mod:`tests.helpers.workers`; the web site is
:class:`tests.fakes.slow_server.SlowServer`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

import pytest

from agentflow_app.services import users
from agentflow_app.services.users import Actor
from tests.fakes.slow_server import SlowServer
from tests.helpers.stack import Stack
from tests.helpers.users import PASSWORD
from tests.helpers.workers import WorkerPool, worker_pool


@pytest.fixture(scope="module")
def slow_server(stack: Stack) -> Iterator[SlowServer]:
    server = SlowServer()  # one per stack, so counts start at zero
    yield server
    server.close()


@pytest.fixture
def make_actor(stack: Stack) -> Callable[[], Actor]:
    return lambda: users.create_user(f"x{secrets.token_hex(4)}@example.com", PASSWORD)


@pytest.fixture(scope="module")
def workers(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerPool]:
    """One worker (2 pool processes) on the stack, shared by a module's tests."""
    with worker_pool(stack, tmp_path_factory.mktemp("workers")) as pool:
        pool.start("main")
        yield pool
