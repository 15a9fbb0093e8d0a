"""Which server a workflow's reference means; the administrator's stdio allow-list file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentflow_app.mcp.servers import HttpServer, McpError, resolve, stdio_server, stdio_servers
from agentflow_app.nodes.credentials import StaticCredentials


def _allow_list(tmp_path: Path, servers: object) -> Path:
    path = tmp_path / "stdio.json"
    path.write_text(json.dumps(servers))
    return path


def test_a_stdio_server_not_in_the_allow_list_is_refused_by_name(tmp_path, set_env) -> None:
    path = _allow_list(tmp_path, {"files": {"command": "/usr/bin/true"}})
    set_env(AGENTFLOW_MCP_STDIO_SERVERS=str(path))

    with pytest.raises(McpError) as refused:
        stdio_server("shell")

    assert str(refused.value) == (
        "stdio MCP server 'shell' is not in the administrator's allow-list "
        "(AGENTFLOW_MCP_STDIO_SERVERS; allowed: files)"
    )
    assert stdio_server("files").command == "/usr/bin/true"


def test_without_an_allow_list_no_stdio_server_runs(set_env) -> None:
    set_env(AGENTFLOW_MCP_STDIO_SERVERS=None)
    with pytest.raises(McpError, match=r"'files' is not in .* allowed: none"):
        stdio_server("files")


def test_the_allow_list_may_not_hand_agentflow_settings_to_a_server(tmp_path) -> None:
    path = _allow_list(
        tmp_path, {"leaky": {"command": "x", "env": {"AGENTFLOW_SECRET_KEY": "s", "OK": "1"}}}
    )
    with pytest.raises(McpError, match=r"server 'leaky': env: .*AGENTFLOW_SECRET_KEY"):
        stdio_servers(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1, 2]", "must hold an object of servers"),
        ("{not json", "is not JSON"),
        ('{"s": {"args": []}}', "server 's': command: Field required"),
        ('{"s": {"command": "x", "shell": true}}', "server 's': shell: Extra inputs"),
    ],
)
def test_a_broken_allow_list_names_what_is_wrong(tmp_path, content: str, message: str) -> None:
    path = tmp_path / "stdio.json"
    path.write_text(content)
    with pytest.raises(McpError, match=message):
        stdio_servers(path)


async def test_a_credential_reference_becomes_an_http_server_with_its_headers() -> None:
    vault = StaticCredentials(
        {
            "tools": (
                "mcp",
                {
                    "url": "https://mcp.example.com/mcp",
                    "token": "tok-123456",
                    "headers": {"X-Team": "team-key-777"},
                },
            ),
            "slack": ("slack", {"token": "xoxb-1"}),
        }
    )

    server = await resolve("tools", vault)

    assert server == HttpServer(
        "tools",
        "https://mcp.example.com/mcp",
        {"X-Team": "team-key-777", "Authorization": "Bearer tok-123456"},
    )
    assert set(server.secrets) == {"team-key-777", "tok-123456"}
    with pytest.raises(McpError, match="'slack' is a slack credential; this needs mcp"):
        await resolve("slack", vault)
    with pytest.raises(McpError, match="no credential named 'nope'"):
        await resolve("nope", vault)
