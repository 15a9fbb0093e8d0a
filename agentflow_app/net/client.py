"""The HTTP client every node uses for user-supplied URLs (SPEC §11).

``GuardedClient`` is httpx with three changes that matter for safety:

* the connection layer resolves each host itself, checks every address with
  :class:`~agentflow_app.net.guard.AddressGuard` and connects to the checked address, so
  the check and the connection see the same DNS answer (no rebinding window); TLS still
  uses the host name for SNI and certificate checks, and the ``Host`` header is the URL's;
* redirects are followed here, at most ``max_redirects`` hops, each hop going through the
  same check; credentials (``Authorization``, cookies, any header the caller names) are
  dropped when a redirect leaves the origin;
* response bodies are read up to a cap, so a huge or endless answer fails clearly instead
  of filling the worker's memory.

Environment proxies are ignored (``trust_env=False``): a proxy would make the connection
decisions instead of the guard.
"""

from __future__ import annotations

import json as jsonlib
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import httpcore
import httpx

from agentflow_app.net import tls
from agentflow_app.net.guard import (
    AddressGuard,
    BlockedAddress,
    BlockedURL,
    NetError,
    Resolver,
    check_url,
    describe_block,
    redact_url,
)
from agentflow_app.settings import get_settings

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: Headers that carry credentials and must not follow a redirect to another origin.
SENSITIVE_HEADERS = ("authorization", "proxy-authorization", "cookie")


class ResponseTooLarge(NetError):
    """The response body is over the client's cap."""


class TooManyRedirects(NetError):
    """The server kept redirecting past the hop limit."""


@dataclass(frozen=True)
class GuardedResponse:
    """A fully read response (the body already capped and decoded from gzip etc.)."""

    status_code: int
    headers: httpx.Headers
    content: bytes
    url: httpx.URL
    encoding: str
    #: URLs that answered with a redirect before this one, in order.
    history: tuple[httpx.URL, ...] = ()

    @property
    def text(self) -> str:
        return self.content.decode(self.encoding, errors="replace")

    @property
    def is_json(self) -> bool:
        media = self.headers.get("content-type", "").split(";")[0].strip().lower()
        return media == "application/json" or media.endswith("+json")

    def json(self) -> Any:
        """The body parsed as JSON (raises ``ValueError`` when it is not)."""
        return jsonlib.loads(self.content.decode(self.encoding))


