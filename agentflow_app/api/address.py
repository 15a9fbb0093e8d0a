"""The client's address for the audit log, set once per request for everything below.

A pure ASGI middleware rather than a dependency: a dependency's context does not reach
the thread a sync route runs in, while a value set here is inherited by every task and
thread the request starts. The address is the socket peer (``scope["client"]``): the
project has no trusted-proxy setting, so ``X-Forwarded-For`` is not believed; behind a
proxy, run uvicorn with ``--forwarded-allow-ips`` and the peer is the real client.
"""

from __future__ import annotations

from typing import Any

from agentflow_app.services.audit import client_address


class ClientAddressMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        token = client_address.set(str(client[0]) if client else "unknown")
        try:
            await self.app(scope, receive, send)
        finally:
            client_address.reset(token)
