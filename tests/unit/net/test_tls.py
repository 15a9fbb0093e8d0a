"""The shared TLS context: it verifies, and a private CA named by SSL_CERT_FILE is trusted
by both kinds of client a run opens (GuardedClient for nodes, the LLM SDKs' clients)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from agentflow_app.net.client import GuardedClient
from tests.fakes.servers import self_signed_certificate

ROOT = Path(__file__).resolve().parents[3]


async def _hello(_request) -> PlainTextResponse:
    return PlainTextResponse("hello over TLS")


APP = Starlette(routes=[Route("/", _hello)])


@pytest.fixture
def https_url(asgi_server: Callable[..., str], tmp_path: Path) -> tuple[str, Path]:
    cert = self_signed_certificate(tmp_path, "127.0.0.1")
    return asgi_server(APP, ssl_certfile=cert.cert_file, ssl_keyfile=cert.key_file), cert.cert_file


async def test_an_unknown_certificate_is_refused_by_default(https_url: tuple[str, Path]) -> None:
    url, _ = https_url
    async with GuardedClient(allow_private=True) as client:
        with pytest.raises(Exception, match="certificate verify failed"):
            await client.request("GET", url)


def test_a_ca_named_by_ssl_cert_file_is_trusted_by_node_and_llm_clients(
    https_url: tuple[str, Path],
) -> None:
    url, cert_file = https_url
    script = textwrap.dedent(
        f"""
        import asyncio

        import anthropic

        from agentflow_app.net import tls
        from agentflow_app.net.client import GuardedClient

        async def main():
            async with GuardedClient(allow_private=True) as client:
                print((await client.request("GET", {url!r})).text)
            async with anthropic.DefaultAsyncHttpxClient(verify=tls.default_context()) as llm:
                print((await llm.get({url!r})).text)

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=os.environ | {"SSL_CERT_FILE": str(cert_file)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["hello over TLS", "hello over TLS"]
