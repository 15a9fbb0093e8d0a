"""``email.send`` and the agent tool ``email_send``: SMTP (smtplib) or Amazon SES (boto3).

Both libraries block, so they run in a worker thread; the transport itself is
:mod:`agentflow_app.net.mail`, shared with the server's own mail. The SMTP host comes from
a credential the user typed, so it goes through the same address guard as URLs and the
socket is opened to the address that was checked; TLS still verifies the host name. The
SES endpoint (only set for tests or private endpoints) is checked before boto3 connects to
it by name. Sending twice sends two emails, so a step in flight when its worker died is not
repeated (SPEC §7).
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Sequence
from email.utils import parseaddr
from typing import Any, ClassVar, Literal

import botocore.exceptions
from pydantic import BaseModel, Field

from agentflow_app.engine.errors import NodeError, TransientError
from agentflow_app.engine.node import Node, NodeConfig, RunContext, TemplateStr, Tool
from agentflow_app.files.refs import is_ref
from agentflow_app.net import mail
from agentflow_app.net.guard import BlockedAddress, NetError, check_url, describe_block
from agentflow_app.nodes.credentials import load_credential
from agentflow_app.nodes.remote import as_text
from agentflow_app.secrets.kinds import SesKind, SmtpKind

MAX_RECIPIENTS = 50
EMAIL_KINDS = ("smtp", "ses")
_SES_TRANSIENT = frozenset(
    {"Throttling", "ThrottlingException", "ServiceUnavailable", "InternalFailure", "RequestTimeout"}
)


def recipients(where: str, value: Any) -> list[str]:
    """The addresses in ``to``: a list, or text separated by commas or semicolons."""
    items = value if isinstance(value, list) else as_text(value).replace(";", ",").split(",")
    found = [as_text(item).strip() for item in items if as_text(item).strip()]
    if not found:
        raise NodeError(f"{where}: there is no recipient (to is empty)")
    if len(found) > MAX_RECIPIENTS:
        raise NodeError(f"{where}: {len(found)} recipients; at most {MAX_RECIPIENTS} per email")
    for item in found:
        _, address = parseaddr(item)
        if "@" not in address or any(ch in item for ch in "\r\n"):
            raise NodeError(f"{where}: {item!r} is not an email address")
    return found


async def send_email(
    ctx: RunContext,
    where: str,
    credential: str | None,
    *,
    to: Any,
    subject: Any,
    body: Any,
    html: bool = False,
    timeout_s: float = 60.0,
    attachments: Sequence[Any] = (),
) -> dict[str, str]:
    """Send one email with an SMTP or SES credential; returns ``{message_id}``.

    ``attachments`` are file references (rendered templates; a list counts as its files),
    read through the run's file host and attached with their names and types.

    Raises:
        NodeError: bad addresses, refused login or message, refused host.
        TransientError: the server is unreachable, busy or rate limiting.
    """
    cred = await load_credential(ctx, where, credential, EMAIL_KINDS)
    to_list = recipients(where, to)
    subject_text = " ".join(as_text(subject).split())
    body_text = as_text(body)
    files = await _attachments(ctx, where, attachments)
    if isinstance(cred, SmtpKind):
        return await _send_smtp(
            ctx, where, cred, to_list, subject_text, body_text, html, timeout_s, files
        )
    assert isinstance(cred, SesKind)
    return await _send_ses(
        ctx, where, cred, to_list, subject_text, body_text, html, timeout_s, files
    )


#: The most an email's attachments may weigh together (SES refuses raw messages past 10 MB).
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024


async def _attachments(
    ctx: RunContext, where: str, values: Sequence[Any]
) -> list[tuple[dict, bytes]]:
    refs = [item for value in values for item in (value if isinstance(value, list) else [value])]
    if not refs:
        return []
    host = ctx.services.get("files")
    if host is None:
        raise NodeError(f"{where}: attachments need the file store, which this run lacks")
    files: list[tuple[dict, bytes]] = []
    total = 0
    for index, ref in enumerate(refs):
        if not is_ref(ref):
            raise NodeError(f"{where}: attachments[{index}] is not a file")
        stored, data = await host.read(ref, limit=MAX_ATTACHMENT_BYTES)
        total += len(data)
        if total > MAX_ATTACHMENT_BYTES:
            raise NodeError(f"{where}: the attachments are over 10 MiB together")
        files.append((stored, data))
    return files


# -- SMTP -----------------------------------------------------------------------------------


async def _send_smtp(
    ctx: RunContext,
    where: str,
    cred: SmtpKind,
    to: list[str],
    subject: str,
    body: str,
    html: bool,
    timeout_s: float,
    files: list[tuple[dict, bytes]],
) -> dict[str, str]:
    try:
        addresses = await ctx.http.guard.resolve(cred.host, cred.port)
    except BlockedAddress as exc:
        subject_line = f"the SMTP host {cred.host}"
        raise NodeError(
            f"{where}: {describe_block(subject_line, exc.address, exc.reason)}"
        ) from None
    except NetError as exc:
        raise NodeError(f"{where}: {exc}") from None

    message, message_id = mail.compose(cred.from_address, to, subject, body, html, files)

    server = f"SMTP server {cred.host}:{cred.port}"
    try:
        await asyncio.to_thread(
            mail.deliver_smtp, cred, [str(a) for a in addresses], message, timeout_s
        )
    except smtplib.SMTPAuthenticationError as exc:
        raise NodeError(
            f"{where}: the {server} refused the login of {cred.username!r} ({_smtp_reply(exc)})"
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        refused = ", ".join(sorted(exc.recipients))
        raise NodeError(f"{where}: the {server} refused the recipients {refused}") from None
    except smtplib.SMTPNotSupportedError as exc:
        raise NodeError(f"{where}: the {server} does not support this: {exc}") from None
    except smtplib.SMTPResponseException as exc:
        text = f"{where}: the {server} answered {_smtp_reply(exc)}"
        if 400 <= exc.smtp_code < 500:
            raise TransientError(text) from None
        raise NodeError(text) from None
    except ssl.SSLError as exc:
        raise NodeError(f"{where}: TLS with the {server} failed: {exc.reason or exc}") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise TransientError(f"{where}: could not talk to the {server}: {exc}") from None
    return {"message_id": message_id}


def _smtp_reply(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else ""
    return f"{exc.smtp_code} {text}".strip()


# -- SES ------------------------------------------------------------------------------------


async def _send_ses(
    ctx: RunContext,
    where: str,
    cred: SesKind,
    to: list[str],
    subject: str,
    body: str,
    html: bool,
    timeout_s: float,
    files: list[tuple[dict, bytes]],
) -> dict[str, str]:
    if cred.endpoint_url:
        try:
            endpoint = check_url(cred.endpoint_url)
            await ctx.http.guard.resolve(endpoint.host, endpoint.port or 443)
        except BlockedAddress as exc:
            shown = f"the SES endpoint {cred.endpoint_url}"
            raise NodeError(f"{where}: {describe_block(shown, exc.address, exc.reason)}") from None
        except NetError as exc:
            raise NodeError(f"{where}: SES endpoint: {exc}") from None
    try:
        message_id = await asyncio.to_thread(
            mail.deliver_ses, cred, to, subject, body, html, timeout_s, files
        )
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "Error")
        text = f"{where}: SES refused the email: {code}: {error.get('Message', '')}".rstrip(": ")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
        if code in _SES_TRANSIENT or status >= 500:
            raise TransientError(text) from None
        raise NodeError(text) from None
    except botocore.exceptions.NoCredentialsError:
        raise NodeError(
            f"{where}: no AWS credentials: add access keys to the SES credential or give the "
            "worker an AWS role"
        ) from None
    except (
        botocore.exceptions.EndpointConnectionError,
        botocore.exceptions.ConnectTimeoutError,
        botocore.exceptions.ReadTimeoutError,
    ) as exc:
        raise TransientError(f"{where}: could not reach SES: {exc}") from None
    except botocore.exceptions.BotoCoreError as exc:
        raise NodeError(f"{where}: SES: {exc}") from None
    return {"message_id": message_id}


# -- node and tool --------------------------------------------------------------------------


class EmailSend(Node):
    type = "email.send"
    label = "Send email"
    icon = "mail"
    category = "Integrations"
    description = "Sends an email through an SMTP server or Amazon SES."
    side_effects = True
    idempotent = False

    class Config(NodeConfig):
        credential: str = Field(
            description="SMTP or SES credential",
            json_schema_extra={"credential_kinds": list(EMAIL_KINDS)},
        )
        to: TemplateStr = Field(description="Recipients, separated by commas")
        subject: TemplateStr = Field(description="Subject line; templates allowed")
        body: TemplateStr = Field(
            description="Message body; templates allowed", json_schema_extra={"widget": "textarea"}
        )
        format: Literal["text", "html"] = Field(default="text", description="Body format")
        attachments: list[TemplateStr] = Field(
            default_factory=list,
            description="Files to attach, e.g. {{ nodes.report.output.file }}",
        )

    async def run(self, ctx: RunContext, config: Config) -> dict[str, str]:
        return await send_email(
            ctx,
            self.type,
            config.credential,
            to=config.to,
            subject=config.subject,
            body=config.body,
            html=config.format == "html",
            timeout_s=config.timeout_s,
            attachments=config.attachments,
        )


class EmailSendTool(Tool):
    """Sends an email with the credential the agent node names for this tool."""

    id = "email_send"
    label = "Send email"
    description = "Send a plain-text email. Returns {message_id}."
    side_effects = True
    credential_kinds: ClassVar[tuple[str, ...]] = EMAIL_KINDS

    class Args(BaseModel):
        to: list[str] = Field(min_length=1, description="Recipient email addresses")
        subject: str = Field(description="Subject line")
        body: str = Field(description="Plain-text body")

    async def run(self, ctx: RunContext, args: Args) -> dict[str, str]:
        credential = ctx.services.get("tool_credentials", {}).get(self.id)
        return await send_email(
            ctx, self.id, credential, to=args.to, subject=args.subject, body=args.body
        )
