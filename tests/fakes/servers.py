"""Run any ASGI app on 127.0.0.1 in a background thread, for tests that need a real socket.

Fakes of outside services (Slack, HubSpot, the LLM APIs) are ASGI apps; the code under test
talks to them over real HTTP through its real clients, pointed at the returned base URL.

    with serve_asgi(app) as base_url:
        ...

or, in a test, the ``asgi_server`` fixture: ``base_url = asgi_server(app)`` (stopped at
teardown). Import the fixture into a ``conftest.py`` to use it. For HTTPS (or SMTP over
TLS), :func:`self_signed_certificate` makes a certificate and the matching contexts.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

START_TIMEOUT_S = 20.0


@contextmanager
def serve_asgi(
    app: Any,
    *,
    ssl_certfile: str | Path | None = None,
    ssl_keyfile: str | Path | None = None,
    lifespan: str = "off",
) -> Iterator[str]:
    """Serve ``app`` on a free port of 127.0.0.1 until the block ends.

    Args:
        app: any ASGI application.
        ssl_certfile, ssl_keyfile: serve HTTPS with this certificate (PEM files).
        lifespan: ``"on"`` for an app that starts something in its lifespan (an MCP
            SDK server's session manager).

    Yields:
        The base URL, e.g. ``http://127.0.0.1:43117`` (``https://`` with a certificate).
    """
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan=lifespan,
        access_log=False,
        ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
        ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="asgi-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the test server for {app!r} did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    scheme = "https" if ssl_certfile else "http"
    try:
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT_S)


@pytest.fixture
def asgi_server() -> Iterator[Callable[..., str]]:
    """A factory: ``asgi_server(app, **serve_asgi_kwargs)`` → base URL, stopped at teardown."""
    with ExitStack() as stack:
        yield lambda app, **kwargs: stack.enter_context(serve_asgi(app, **kwargs))


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate on disk, and a client context that trusts only it."""

    cert_file: Path
    key_file: Path

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert_file))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def self_signed_certificate(directory: Path, *names: str) -> Certificate:
    """A certificate valid for an hour for ``names`` (host names or IP addresses)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    alternatives: list[x509.GeneralName] = []
    for name in names:
        try:
            alternatives.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternatives.append(x509.DNSName(name))
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(cert_file, key_file)
