"""The MCP client against real SDK servers: the guard, the caps, stdio, the Test button.

Every request goes over loopback to a server built with the SDK's own ``MCPServer``; the
``mcp.tool`` node runs the way the runner runs it (config validated, templates rendered).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from agentflow_app.engine.errors import NodeError
from agentflow_app.mcp.client import open_session
from agentflow_app.mcp.servers import HttpServer, McpError
from agentflow_app.net.client import GuardedClient
from agentflow_app.nodes.mcp import McpTool
from agentflow_app.secrets.checks import check
from tests.fakes.mcp_server import McpFake, directory_server, serve_mcp
from tests.helpers.node_context import node_context, run_node

STDIO_SERVER = Path(__file__).resolve().parents[2] / "fakes" / "mcp_stdio_server.py"


def _ssrf_corpus(port: int) -> list[str]:
    """URLs that all lead to the loopback fake (or other private places) in some disguise."""
    return [
        f"http://127.0.0.1:{port}/mcp",
        f"http://localhost:{port}/mcp",
        f"http://0x7f000001:{port}/mcp",
        f"http://2130706433:{port}/mcp",
        f"http://127.1:{port}/mcp",
        f"http://0177.0.0.1:{port}/mcp",
        f"http://[::1]:{port}/mcp",
        f"http://[::ffff:127.0.0.1]:{port}/mcp",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/mcp",
        "http://192.168.1.1/mcp",
        "http://100.100.100.200/mcp",
        "http://[fd00:ec2::254]/mcp",
    ]


async def test_every_private_address_form_is_refused_before_any_request(
    directory: McpFake, set_env
) -> None:
    set_env(AGENTFLOW_ALLOW_PRIVATE_NETWORK="false")
    port = int(directory.url.rsplit(":", 1)[1].split("/")[0])
    seen_before = len(directory.authorizations)
    for url in _ssrf_corpus(port):
        with pytest.raises(McpError) as refused:
            async with open_session(HttpServer("corp", url), allow_private=False, timeout_s=5):
                pass
        message = str(refused.value)
        # Octal 0177.0.0.1 is refused earlier still: httpx will not even parse it.
        assert "resolves to" in message or "the URL is not valid" in message, url
    assert len(directory.authorizations) == seen_before, "a refused URL reached the server"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/mcp", "gopher://x/"])
async def test_other_schemes_are_refused(url: str) -> None:
    with pytest.raises(McpError, match="scheme"):
        async with open_session(HttpServer("odd", url), allow_private=True, timeout_s=5):
            pass


async def test_a_redirect_off_the_server_is_not_followed(asgi_server, directory: McpFake) -> None:
    from starlette.applications import Starlette
    from starlette.responses import RedirectResponse
    from starlette.routing import Route

    async def away(request):  # to the same fake under another host name: another origin
        target = directory.url.replace("127.0.0.1", "localhost")
        return RedirectResponse(target, status_code=307)

    base = asgi_server(Starlette(routes=[Route("/mcp", away, methods=["GET", "POST", "DELETE"])]))
    seen_before = len(directory.authorizations)
    with pytest.raises(McpError, match="not followed"):
        async with open_session(
            HttpServer("hop", f"{base}/mcp", {"Authorization": "Bearer hop-token-1234"}),
            allow_private=True,
            timeout_s=5,
        ):
            pass
    assert len(directory.authorizations) == seen_before, "the token followed the redirect"


async def test_the_node_calls_one_tool_with_templated_arguments(
    directory: McpFake, set_env
) -> None:
    set_env(AGENTFLOW_ALLOW_PRIVATE_NETWORK="true")
    credentials = {"dir": ("mcp", {"url": directory.url, "token": "dir-token-0123456789"})}
    async with GuardedClient(allow_private=True) as http:
        ctx = node_context(http=http, credentials=credentials, inputs={"company": "Acme"})
        output = await run_node(
            McpTool,
            {
                "credential": "dir",
                "tool": "lookup_company",
                "arguments": {"name": "{{ inputs.company }}"},
            },
            ctx,
        )

    assert output["data"] == {"name": "Acme", "employees": 42, "city": "Oslo"}
    assert json.loads(output["text"]) == output["data"]
    assert output["truncated"] is False
    assert directory.calls[-1] == ("lookup_company", {"name": "Acme"})
    assert directory.authorizations[-1] == "Bearer dir-token-0123456789"


async def test_a_result_over_the_cap_is_truncated_and_marked(trouble: McpFake, set_env) -> None:
    set_env(AGENTFLOW_ALLOW_PRIVATE_NETWORK="true")
    async with GuardedClient(allow_private=True) as http:
        ctx = node_context(http=http, credentials={"t": ("mcp", {"url": trouble.url})})
        output = await run_node(McpTool, {"credential": "t", "tool": "big"}, ctx)

    assert output["truncated"] is True
    assert output["text"].endswith("… (cut at 1024 KiB; the whole text was 1536 KiB)")
    assert len(json.dumps(output).encode()) <= 1024 * 1024


async def test_a_server_that_hangs_ends_the_step_at_its_timeout(trouble: McpFake, set_env) -> None:
    set_env(AGENTFLOW_ALLOW_PRIVATE_NETWORK="true")
    async with GuardedClient(allow_private=True) as http:
        ctx = node_context(http=http, credentials={"t": ("mcp", {"url": trouble.url})})
        started = time.monotonic()
        with pytest.raises(NodeError) as failed:
            await run_node(McpTool, {"credential": "t", "tool": "hang", "timeout_s": 1}, ctx)
        elapsed = time.monotonic() - started

    assert "did not answer within 1 s (calling tool 'hang')" in str(failed.value)
    assert elapsed < 10, "a guard against a hang, not a measurement"


async def test_a_tool_error_fails_the_node_with_the_tools_reason(trouble: McpFake, set_env) -> None:
    set_env(AGENTFLOW_ALLOW_PRIVATE_NETWORK="true")
    async with GuardedClient(allow_private=True) as http:
        ctx = node_context(http=http, credentials={"t": ("mcp", {"url": trouble.url})})
        with pytest.raises(NodeError, match="the directory refused: closed on Sundays"):
            await run_node(
                McpTool,
                {"credential": "t", "tool": "fail", "arguments": {"reason": "closed on Sundays"}},
                ctx,
            )


async def test_an_allowed_stdio_server_runs_without_agentflow_variables(tmp_path, set_env) -> None:
    allow_list = tmp_path / "stdio.json"
    allow_list.write_text(
        json.dumps(
            {
                "env-probe": {
                    "command": sys.executable,
                    "args": [str(STDIO_SERVER)],
                    "env": {"PROBE": "1"},
                }
            }
        )
    )
    set_env(
        AGENTFLOW_MCP_STDIO_SERVERS=str(allow_list),
        AGENTFLOW_SECRET_KEY="must-not-leak-0123456789",
        AGENTFLOW_ENCRYPTION_KEYS="must-not-leak-either",
    )
    async with GuardedClient(allow_private=False) as http:
        ctx = node_context(http=http)
        output = await run_node(
            McpTool, {"credential": "stdio:env-probe", "tool": "environment"}, ctx
        )
        with pytest.raises(NodeError, match="stdio MCP server 'shell' is not in the administrator"):
            await run_node(McpTool, {"credential": "stdio:shell", "tool": "environment"}, ctx)

    names = output["data"]["result"]
    assert "PROBE" in names
    assert [n for n in names if n.startswith("AGENTFLOW_")] == []
    assert not {"DB_URL", "REDIS_URL", "ANTHROPIC_API_KEY", "OPENAI_API_KEY"} & set(names)


async def test_the_credential_test_lists_the_tools(directory: McpFake, set_env) -> None:
    set_env(AGENTFLOW_ALLOW_PRIVATE_NETWORK="true")
    result = await check("mcp", {"url": directory.url, "token": "dir-token-0123456789"})
    assert result.ok, result.message
    assert result.message == "the server answered with 2 tools: lookup_company, add"

    set_env(AGENTFLOW_ALLOW_PRIVATE_NETWORK="false")
    refused = await check("mcp", {"url": directory.url})
    assert not refused.ok and "a loopback address" in refused.message


async def test_a_tool_removed_after_the_listing_answers_an_error_not_a_crash() -> None:
    with serve_mcp(directory_server) as changing:
        async with open_session(
            HttpServer("dir", changing.url), allow_private=True, timeout_s=5
        ) as session:
            listed = [tool.name for tool in await session.list_tools()]
            changing.server.remove_tool("add")
            result = await session.call_tool("add", {"a": 1, "b": 2})

    assert listed == ["lookup_company", "add"]
    assert result.is_error and "add" in result.text
    assert changing.calls == []
