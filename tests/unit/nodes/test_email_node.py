"""email.send over SMTP (a real aiosmtpd server) and SES (moto in server mode)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from aiosmtpd.controller import Controller
from moto.server import ThreadedMotoServer

from agentflow_app.engine.errors import NodeError, TransientError
from agentflow_app.net.client import GuardedClient
from agentflow_app.nodes.email import EmailSend, EmailSendTool
from tests.fakes.servers import Certificate, self_signed_certificate
from tests.fakes.smtp import (
    SMTP_PASSWORD,
    SMTP_USER,
    Inbox,
    authenticate,
    free_port,
    smtp_server,
)
from tests.helpers.node_context import node_context, run_node


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as found:
        yield found


def _smtp_ctx(http: GuardedClient, port: int, password: str = SMTP_PASSWORD, **kwargs: Any):
    fields = {
        "host": "127.0.0.1",
        "port": port,
        "username": SMTP_USER,
        "password": password,
        "tls": "none",
        "from": "AgentFlow <robot@agentflow.test>",
    }
    return node_context(http=http, credentials={"mail": ("smtp", fields)}, **kwargs)


async def test_smtp_delivers_the_rendered_message(
    smtp: tuple[Inbox, int], http: GuardedClient
) -> None:
    inbox, port = smtp
    ctx = _smtp_ctx(http, port, inputs={"name": "Ada"})
    out = await run_node(
        EmailSend,
        {
            "credential": "mail",
            "to": "ada@example.com, grace@example.com",
            "subject": "Hello {{ inputs.name }}",
            "body": "Dear {{ inputs.name }},\nyour report is ready.",
        },
        ctx,
    )
    [(rcpts, message)] = inbox.messages
    assert rcpts == ["ada@example.com", "grace@example.com"]
    assert message["Subject"] == "Hello Ada"
    assert message["From"] == "AgentFlow <robot@agentflow.test>"
    assert message["Message-ID"] == out["message_id"]
    assert out["message_id"].endswith("@agentflow.test>")
    assert message.get_content().splitlines() == ["Dear Ada,", "your report is ready."]


async def test_smtp_html_body(smtp: tuple[Inbox, int], http: GuardedClient) -> None:
    inbox, port = smtp
    await run_node(
        EmailSend,
        {
            "credential": "mail",
            "to": "a@example.com",
            "subject": "s",
            "body": "<b>hi</b>",
            "format": "html",
        },
        _smtp_ctx(http, port),
    )
    assert inbox.messages[0][1].get_content_type() == "text/html"


async def test_smtp_wrong_password_is_a_clear_permanent_error(
    smtp: tuple[Inbox, int], http: GuardedClient
) -> None:
    inbox, port = smtp
    with pytest.raises(NodeError) as caught:
        await run_node(
            EmailSend,
            {"credential": "mail", "to": "a@example.com", "subject": "s", "body": "b"},
            _smtp_ctx(http, port, password="wrong"),
        )
    assert not isinstance(caught.value, TransientError)
    assert str(caught.value).startswith(
        f"email.send: the SMTP server 127.0.0.1:{port} refused the login of 'mailer' (535"
    )
    assert inbox.messages == []


async def test_an_unreachable_smtp_server_is_transient(http: GuardedClient) -> None:
    port = free_port()  # closed again: nothing listens there
    with pytest.raises(TransientError, match=f"could not talk to the SMTP server 127.0.0.1:{port}"):
        await run_node(
            EmailSend,
            {"credential": "mail", "to": "a@example.com", "subject": "s", "body": "b"},
            _smtp_ctx(http, port),
        )


async def test_a_private_smtp_host_is_refused_when_private_networks_are_off(
    smtp: tuple[Inbox, int], strict_http: GuardedClient
) -> None:
    inbox, port = smtp
    with pytest.raises(NodeError) as caught:
        await run_node(
            EmailSend,
            {"credential": "mail", "to": "a@example.com", "subject": "s", "body": "b"},
            _smtp_ctx(strict_http, port),
        )
    assert str(caught.value) == (
        "email.send: the SMTP host 127.0.0.1 resolves to 127.0.0.1, a loopback address; "
        "set AGENTFLOW_ALLOW_PRIVATE_NETWORK=true to allow private networks"
    )
    assert inbox.messages == []


@pytest.mark.parametrize(
    ("to", "message"),
    [
        ("", "email.send: there is no recipient"),
        ("ada at example.com", "email.send: 'ada at example.com' is not an email address"),
        ("a@example.com, nope", "email.send: 'nope' is not an email address"),
    ],
)
async def test_bad_recipients_are_named(
    smtp: tuple[Inbox, int], http: GuardedClient, to: str, message: str
) -> None:
    inbox, port = smtp
    with pytest.raises(NodeError, match=message):
        await run_node(
            EmailSend,
            {"credential": "mail", "to": to, "subject": "s", "body": "b"},
            _smtp_ctx(http, port),
        )
    assert inbox.messages == []


async def test_recipients_may_come_from_a_list_input(
    smtp: tuple[Inbox, int], http: GuardedClient
) -> None:
    inbox, port = smtp
    ctx = _smtp_ctx(http, port, inputs={"team": ["a@example.com", "b@example.com"]})
    await run_node(
        EmailSend,
        {"credential": "mail", "to": "{{ inputs.team }}", "subject": "s", "body": "b"},
        ctx,
    )
    assert inbox.messages[0][0] == ["a@example.com", "b@example.com"]


async def test_the_tool_sends_with_the_agent_nodes_credential(
    smtp: tuple[Inbox, int], http: GuardedClient
) -> None:
    inbox, port = smtp
    ctx = _smtp_ctx(http, port, services={"tool_credentials": {"email_send": "mail"}})
    args = EmailSendTool.Args(to=["z@example.com"], subject="From the agent", body="hi")
    out = await EmailSendTool().run(ctx, args)
    assert inbox.messages[0][1]["Message-ID"] == out["message_id"]


# -- SMTP over TLS --------------------------------------------------------------------------


@pytest.fixture
def tls_smtp(tmp_path: Path) -> Iterator[tuple[Inbox, dict[str, Controller], Certificate]]:
    """A STARTTLS server (logins only after TLS) and an implicit-TLS server, one cert."""
    cert = self_signed_certificate(tmp_path, "127.0.0.1")
    inbox = Inbox()
    servers = {
        "starttls": Controller(
            inbox,
            hostname="127.0.0.1",
            port=free_port(),
            authenticator=authenticate,
            tls_context=cert.server_context(),
            require_starttls=True,
        ),
        "ssl": Controller(
            inbox,
            hostname="127.0.0.1",
            port=free_port(),
            authenticator=authenticate,
            ssl_context=cert.server_context(),
            # aiosmtpd only counts STARTTLS as TLS; this whole connection is TLS.
            auth_require_tls=False,
        ),
    }
    for server in servers.values():
        server.start()
    try:
        yield inbox, servers, cert
    finally:
        for server in servers.values():
            server.stop()


@pytest.mark.parametrize("tls", ["starttls", "ssl"])
async def test_smtp_over_tls_verifies_the_server_and_then_logs_in(
    tls_smtp: tuple[Inbox, dict[str, Controller], Certificate],
    http: GuardedClient,
    monkeypatch: pytest.MonkeyPatch,
    tls: str,
) -> None:
    inbox, servers, cert = tls_smtp
    config = {"credential": "mail", "to": "a@example.com", "subject": "s", "body": "b"}
    fields = {
        "host": "127.0.0.1",
        "port": servers[tls].port,
        "username": SMTP_USER,
        "password": SMTP_PASSWORD,
        "tls": tls,
        "from": "robot@agentflow.test",
    }
    ctx = node_context(http=http, credentials={"mail": ("smtp", fields)})

    with pytest.raises(NodeError, match=r"TLS with the SMTP server 127\.0\.0\.1:\d+ failed"):
        await run_node(EmailSend, config, ctx)
    assert inbox.messages == []

    # Trusting the server's certificate (as an operator would with a private CA) lets it through.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert.cert_file))
    out = await run_node(EmailSend, config, ctx)
    assert inbox.messages[0][1]["Message-ID"] == out["message_id"]


# -- SES ------------------------------------------------------------------------------------

AWS_KEYS = {"access_key_id": "testing", "secret_access_key": "testing"}


@pytest.fixture(scope="module")
def moto_ses() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _ses_ctx(http: GuardedClient, endpoint: str, sender: str, **kwargs: Any):
    fields = {"region": "us-east-1", "from": sender, "endpoint_url": endpoint, **AWS_KEYS}
    return node_context(http=http, credentials={"ses": ("ses", fields)}, **kwargs)


def _verify(endpoint: str, address: str) -> None:
    client = boto3.client(
        "ses",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.verify_email_identity(EmailAddress=address)


def _sent_by_moto(endpoint: str) -> list[dict[str, Any]]:
    data = httpx.get(f"{endpoint}/moto-api/data.json").json()
    return data["ses"]["Message"]


async def test_ses_sends_through_the_api_and_returns_its_message_id(
    moto_ses: str, http: GuardedClient
) -> None:
    _verify(moto_ses, "reports@agentflow.test")
    ctx = _ses_ctx(http, moto_ses, "reports@agentflow.test", inputs={"n": 3})
    out = await run_node(
        EmailSend,
        {
            "credential": "ses",
            "to": "ops@example.com",
            "subject": "{{ inputs.n }} new leads",
            "body": "See the dashboard.",
        },
        ctx,
    )
    [sent] = [m for m in _sent_by_moto(moto_ses) if m["id"] == out["message_id"]]
    assert sent["source"] == "reports@agentflow.test"
    assert sent["subject"] == "3 new leads"
    assert sent["body"] == "See the dashboard."
    assert sent["destinations"]["ToAddresses"] == ["ops@example.com"]


async def test_ses_refusing_an_unverified_sender_is_a_permanent_error(
    moto_ses: str, http: GuardedClient
) -> None:
    with pytest.raises(NodeError) as caught:
        await run_node(
            EmailSend,
            {"credential": "ses", "to": "ops@example.com", "subject": "s", "body": "b"},
            _ses_ctx(http, moto_ses, "stranger@agentflow.test"),
        )
    assert not isinstance(caught.value, TransientError)
    assert str(caught.value) == (
        "email.send: SES refused the email: MessageRejected: "
        "Email address not verified stranger@agentflow.test"
    )


async def test_a_private_ses_endpoint_is_refused_when_private_networks_are_off(
    moto_ses: str, strict_http: GuardedClient
) -> None:
    with pytest.raises(
        NodeError, match=r"the SES endpoint http://127.0.0.1:.* resolves to 127.0.0.1"
    ):
        await run_node(
            EmailSend,
            {"credential": "ses", "to": "ops@example.com", "subject": "s", "body": "b"},
            _ses_ctx(strict_http, moto_ses, "reports@agentflow.test"),
        )
