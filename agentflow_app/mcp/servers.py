"""Which MCP server a name in a workflow means, and the administrator's stdio allow-list.

A workflow names MCP servers two ways:

* the name of an ``mcp`` credential: a streamable HTTP endpoint with its headers and
  token, entered by the user and checked by the network guard like any user URL;
* ``stdio:<name>``: a local command that only the administrator can define, in the JSON
  file ``AGENTFLOW_MCP_STDIO_SERVERS`` names. A user never supplies a command, arguments
  or environment; an unknown name is refused by name.

The allow-list file maps names to ``{"command": ..., "args": [...], "env": {...}}``. The
process starts with the SDK's minimal inherited environment (PATH, HOME and the like) plus
the ``env`` given here, so AgentFlow's own keys never reach it; ``env`` may not name an
``AGENTFLOW_*`` variable or one of the secrets AgentFlow reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agentflow_app.engine.node import CredentialProvider
from agentflow_app.errors import AgentFlowError, CredentialError
from agentflow_app.secrets.kinds import McpKind
from agentflow_app.settings import get_settings

STDIO_PREFIX = "stdio:"
#: Variables the operator's stdio servers may never be handed: AgentFlow's own secrets.
_FORBIDDEN_ENV = ("AGENTFLOW_", "DB_URL", "REDIS_URL", "ANTHROPIC_API_KEY", "OPENAI_API_KEY")


class McpError(AgentFlowError):
    """An MCP server could not be used; the message says which and why."""


class StdioEntry(BaseModel):
    """One stdio server of the allow-list file."""

    model_config = ConfigDict(extra="forbid")

    command: str = Field(min_length=1)
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    description: str = ""

    @field_validator("env")
    @classmethod
    def _no_agentflow_secrets(cls, env: dict[str, str]) -> dict[str, str]:
        bad = sorted(k for k in env if k.upper().startswith(_FORBIDDEN_ENV))
        if bad:
            raise ValueError(f"env may not pass AgentFlow's own settings ({', '.join(bad)})")
        return env


@dataclass(frozen=True)
class HttpServer:
    """A streamable HTTP server from an ``mcp`` credential."""

    name: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Header values (the token among them), scrubbed from anything shown."""
        values = [v.removeprefix("Bearer ") for v in self.headers.values()]
        return tuple(v for v in values if len(v) >= 4)


@dataclass(frozen=True)
class StdioServer:
    """A command from the administrator's allow-list."""

    name: str
    command: str
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(v for v in self.env.values() if len(v) >= 8)


Server = HttpServer | StdioServer


def stdio_servers(path: Path | None = None) -> dict[str, StdioEntry]:
    """The allow-list (empty when ``AGENTFLOW_MCP_STDIO_SERVERS`` is unset).

    Read on every use, so an administrator's edit applies without a restart.

    Raises:
        McpError: the file is missing or malformed (the message names the entry).
    """
    path = path if path is not None else get_settings().agentflow_mcp_stdio_servers
    if path is None:
        return {}
    try:
        raw = json.loads(Path(path).read_text())
    except OSError as exc:
        raise McpError(
            f"AGENTFLOW_MCP_STDIO_SERVERS: cannot read {path} ({exc.strerror})"
        ) from None
    except ValueError as exc:
        raise McpError(f"AGENTFLOW_MCP_STDIO_SERVERS: {path} is not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise McpError(f"AGENTFLOW_MCP_STDIO_SERVERS: {path} must hold an object of servers")
    entries: dict[str, StdioEntry] = {}
    for name, value in raw.items():
        try:
            entries[str(name)] = StdioEntry.model_validate(value)
        except ValidationError as exc:
            problem = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors()
            )
            raise McpError(f"AGENTFLOW_MCP_STDIO_SERVERS: server {name!r}: {problem}") from None
    return entries


def stdio_server(name: str) -> StdioServer:
    """The allow-listed stdio server ``name``.

    Raises:
        McpError: it is not in the administrator's allow-list.
    """
    entries = stdio_servers()
    entry = entries.get(name)
    if entry is None:
        known = ", ".join(sorted(entries)) or "none"
        raise McpError(
            f"stdio MCP server {name!r} is not in the administrator's allow-list "
            f"(AGENTFLOW_MCP_STDIO_SERVERS; allowed: {known})"
        )
    return StdioServer(name, entry.command, tuple(entry.args), dict(entry.env))


async def resolve(ref: str, credentials: CredentialProvider) -> Server:
    """The server a workflow's reference names: ``stdio:<name>`` or an ``mcp`` credential.

    Raises:
        McpError: an unknown stdio name, or a credential that is missing, of another kind
            or incomplete.
    """
    if ref.startswith(STDIO_PREFIX):
        return stdio_server(ref.removeprefix(STDIO_PREFIX))
    try:
        value: dict[str, Any] = await credentials.get(ref, ("mcp",))
    except CredentialError as exc:
        raise McpError(str(exc)) from None
    try:
        kind = McpKind.from_stored(value)
    except ValidationError as exc:
        problem = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors()
        )
        raise McpError(f"credential {ref!r} (mcp) is incomplete: {problem}") from None
    return HttpServer(ref, kind.url, kind.request_headers())
