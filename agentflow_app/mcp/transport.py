"""The MCP SDK's HTTP client with AgentFlow's SSRF guard underneath (SPEC §11).

The SDK speaks HTTP through ``httpx2``, not the ``httpx`` our
:class:`~agentflow_app.net.client.GuardedClient` wraps, so the same trick is applied to
it: the connection pool gets a network backend that resolves each host itself, checks
every address with :class:`~agentflow_app.net.guard.AddressGuard` and connects to exactly
the address it checked (no DNS-rebinding window). Every connection the SDK opens (the
first POST, a same-origin redirect it follows, the GET stream) goes through it. The SDK
itself follows a redirect only while it stays on the endpoint's origin and otherwise
fails the message naming the location, so credentials never follow a redirect elsewhere.

Responses are read up to :data:`MAX_WIRE_BYTES` each, so a server that streams without
end cannot fill the worker's memory; environment proxies are ignored (``trust_env``
off), since a proxy would make the connection decisions instead of the guard.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpcore2
import httpx2

from agentflow_app.net import tls
from agentflow_app.net.client import guarded_backend
from agentflow_app.net.guard import AddressGuard, check_url

#: The most one HTTP response from an MCP server may carry: far above the 1 MiB a result
#: keeps (so an oversized result arrives whole and is cut and marked), far below harm.
MAX_WIRE_BYTES = 16 * 1024 * 1024


class ResponseTooLarge(httpx2.TransportError):
    """A response went past :data:`MAX_WIRE_BYTES`."""


class _CappedStream(httpx2.AsyncByteStream):
    def __init__(self, inner: httpx2.AsyncByteStream, url: httpx2.URL) -> None:
        self._inner, self._url = inner, url

    async def __aiter__(self) -> AsyncIterator[bytes]:
        size = 0
        async for chunk in self._inner:
            size += len(chunk)
            if size > MAX_WIRE_BYTES:
                raise ResponseTooLarge(
                    f"the MCP server at {self._url.copy_with(query=None)} sent more than "
                    f"{MAX_WIRE_BYTES // (1024 * 1024)} MiB in one response"
                )
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class _GuardedTransport(httpx2.AsyncHTTPTransport):
    """httpx2's transport with the guarded backend and the response cap."""

    def __init__(self, guard: AddressGuard) -> None:
        context = tls.default_context()
        super().__init__(verify=context, trust_env=False)
        # httpx2 has no public hook for a network backend, so the pool it just built is
        # replaced by the same pool with ours (as net.client does for httpx).
        limits = httpx2.Limits()
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=guarded_backend(httpcore2, guard),
        )

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        check_url(str(request.url))
        response = await super().handle_async_request(request)
        response.stream = _CappedStream(response.stream, request.url)  # type: ignore[arg-type]
        return response


def guarded_client(
    *, headers: dict[str, str], allow_private: bool, timeout_s: float
) -> httpx2.AsyncClient:
    """An ``httpx2`` client for one MCP server: guarded, capped, no environment proxies.

    Args:
        headers: sent with every request (the credential's token and headers).
        allow_private: reach loopback / private addresses (``AGENTFLOW_ALLOW_PRIVATE_NETWORK``).
        timeout_s: connect / write timeout; reads get the same, since a call's own deadline
            is enforced above the transport.
    """
    guard = AddressGuard(allow_private=allow_private)
    return httpx2.AsyncClient(
        transport=_GuardedTransport(guard),
        headers=headers,
        timeout=httpx2.Timeout(timeout_s),
        trust_env=False,
        follow_redirects=False,
    )
