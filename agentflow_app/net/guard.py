"""Which URLs and addresses a user-supplied request may reach (SPEC §11).

A workflow author types URLs (``http.request``) and base URLs (credentials), and the
worker that fetches them sits inside the operator's network. Without a guard, a workflow
could read the cloud metadata service or an internal admin page. The rules here decide,
without any I/O, whether an address is allowed; :class:`AddressGuard` resolves a host and
applies them to every address it resolves to. The HTTP client then connects to exactly
the address that was checked, so a DNS answer that changes between check and connect
(DNS rebinding) cannot slip through.

Everything is allowed when ``AGENTFLOW_ALLOW_PRIVATE_NETWORK=true`` (development, or an
operator who wants workflows to call internal services).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import unquote

import httpx

from agentflow_app.errors import AgentFlowError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``await resolver(host, port)`` → the IP address strings the host resolves to.
Resolver = Callable[[str, int], Awaitable[list[str]]]

ALLOWED_SCHEMES = ("http", "https")
ALLOW_HINT = "set AGENTFLOW_ALLOW_PRIVATE_NETWORK=true to allow private networks"


class NetError(AgentFlowError):
    """A request was refused or failed in a way the user should read as is."""


class BlockedURL(NetError):
    """The URL is not allowed: bad scheme, no host, or a private/special address."""


class BlockedAddress(BlockedURL):
    """A host resolved to an address the guard refuses."""

    def __init__(self, host: str, address: str, reason: str) -> None:
        self.host = host
        self.address = address
        self.reason = reason
        super().__init__(describe_block("the URL", address, reason))


class HostNotFound(NetError):
    """DNS says the host does not exist (usually a typo)."""


class DnsUnavailable(NetError):
    """DNS could not answer right now; trying again later may work."""


def describe_block(subject: str, address: str, reason: str) -> str:
    """The user-facing sentence for a refused address."""
    return f"{subject} resolves to {address}, {reason}; {ALLOW_HINT}"


_V4_RULES: tuple[tuple[ipaddress.IPv4Network, str], ...] = tuple(
    (ipaddress.IPv4Network(net), reason)
    for net, reason in (
        ("0.0.0.0/8", "an unspecified address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.169.254/32", "the cloud metadata address"),
        ("169.254.0.0/16", "a link-local address"),
        ("10.0.0.0/8", "a private address"),
        ("172.16.0.0/12", "a private address"),
        ("192.168.0.0/16", "a private address"),
        ("100.64.0.0/10", "a carrier-grade NAT (shared) address"),
        ("224.0.0.0/4", "a multicast address"),
        ("255.255.255.255/32", "the broadcast address"),
        ("240.0.0.0/4", "a reserved address"),
    )
)

_V6_RULES: tuple[tuple[ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.IPv6Network(net), reason)
    for net, reason in (
        ("::/128", "an unspecified address"),
        ("::1/128", "a loopback address"),
        ("fe80::/10", "a link-local address"),
        ("fc00::/7", "a unique-local (private) address"),
        ("fec0::/10", "a site-local (private) address"),
        ("ff00::/8", "a multicast address"),
        ("64:ff9b:1::/48", "a local-use NAT64 address"),
    )
)

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_V4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def blocked_reason(address: IPAddress) -> str | None:
    """Why ``address`` may not be reached, or None when it is a public unicast address.

    IPv6 forms that carry an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo) are
    judged by the address they carry, so ``::ffff:127.0.0.1`` is as loopback as
    ``127.0.0.1``.
    """
    if isinstance(address, ipaddress.IPv4Address):
        for network, reason in _V4_RULES:
            if address in network:
                return reason
        return None if address.is_global else "a reserved or special-purpose address"

    if address.scope_id:
        return "a scoped (link-local) address"
    for network, reason in _V6_RULES:
        if address in network:
            return reason
    embedded, form = _embedded_ipv4(address)
    if embedded is not None:
        inner = blocked_reason(embedded)
        if inner is not None:
            return f"{form} of {embedded}, {inner}"
        if form == "an IPv4-compatible form":
            return "a deprecated IPv4-compatible address"
        return None
    return None if address.is_global else "a reserved or special-purpose address"


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address | None, str]:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped, "an IPv4-mapped form"
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), "a NAT64 form"
    if address in _V4_COMPATIBLE:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), "an IPv4-compatible form"
    if address.sixtofour is not None:
        return address.sixtofour, "a 6to4 form"
    if address.teredo is not None:
        return address.teredo[1], "a Teredo form"
    return None, ""


def show_address(address: IPAddress) -> str:
    """The address as a person reads it (``::ffff:127.0.0.1`` rather than ``::ffff:7f00:1``)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)


