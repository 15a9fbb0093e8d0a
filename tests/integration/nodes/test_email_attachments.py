"""``email.send`` attachments: the files of the run arrive attached, byte for byte, with
their names and types, over SMTP (a real aiosmtpd server) and SES (raw, moto's server)."""

from __future__ import annotations

import email
import socket
from collections.abc import Iterator
from email.message import Message
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from aiosmtpd.controller import Controller
from moto.server import ThreadedMotoServer

from agentflow_app.engine.errors import NodeError
from agentflow_app.net.client import GuardedClient
from agentflow_app.nodes.email import EmailSend
from agentflow_app.services import files
from agentflow_app.services.files import DbFileHost
from tests.helpers.node_context import node_context, run_node
from tests.helpers.stack import Stack
from tests.helpers.users import Account, new_account

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
PDF = (SAMPLES / "invoice.pdf").read_bytes()
CSV = (SAMPLES / "leads.csv").read_bytes()


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            email.message_from_bytes(envelope.original_content, policy=default_policy)
        )
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def owner(module_stack: Stack) -> Account:
    return new_account("mailer")


def _attached(message: Message) -> list[tuple[str, str, bytes]]:
    return [
        (part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
        for part in message.iter_attachments()
    ]


def _config(**extra: Any) -> dict[str, Any]:
    return {
        "credential": "mail",
        "to": "ops@example.com",
        "subject": "The invoice",
        "body": "Attached.",
        "attachments": ["{{ inputs.pdf }}", "{{ inputs.sheets }}"],
        **extra,
    }


async def test_smtp_attaches_the_files(http: GuardedClient, owner: Account, smtp) -> None:
    inbox, port = smtp
    pdf = files.store_file(owner.actor.id, "invoice.pdf", None, [PDF]).as_json()
    csv = files.store_file(owner.actor.id, "leads.csv", None, [CSV]).as_json()
    smtp_fields = {"host": "127.0.0.1", "port": port, "tls": "none", "from": "robot@agentflow.test"}
    ctx = node_context(
        http=http,
        credentials={"mail": ("smtp", smtp_fields)},
        inputs={"pdf": pdf, "sheets": [csv]},
        services={"files": DbFileHost(None, owner.actor.id)},
    )
    await run_node(EmailSend, _config(), ctx)
    [message] = inbox.messages
    assert message.get_body(("plain",)).get_content().strip() == "Attached."
    assert _attached(message) == [
        ("invoice.pdf", "application/pdf", PDF),
        ("leads.csv", "text/csv", CSV),
    ]
    with pytest.raises(NodeError, match=r"attachments\[0\] is not a file"):
        await run_node(EmailSend, _config(attachments=["not a file"]), ctx)


@pytest.fixture(scope="module")
def moto_ses() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


async def test_ses_sends_a_raw_message_with_the_files(
    http: GuardedClient, owner: Account, moto_ses: str
) -> None:
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    boto3.client(
        "ses", region_name="us-east-1", endpoint_url=moto_ses, **keys
    ).verify_email_identity(EmailAddress="reports@agentflow.test")
    pdf = files.store_file(owner.actor.id, "invoice.pdf", None, [PDF]).as_json()
    fields = {
        "region": "us-east-1",
        "from": "reports@agentflow.test",
        "endpoint_url": moto_ses,
        "access_key_id": "testing",
        "secret_access_key": "testing",
    }
    ctx = node_context(
        http=http,
        credentials={"mail": ("ses", fields)},
        inputs={"pdf": pdf, "sheets": []},
        services={"files": DbFileHost(None, owner.actor.id)},
    )
    out = await run_node(EmailSend, _config(), ctx)
    sent = httpx.get(f"{moto_ses}/moto-api/data.json").json()["ses"]
    raw = next(m for kind in sent.values() for m in kind if m.get("id") == out["message_id"])
    message = email.message_from_string(raw["raw_data"], policy=default_policy)
    assert _attached(message) == [("invoice.pdf", "application/pdf", PDF)]
