"""The Test button on an SMTP credential: connect and log in to a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from agentflow_app.secrets.checks import check

PASSWORD = "smtp-check-SECRET-123456"


class _Sink:
    async def handle_DATA(self, server, session, envelope) -> str:
        return "250 OK"


def _authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535


@pytest.fixture
def smtp_port() -> Iterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(
        _Sink(),
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticator,
        auth_require_tls=False,
    )
    controller.start()
    yield port
    controller.stop()


def _value(port: int, password: str) -> dict:
    return {
        "host": "127.0.0.1",
        "port": port,
        "username": "bot",
        "password": password,
        "tls": "none",
        "from_address": "bot@example.com",
    }


async def test_login_accepted_and_refused(smtp_port: int, set_env) -> None:
    set_env(AGENTFLOW_ALLOW_PRIVATE_NETWORK="true")
    good = await check("smtp", _value(smtp_port, PASSWORD))
    assert good.ok, good.message
    assert good.message == "127.0.0.1 accepted the login"
    bad = await check("smtp", _value(smtp_port, "wrong-password"))
    assert not bad.ok
    assert bad.message == "127.0.0.1 refused the login (535)"


async def test_a_private_smtp_host_is_refused_by_default(smtp_port: int, set_env) -> None:
    set_env(AGENTFLOW_ALLOW_PRIVATE_NETWORK="false")
    answer = await check("smtp", _value(smtp_port, PASSWORD))
    assert not answer.ok and "loopback" in answer.message
