"""Fixtures for the credentials vault: accounts, the REST API in-process, raw database dumps,
moto's Secrets Manager over HTTP, and fakes of the services the Test button calls."""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from agentflow_app.api.app import create_api
from agentflow_app.services import users
from agentflow_app.services.users import Actor
from tests.fakes.servers import asgi_server
from tests.helpers.stack import Stack

__all__ = ["asgi_server"]

PASSWORD = "correct horse battery"


@pytest.fixture
def make_actor() -> Callable[[], Actor]:
    """``make_actor()`` → a new account (unique email; the stack is shared by the session)."""
    return lambda: users.create_user(f"u{secrets.token_hex(4)}@example.com", PASSWORD)


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_api())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def token_for(api: httpx.AsyncClient, actor: Actor) -> dict[str, str]:
    """The Authorization header of a signed-in ``actor`` (through POST /api/auth/token)."""
    answer = await api.post("/api/auth/token", json={"email": actor.email, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def raw_database(stack: Stack) -> bytes:
    """Every byte the database holds: the SQLite files (WAL included) or a ``pg_dump``."""
    url = make_url(stack.db_url)
    if url.get_backend_name() == "sqlite":
        main = Path(url.database)
        files = [str(path) for path in (main, main.with_name(main.name + "-wal")) if path.exists()]
        # Read in another process: closing any descriptor of the database file in this one
        # drops every POSIX lock SQLite holds on it here, after which other processes may
        # reset the WAL under this process's connections ("disk I/O error", lost writes).
        return subprocess.run(["cat", *files], check=True, capture_output=True).stdout
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    pg_dump = shutil.which("pg_dump") or "/usr/bin/pg_dump"
    return subprocess.run(
        [pg_dump, "--data-only", "--inserts", dsn], check=True, capture_output=True, timeout=120
    ).stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """moto's server mode on a free port of 127.0.0.1 (Secrets Manager, STS, SES over HTTP)."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_env(moto_url: str, set_env) -> str:
    """The process's AWS environment pointed at moto; returns moto's URL."""
    set_env(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN=None,
        AWS_PROFILE=None,
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL_SECRETS_MANAGER=moto_url,
        AWS_ENDPOINT_URL_STS=moto_url,
        AWS_CONFIG_FILE="/nonexistent",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
    )
    return moto_url
