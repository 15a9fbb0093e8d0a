"""Invitations by email (issue 18): with AGENTFLOW_SMTP_URL (a real aiosmtpd server) or
AGENTFLOW_SES_REGION (moto's SES in server mode) the invitee gets the link, and that link
joins; ``emailed`` in the answer says whether it went. Without a mail setting nothing is
sent; a mail server that cannot be reached, or SES refusing the sender, leaves the
invitation standing (its link shown and working), says ``emailed: false`` and logs why."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from fastapi.testclient import TestClient

from agentflow_app.services import mailer
from tests.fakes.servers import self_signed_certificate
from tests.fakes.smtp import SMTP_PASSWORD, SMTP_USER, Inbox, free_port, smtp_server
from tests.helpers.moto import AWS_TEST_ENV, moto_server
from tests.helpers.users import Account, new_account

SENDER = "AgentFlow <invitations@agentflow.test>"
MAILER_LOG = "agentflow_app.services.mailer"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as found:
        yield found


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def no_mail(set_env: Callable[..., None]) -> None:
    set_env(AGENTFLOW_MAIL_FROM=None, AGENTFLOW_SMTP_URL=None, AGENTFLOW_SES_REGION=None)


def _workspace(client: TestClient, owner: Account, name: str) -> int:
    made = client.post("/api/workspaces", json={"name": name}, headers=owner.headers())
    assert made.status_code == 201, made.text
    return made.json()["id"]


def _invite(client: TestClient, owner: Account, workspace_id: int, email: str) -> dict[str, Any]:
    made = client.post(
        f"/api/workspaces/{workspace_id}/invitations",
        json={"email": email, "role": "editor"},
        headers=owner.headers(),
    )
    assert made.status_code == 201, made.text
    return made.json()


def _accept(client: TestClient, who: Account, url: str) -> httpx.Response:
    token = url.rpartition("?token=")[2]
    return client.post(f"/api/invitations/{token}/accept", headers=who.headers())


def _link_in(text: str) -> str:
    [link] = re.findall(r"http\S+/join\?token=\S+", text)
    return link


def test_an_invitation_arrives_by_smtp_and_its_link_joins(
    client: TestClient,
    owner: Account,
    smtp: tuple[Inbox, int],
    set_env: Callable[..., None],
    no_mail: None,
) -> None:
    inbox, port = smtp
    set_env(
        AGENTFLOW_MAIL_FROM=SENDER,
        AGENTFLOW_SMTP_URL=f"smtp://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{port}",
    )
    workspace_id = _workspace(client, owner, "Support team")
    colleague = new_account("colleague")

    made = _invite(client, owner, workspace_id, colleague.email)

    assert made["emailed"] is True
    [(recipients, message)] = inbox.messages
    assert recipients == [colleague.email]
    assert message["To"] == colleague.email
    assert message["From"] == SENDER
    assert message["Subject"] == "Owner invited you to Support team on AgentFlow"
    text = message.get_content()
    assert 'the workspace "Support team"' in text
    assert "with the role editor" in text
    assert f"Owner ({owner.email}) invited you" in text
    assert f"sign in as {colleague.email}" in text
    expires = made["expires_at"][:16].replace("T", " ")
    assert f"expires on {expires} UTC" in text
    assert _link_in(text) == made["url"]

    joined = _accept(client, colleague, _link_in(text))
    assert joined.status_code == 200, joined.text
    assert joined.json()["id"] == workspace_id and joined.json()["role"] == "editor"


def test_an_invitation_goes_through_ses(
    client: TestClient,
    owner: Account,
    moto_url: str,
    set_env: Callable[..., None],
    no_mail: None,
) -> None:
    set_env(**AWS_TEST_ENV, AWS_ENDPOINT_URL=moto_url)
    boto3.client("ses").verify_email_identity(EmailAddress="invitations@agentflow.test")
    set_env(AGENTFLOW_MAIL_FROM=SENDER, AGENTFLOW_SES_REGION="us-east-1")
    workspace_id = _workspace(client, owner, "Sales")
    colleague = new_account("colleague")

    made = _invite(client, owner, workspace_id, colleague.email)

    assert made["emailed"] is True
    sent = httpx.get(f"{moto_url}/moto-api/data.json").json()["ses"]["Message"]
    [message] = [m for m in sent if m["destinations"]["ToAddresses"] == [colleague.email]]
    assert message["source"] == SENDER
    assert message["subject"] == "Owner invited you to Sales on AgentFlow"
    assert _link_in(message["body"]) == made["url"]
    assert _accept(client, colleague, made["url"]).status_code == 200


def test_ses_refusing_the_sender_leaves_the_invitation_and_logs_why(
    client: TestClient,
    owner: Account,
    moto_url: str,
    set_env: Callable[..., None],
    no_mail: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    set_env(**AWS_TEST_ENV, AWS_ENDPOINT_URL=moto_url)
    set_env(AGENTFLOW_MAIL_FROM="stranger@agentflow.test", AGENTFLOW_SES_REGION="us-east-1")
    workspace_id = _workspace(client, owner, "Ops")
    colleague = new_account("colleague")

    with caplog.at_level(logging.WARNING, logger=MAILER_LOG):
        made = _invite(client, owner, workspace_id, colleague.email)

    assert made["emailed"] is False
    [record] = [r for r in caplog.records if r.name == MAILER_LOG]
    assert record.getMessage().startswith(
        f"could not email {colleague.email} through Amazon SES in us-east-1: "
    )
    assert "MessageRejected" in record.getMessage()
    assert _accept(client, colleague, made["url"]).status_code == 200


def test_without_a_mail_setting_nothing_is_emailed(
    client: TestClient, owner: Account, no_mail: None, caplog: pytest.LogCaptureFixture
) -> None:
    workspace_id = _workspace(client, owner, "Quiet")
    colleague = new_account("colleague")

    with caplog.at_level(logging.INFO, logger=MAILER_LOG):
        made = _invite(client, owner, workspace_id, colleague.email)

    assert made["emailed"] is False
    assert [r for r in caplog.records if r.name == MAILER_LOG] == []
    assert _accept(client, colleague, made["url"]).status_code == 200


def test_an_unreachable_smtp_server_leaves_the_invitation_and_logs_why(
    client: TestClient,
    owner: Account,
    set_env: Callable[..., None],
    no_mail: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()  # nothing listens there
    set_env(AGENTFLOW_MAIL_FROM=SENDER, AGENTFLOW_SMTP_URL=f"smtp://127.0.0.1:{port}")
    workspace_id = _workspace(client, owner, "Unlucky")
    colleague = new_account("colleague")

    with caplog.at_level(logging.WARNING, logger=MAILER_LOG):
        made = _invite(client, owner, workspace_id, colleague.email)

    assert made["emailed"] is False
    [record] = [r for r in caplog.records if r.name == MAILER_LOG]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        f"could not email {colleague.email} through the SMTP server 127.0.0.1:{port}: "
        "ConnectionRefusedError: [Errno 111] Connection refused"
    )
    pending = client.get(f"/api/workspaces/{workspace_id}/invitations", headers=owner.headers())
    assert [i["email"] for i in pending.json()] == [colleague.email]
    assert _accept(client, colleague, made["url"]).status_code == 200


@pytest.mark.parametrize(
    ("tls", "url"),
    [
        ("starttls", "smtp://mailer:s3cret@127.0.0.1:{port}?starttls=true"),
        ("ssl", "smtps://mailer:s3cret@127.0.0.1:{port}"),
    ],
)
def test_the_servers_mail_over_tls_verifies_the_certificate(
    tmp_path: Path, set_env: Callable[..., None], no_mail: None, tls: str, url: str
) -> None:
    """The two TLS forms of AGENTFLOW_SMTP_URL: an untrusted certificate stops the email
    (the login is never sent in clear: the STARTTLS server takes none before TLS)."""
    cert = self_signed_certificate(tmp_path, "127.0.0.1")
    with smtp_server(tls, cert.server_context()) as (inbox, port):
        set_env(AGENTFLOW_MAIL_FROM=SENDER, AGENTFLOW_SMTP_URL=url.format(port=port))
        assert mailer.send("ada@example.com", "Hello", "Body") is False
        assert inbox.messages == []

        set_env(SSL_CERT_FILE=str(cert.cert_file))  # as an operator trusting a private CA
        assert mailer.send("ada@example.com", "Hello", "Body") is True
        [(recipients, message)] = inbox.messages
        assert recipients == ["ada@example.com"] and message["Subject"] == "Hello"
