"""Fixtures for the credentials vault: accounts, the REST API in-process, and moto's Secrets
Manager over HTTP. Raw database dumps and signing in are in :mod:`tests.helpers.credentials`;
fakes of the services the Test button calls, in :mod:`tests.fakes.credential_checks`."""

from __future__ import annotations

import secrets
import socket
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest

from agentflow_app.api.app import create_api
from agentflow_app.services import users
from agentflow_app.services.users import Actor
from tests.fakes.servers import asgi_server
from tests.helpers.users import PASSWORD

__all__ = ["asgi_server"]


@pytest.fixture
def make_actor() -> Callable[[], Actor]:
    """``make_actor()`` → a new account (unique email; the stack is shared by the session)."""
    return lambda: users.create_user(f"u{secrets.token_hex(4)}@example.com", PASSWORD)


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_api())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


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
