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
from tests.fakes.llm import FakeLLM, Reply
from tests.fakes.servers import Certificate, self_signed_certificate
from tests.helpers.suite import ROOT


async def _hello(_request) -> PlainTextResponse:
    return PlainTextResponse("hello over TLS")


APP = Starlette(routes=[Route("/", _hello)])


@pytest.fixture
def https_url(asgi_server: Callable[..., str], tmp_path: Path) -> tuple[str, Certificate]:
    cert = self_signed_certificate(tmp_path, "127.0.0.1")
    return asgi_server(APP, ssl_certfile=cert.cert_file, ssl_keyfile=cert.key_file), cert


async def test_an_unknown_certificate_is_refused_by_default(
    https_url: tuple[str, Certificate],
) -> None:
    url, _ = https_url
    async with GuardedClient(allow_private=True) as client:
        with pytest.raises(Exception, match="certificate verify failed"):
            await client.request("GET", url)


def test_a_ca_named_by_ssl_cert_file_is_trusted_by_node_and_llm_clients(
    asgi_server: Callable[..., str], https_url: tuple[str, Certificate]
) -> None:
    """In a fresh process with SSL_CERT_FILE naming a private CA: a node's GuardedClient
    reaches a server it signed, and so does an LLM step's model from ``chat_model``."""
    url, cert = https_url
    fake = FakeLLM()
    fake.script(Reply.say("hello from the model"))
    llm_url = asgi_server(fake.app, ssl_certfile=cert.cert_file, ssl_keyfile=cert.key_file)
    script = textwrap.dedent(
        f"""
        import asyncio

        from agentflow_app.llm.providers import chat_model
        from agentflow_app.net.client import GuardedClient
        from agentflow_app.nodes.credentials import StaticCredentials
        from agentflow_app.settings import get_settings

        async def main():
            async with GuardedClient(allow_private=True) as client:
                print((await client.request("GET", {url!r})).text)
            call = await chat_model(
                "anthropic", "claude-haiku-4-5", credential=None,
                credentials=StaticCredentials({{}}), settings=get_settings(),
            )
            print((await call.model.ainvoke("Hi")).text)

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=os.environ
        | {
            "SSL_CERT_FILE": str(cert.cert_file),
            "ANTHROPIC_BASE_URL": llm_url,
            "ANTHROPIC_API_KEY": "sk-ant-tls-test",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["hello over TLS", "hello from the model"]
    assert [r.path for r in fake.requests] == ["/v1/messages"]
