"""Composing an email and handing it to an SMTP server or Amazon SES (blocking calls).

Shared by the ``email.send`` node (a user's credential: the node checks the host with the
address guard first and passes the approved addresses) and ``services.mailer`` (the
server's own settings, which the operator chose: it passes the host name itself). Both
give the server as the credential model of its kind, so an SMTP login or a sender is
checked the same way wherever it comes from. Errors are the libraries' own; each caller
says what they mean for its user.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

import boto3
import botocore.config

from agentflow_app.secrets.kinds import SesKind, SmtpKind

#: An attachment: the stored file's description (``name``, ``media_type``) and its bytes.
Attachment = tuple[dict, bytes]


def compose(
    sender: str,
    to: list[str],
    subject: str,
    body: str,
    html: bool = False,
    files: Sequence[Attachment] = (),
) -> tuple[EmailMessage, str]:
    """The MIME message (with its attachments) and its Message-ID."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    domain = parseaddr(sender)[1].rpartition("@")[2] or None
    message["Message-ID"] = message_id = make_msgid(domain=domain)
    message.set_content(body, subtype="html" if html else "plain")
    for ref, data in files:
        maintype, _, subtype = ref["media_type"].partition("/")
        message.add_attachment(
            data, maintype=maintype, subtype=subtype or "octet-stream", filename=ref["name"]
        )
    return message, message_id


# -- SMTP -----------------------------------------------------------------------------------


class _PinnedSMTP(smtplib.SMTP):
    """smtplib.SMTP that opens its socket to the address it was given (one the guard
    approved, or the host name itself)."""

    def __init__(self, address: str, host: str, port: int, timeout: float) -> None:
        self.pinned_address = address
        super().__init__(host, port, timeout=timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return socket.create_connection((self.pinned_address, port), timeout, self.source_address)


class _PinnedSMTPSSL(smtplib.SMTP_SSL):
    """smtplib.SMTP_SSL to the given address; the certificate is checked for ``host``."""

    def __init__(self, address: str, host: str, port: int, timeout: float) -> None:
        self.pinned_address = address
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        raw = socket.create_connection((self.pinned_address, port), timeout, self.source_address)
        return self.context.wrap_socket(raw, server_hostname=host)


def deliver_smtp(
    server: SmtpKind, addresses: Sequence[str], message: EmailMessage, timeout: float
) -> None:
    """Send ``message`` through ``server``, trying ``addresses`` in turn until one answers.

    Raises:
        smtplib.SMTPException, ssl.SSLError, OSError: as smtplib raises them.
    """
    factory = _PinnedSMTPSSL if server.tls == "ssl" else _PinnedSMTP
    for index, address in enumerate(addresses):
        try:
            smtp = factory(address, server.host, server.port, timeout)
        except ConnectionError:
            if index == len(addresses) - 1:
                raise
            continue  # the next address of the host (IPv4 after IPv6, say)
        with smtp:
            if server.tls == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if server.username:
                smtp.login(server.username, server.password or "")
            smtp.send_message(message)
        return


# -- SES ------------------------------------------------------------------------------------


def deliver_ses(
    cred: SesKind,
    to: list[str],
    subject: str,
    body: str,
    html: bool,
    timeout: float,
    files: Sequence[Attachment] = (),
) -> str:
    """Send one email with SES (once: boto3 does not retry it); returns SES's message id.

    Keys the credential lacks come from boto3's default chain, and without an
    ``endpoint_url`` boto3 honours ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_SES``.

    Raises:
        botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError: as boto3 raises
            them.
    """
    session = boto3.session.Session(
        aws_access_key_id=cred.access_key_id,
        aws_secret_access_key=cred.secret_access_key,
        aws_session_token=cred.session_token,
        region_name=cred.region,
    )
    client = session.client(
        "ses",
        endpoint_url=cred.endpoint_url,
        config=botocore.config.Config(
            connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1}
        ),
    )
    if files:  # attachments need a raw MIME message
        raw = compose(cred.from_address, to, subject, body, html, files)[0].as_bytes()
        return client.send_raw_email(
            Source=cred.from_address, Destinations=to, RawMessage={"Data": raw}
        )["MessageId"]
    return client.send_email(
        Source=cred.from_address,
        Destination={"ToAddresses": to},
        Message={
            "Subject": {"Data": subject, "Charset": "UTF-8"},
            "Body": {("Html" if html else "Text"): {"Data": body, "Charset": "UTF-8"}},
        },
    )["MessageId"]