def guarded_backend(core: ModuleType, guard: AddressGuard) -> Any:
    """A network backend of httpcore (or of a copy of it, such as the MCP SDK's
    ``httpcore2``) that opens TCP connections only to addresses ``guard`` just approved.

    Taking the module lets both HTTP stacks share this one check rather than each carry
    its own copy of the connection rules.
    """

    class GuardedNetworkBackend(core.AsyncNetworkBackend):
        def __init__(self) -> None:
            self._inner = core.AnyIOBackend()

        async def connect_tcp(
            self,
            host: str,
            port: int,
            timeout: float | None = None,
            local_address: str | None = None,
            socket_options: Iterable[Any] | None = None,
        ) -> Any:
            addresses = await guard.resolve(host, port)
            failure: Exception | None = None
            for address in addresses:
                try:
                    return await self._inner.connect_tcp(
                        str(address),
                        port,
                        timeout=timeout,
                        local_address=local_address,
                        socket_options=socket_options,
                    )
                except (core.ConnectError, core.ConnectTimeout) as exc:
                    failure = exc
            assert failure is not None  # resolve() never returns an empty list
            raise failure

        async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:
            raise core.ConnectError("unix sockets are not reachable through the guarded client")

        async def sleep(self, seconds: float) -> None:
            await self._inner.sleep(seconds)

    return GuardedNetworkBackend()


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with the guarded network backend underneath."""

    def __init__(
        self, guard: AddressGuard, *, verify: ssl.SSLContext | bool, limits: httpx.Limits
    ) -> None:
        context = httpx.create_ssl_context(verify=verify, trust_env=False)
        super().__init__(verify=context, trust_env=False, limits=limits)
        # httpx 0.28 has no public hook for a network backend, so the pool it just built
        # is replaced by the same pool with ours; handle_async_request still maps errors.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=guarded_backend(httpcore, guard),
        )


class GuardedClient:
    """An async HTTP client for user-supplied URLs.

    Args:
        allow_private: reach loopback/private/link-local addresses; defaults to
            ``AGENTFLOW_ALLOW_PRIVATE_NETWORK``.
        resolver: host name resolution (the system resolver by default).
        allow_hosts: host names exempt from the address check (see ``AddressGuard``).
        max_redirects: redirect hops followed before giving up.
        max_body_bytes: the largest response body read, after decompression.
        verify: TLS verification: an ``ssl.SSLContext`` to trust a private CA, False for
            none; by default the process's shared context (``tls.default_context``).
        timeout: seconds for each connect/read/write when the request sets none.
    """

    def __init__(
        self,
        *,
        allow_private: bool | None = None,
        resolver: Resolver | None = None,
        allow_hosts: Iterable[str] = (),
        max_redirects: int = DEFAULT_MAX_REDIRECTS,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        verify: ssl.SSLContext | bool | None = None,
        timeout: float = 30.0,
    ) -> None:
        if allow_private is None:
            allow_private = get_settings().agentflow_allow_private_network
        self.guard = AddressGuard(
            allow_private=allow_private, resolver=resolver, allow_hosts=allow_hosts
        )
        self.max_redirects = max_redirects
        self.max_body_bytes = max_body_bytes
        self._verify = verify
        self._timeout = timeout
        self._http: httpx.AsyncClient | None = None

    @property
    def _client(self) -> httpx.AsyncClient:
        """The httpx client, made on first use: every run gets a GuardedClient, and most
        runs' nodes never send a request of their own (an LLM step uses its SDK's)."""
        if self._http is None:
            verify = self._verify
            if verify is None or verify is True:
                verify = tls.default_context()
            transport = _GuardedTransport(self.guard, verify=verify, limits=httpx.Limits())
            self._http = httpx.AsyncClient(
                transport=transport, trust_env=False, follow_redirects=False, timeout=self._timeout
            )
        return self._http

    @property
    def allow_private(self) -> bool:
        return self.guard.allow_private

    async def __aenter__(self) -> GuardedClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    async def request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        content: bytes | str | None = None,
        json: Any = None,
        timeout: float | None = None,
        max_body_bytes: int | None = None,
        sensitive_headers: Iterable[str] = (),
    ) -> GuardedResponse:
        """Send a request, following redirects through the guard, and read the body.

        Args:
            sensitive_headers: extra header names (an API-key header) dropped, like
                ``Authorization``, when a redirect goes to another origin.

        Raises:
            BlockedURL: the URL or a redirect target is refused (message says why).
            HostNotFound: a host does not resolve.
            TooManyRedirects, ResponseTooLarge: the limits above.
            httpx.TransportError: connection failures and timeouts (worth a retry).
        """
        first = check_url(url)
        request = self._client.build_request(
            method.upper(),
            first,
            headers=dict(headers or {}),
            params=params,
            content=content,
            json=json,
            timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
        )
        cap = self.max_body_bytes if max_body_bytes is None else max_body_bytes
        sensitive = {name.lower() for name in (*SENSITIVE_HEADERS, *sensitive_headers)}
        history: list[httpx.URL] = []
        while True:
            try:
                response = await self._client.send(request, stream=True)
            except BlockedAddress as exc:
                if not history:
                    raise
                subject = f"the redirect to {redact_url(request.url)}"
                raise BlockedURL(describe_block(subject, exc.address, exc.reason)) from None
            try:
                location = response.headers.get("location")
                if response.status_code not in REDIRECT_STATUSES or not location:
                    body = await _read_capped(response, cap)
                    return GuardedResponse(
                        status_code=response.status_code,
                        headers=response.headers,
                        content=body,
                        url=request.url,
                        encoding=response.encoding or "utf-8",
                        history=tuple(history),
                    )
            finally:
                await response.aclose()
            if len(history) >= self.max_redirects:
                raise TooManyRedirects(
                    f"stopped after {self.max_redirects} redirects "
                    f"(the last one from {redact_url(request.url)})"
                )
            history.append(request.url)
            request = _redirect_request(request, response.status_code, location, sensitive)


async def _read_capped(response: httpx.Response, cap: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise ResponseTooLarge(_too_large(response, cap))
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > cap:
            raise ResponseTooLarge(_too_large(response, cap))
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(response: httpx.Response, cap: int) -> str:
    return (
        f"the response from {redact_url(response.request.url)} is larger than "
        f"{cap // 1024} KiB, the most a step reads"
    )


def _redirect_request(
    previous: httpx.Request, status: int, location: str, sensitive: set[str]
) -> httpx.Request:
    """The next hop, as browsers and httpx build it, minus credentials across origins."""
    try:
        target = previous.url.join(location)
    except httpx.InvalidURL:
        raise NetError(f"the server redirected to an invalid URL ({location[:200]!r})") from None
    try:
        check_url(target)
    except BlockedURL as exc:
        raise BlockedURL(f"the redirect to {redact_url(target)} is refused: {exc}") from None

    method = previous.method
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method = "GET"
    headers = httpx.Headers(previous.headers)
    headers.pop("host", None)
    body: bytes | None = previous.content or None
    if method != previous.method:
        body = None
        for name in ("content-length", "content-type", "transfer-encoding"):
            headers.pop(name, None)
    if _origin(target) != _origin(previous.url):
        for name in sensitive:
            headers.pop(name, None)
    return httpx.Request(
        method, target, headers=headers, content=body, extensions=previous.extensions
    )


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)
