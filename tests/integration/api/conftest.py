"""Fixtures for the REST API tests: the real FastAPI app on a fresh stack, and accounts.

``stack`` makes every test here run twice (SQLite + embedded Redis, PostgreSQL + Redis).
The session-wide database is shared, so each account gets a unique email.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from agentflow_app.api.app import create_api
from agentflow_app.auth import tokens
from agentflow_app.db import session_scope
from agentflow_app.models import User
from agentflow_app.services import users
from agentflow_app.services.users import Actor
from tests.helpers.stack import Stack

PASSWORD = "correct horse battery"


@dataclass
class Account:
    actor: Actor
    email: str
    password: str

    def token(self) -> str:
        """A fresh access token, issued under the account's current token version."""
        with session_scope() as session:
            version = session.get(User, self.actor.id).token_version
        return tokens.issue(self.actor.id, version).access_token

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}


def new_account(prefix: str = "user") -> Account:
    email = f"{prefix}-{secrets.token_hex(4)}@example.com"
    return Account(users.create_user(email, PASSWORD, name=prefix.title()), email, PASSWORD)


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


def manual_document(name: str = "Lead research") -> dict:
    return {
        "schema_version": 1,
        "name": name,
        "description": "",
        "nodes": [
            {
                "id": "start",
                "type": "trigger.manual",
                "position": {"x": 0, "y": 0},
                "data": {"label": "Start", "config": {"inputs": []}},
            }
        ],
        "edges": [],
    }


def webhook_document(name: str = "Inbound lead") -> dict:
    document = manual_document(name)
    document["nodes"][0]["type"] = "trigger.webhook"
    return document
