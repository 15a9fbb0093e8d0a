"""Fixtures for the REST API tests: the real FastAPI app on a fresh stack, and accounts.

``stack`` makes every test here run twice (SQLite + embedded Redis, PostgreSQL + Redis).
The session-wide database is shared, so each account gets a unique email
(:func:`tests.helpers.users.new_account`); documents are in :mod:`tests.helpers.documents`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from agentflow_app.api.app import create_api
from tests.helpers.stack import Stack
from tests.helpers.users import Account, new_account


@pytest.fixture
def client(stack: Stack) -> Iterator[TestClient]:
    with TestClient(create_api()) as made:
        yield made


@pytest.fixture
def owner(stack: Stack) -> Account:
    return new_account("owner")


@pytest.fixture
def other(stack: Stack) -> Account:
    return new_account("other")
