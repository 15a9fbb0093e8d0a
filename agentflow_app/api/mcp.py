"""``/api/mcp``: the MCP endpoint (streamable HTTP), authenticated by an API key.

An MCP client sends ``Authorization: Bearer af_…`` (a key made in Settings) with every
request; anything else answers 401 with a ``WWW-Authenticate`` header, before the SDK sees
the request. The account the key belongs to is bound for the request
(:func:`agentflow_app.mcp.server.acting_as`), so the tools listed and run are that
account's own.

The SDK's session manager runs *stateless*, and one is made per request: no MCP session
lives in a web process's memory, so any number of web processes behind a load balancer
serve the same client, and nothing needs the host's lifespan (Reflex does not run a
mounted app's). Progress notifications still reach the client: they ride the SSE stream
of the ``tools/call`` request they belong to.
"""

from __future__ import annotations

import json

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.types import Receive, Scope, Send

from agentflow_app.auth import api_keys as keys
from agentflow_app.auth.tokens import InvalidToken
from agentflow_app.mcp.server import acting_as, build_server
from agentflow_app.routes import API_PREFIX
from agentflow_app.services import api_keys

PATH = f"{API_PREFIX}/mcp"


class McpEndpoint:
    """The ASGI app mounted at :data:`PATH`."""

    def __init__(self) -> None:
        self._server = build_server()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        token = _bearer(scope)
        if token is None or not keys.looks_like_key(token):
            await _unauthorized(
                send, "send Authorization: Bearer <API key>, with a key made in Settings"
            )
            return
        try:
            actor = await api_keys.authenticate_key_in_loop(token)
        except InvalidToken as exc:
            await _unauthorized(send, str(exc), error="invalid_token")
            return
        manager = StreamableHTTPSessionManager(app=self._server, stateless=True)
        with acting_as(actor):
            async with manager.run():
                await manager.handle_request(scope, receive, send)


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


async def _unauthorized(send: Send, message: str, error: str | None = None) -> None:
    challenge = f'Bearer error="{error}"' if error else "Bearer"
    body = json.dumps({"detail": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", challenge.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