_V4_PART = re.compile(r"^(0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*)$")


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address ``host`` spells, in any form the C resolver accepts, else None.

    ``inet_aton`` (which ``getaddrinfo`` uses) reads ``0x7f000001``, ``2130706433``,
    ``127.1`` and ``0177.0.0.1`` as 127.0.0.1; parsing them here the same way means the
    guard judges the address the socket would reach, without a DNS lookup.
    """
    text = unquote(host.strip())
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            return None
    text = text.removesuffix(".")
    parts = text.split(".")
    if not 1 <= len(parts) <= 4 or not all(_V4_PART.match(part) for part in parts):
        return None
    values = [_v4_part_value(part) for part in parts]
    *leading, last = values
    if any(value > 0xFF for value in leading) or last >= 1 << (8 * (5 - len(values))):
        return None
    number = last
    for index, value in enumerate(leading):
        number |= value << (8 * (3 - index))
    return ipaddress.IPv4Address(number)


def _v4_part_value(part: str) -> int:
    if part[:2].lower() == "0x":
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8)
    return int(part)


def redact_url(url: str | httpx.URL) -> str:
    """The URL without its user:password part, for messages and logs."""
    try:
        parsed = httpx.URL(str(url))
    except (httpx.InvalidURL, TypeError):
        return "<invalid URL>"
    if parsed.userinfo:
        parsed = parsed.copy_with(username=None, password=None)
    return str(parsed)


def check_url(url: str | httpx.URL) -> httpx.URL:
    """Parse ``url`` and refuse what no request may use: other schemes, no host.

    Raises:
        BlockedURL: naming what is wrong with the URL.
    """
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise BlockedURL(f"the URL is not valid: {exc}") from None
    if parsed.scheme not in ALLOWED_SCHEMES:
        shown = parsed.scheme or "(none)"
        raise BlockedURL(f"the URL scheme {shown!r} is not allowed; use http:// or https://")
    if not parsed.host:
        raise BlockedURL("the URL has no host")
    return parsed


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the operating system resolves ``host`` to (TCP only)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_AGAIN:
            raise DnsUnavailable(
                f"DNS could not resolve {host!r} for now ({exc.strerror})"
            ) from None
        raise HostNotFound(f"the host {host!r} could not be resolved ({exc.strerror})") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class AddressGuard:
    """Resolves hosts and refuses private or special addresses.

    Args:
        allow_private: skip the address checks (``AGENTFLOW_ALLOW_PRIVATE_NETWORK``).
        resolver: how host names become addresses; the system resolver by default.
        allow_hosts: host names reachable whatever they resolve to (one internal API an
            operator trusts, without opening the whole private network). Only the exact
            name is exempt: a redirect from it to another host is checked as usual.
    """

    def __init__(
        self,
        *,
        allow_private: bool,
        resolver: Resolver | None = None,
        allow_hosts: Iterable[str] = (),
    ) -> None:
        self.allow_private = allow_private
        self.allow_hosts = frozenset(host.lower().rstrip(".") for host in allow_hosts)
        self._resolver = resolver or system_resolver

    def check_address(self, host: str, address: IPAddress) -> None:
        """Raise :class:`BlockedAddress` when ``address`` may not be reached."""
        if self.allow_private or host.lower().rstrip(".") in self.allow_hosts:
            return
        reason = blocked_reason(address)
        if reason is not None:
            raise BlockedAddress(host, show_address(address), reason)

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """The addresses to connect to for ``host``, every one of them checked.

        A host with any refused address is refused as a whole: connecting to "the
        public one" would leave the choice to whoever controls the DNS answer.

        Raises:
            BlockedAddress: an address is private or special.
            HostNotFound: the name does not resolve.
        """
        literal = parse_ip_literal(host)
        if literal is not None:
            addresses = [literal]
        else:
            resolved = await self._resolver(host, port)
            if not resolved:
                raise HostNotFound(f"the host {host!r} could not be resolved")
            addresses = [ipaddress.ip_address(item) for item in resolved]
        for address in addresses:
            self.check_address(host, address)
        return addresses
