"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it accepts, for the
``email.send`` node and the server's own invitation mail."""

from __future__ import annotations

import contextlib
import email
import socket
import ssl
import threading
from collections.abc import Iterator
from email.message import Message
from email.policy import default as default_policy
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

SMTP_USER, SMTP_PASSWORD = "mailer", "s3cret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.original_content, policy=default_policy)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    """Accept the login ``SMTP_USER`` / ``SMTP_PASSWORD`` only."""
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        SMTP_USER.encode(),
        SMTP_PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535


@contextlib.contextmanager
def smtp_server(
    tls: Literal["none", "starttls", "ssl"] = "none", context: ssl.SSLContext | None = None
) -> Iterator[tuple[Inbox, int]]:
    """An SMTP server taking :func:`authenticate`'s login; yields its inbox and port.

    ``starttls`` offers STARTTLS with ``context`` and takes no login before it; ``ssl`` is
    TLS from the first byte.
    """
    inbox = Inbox()
    port = free_port()
    options: dict[str, Any] = {"auth_require_tls": False}
    if tls == "starttls":
        options = {"tls_context": context, "require_starttls": True}
    elif tls == "ssl":  # aiosmtpd only counts STARTTLS as TLS; this whole connection is TLS
        options = {"ssl_context": context, "auth_require_tls": False}
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, authenticator=authenticate, **options
    )
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A mail host that takes connections and never says a word (a firewall that drops
    replies, a stuck relay): a client waits for its greeting until its own timeout.
    Yields the port."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def hold() -> None:
        with contextlib.suppress(OSError):  # closed: the test is over
            while True:
                held.append(listener.accept()[0])

    threading.Thread(target=hold, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() above
        listener.close()
        for connection in held:
            connection.close()
