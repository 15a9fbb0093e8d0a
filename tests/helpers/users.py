"""In-process accounts: users made through the services (no HTTP), the password they all
share, and an :class:`Account` that can mint its own bearer token. Each account gets a
unique email, because the session-wide database is shared. (Accounts on a running
``agentflow serve``, for browser tests, are in :mod:`tests.helpers.accounts`.)
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from agentflow_app.auth import tokens
from agentflow_app.db import session_scope
from agentflow_app.models import User
from agentflow_app.services import users
from agentflow_app.services.users import Actor

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
