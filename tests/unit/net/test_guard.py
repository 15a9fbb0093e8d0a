"""The SSRF decision: which addresses and URLs are refused, decided without any packet."""

from __future__ import annotations

import ipaddress

import pytest

from agentflow_app.net.guard import (
    AddressGuard,
    BlockedAddress,
    BlockedURL,
    HostNotFound,
    blocked_reason,
    check_url,
    parse_ip_literal,
    redact_url,
)

REFUSED = {
    # IPv4 special ranges
    "127.0.0.1": "a loopback address",
    "127.255.255.254": "a loopback address",
    "10.0.0.1": "a private address",
    "10.255.255.255": "a private address",
    "172.16.0.1": "a private address",
    "172.31.255.254": "a private address",
    "192.168.1.1": "a private address",
    "169.254.169.254": "the cloud metadata address",
    "169.254.1.1": "a link-local address",
    "100.64.0.1": "a carrier-grade NAT (shared) address",
    "100.127.255.254": "a carrier-grade NAT (shared) address",
    "100.100.100.200": "a carrier-grade NAT (shared) address",  # Alibaba Cloud metadata
    "0.0.0.0": "an unspecified address",
    "0.1.2.3": "an unspecified address",
    "224.0.0.1": "a multicast address",
    "239.255.255.250": "a multicast address",
    "255.255.255.255": "the broadcast address",
    "240.0.0.1": "a reserved address",
    "192.0.2.10": "a reserved or special-purpose address",
    "198.18.0.1": "a reserved or special-purpose address",
    # IPv6 special ranges
    "::1": "a loopback address",
    "::": "an unspecified address",
    "fe80::1": "a link-local address",
    "fc00::1": "a unique-local (private) address",
    "fd12:3456::1": "a unique-local (private) address",
    "fd00:ec2::254": "a unique-local (private) address",  # the AWS metadata service over IPv6
    "fec0::1": "a site-local (private) address",
    "ff02::1": "a multicast address",
    "2001:db8::1": "a reserved or special-purpose address",
    "64:ff9b:1::a00:1": "a local-use NAT64 address",
    # IPv6 forms carrying a private IPv4 address
    "::ffff:127.0.0.1": "an IPv4-mapped form of 127.0.0.1, a loopback address",
    "::ffff:7f00:1": "an IPv4-mapped form of 127.0.0.1, a loopback address",
    "::ffff:169.254.169.254": "an IPv4-mapped form of 169.254.169.254, the cloud metadata address",
    "::ffff:10.1.2.3": "an IPv4-mapped form of 10.1.2.3, a private address",
    "::127.0.0.1": "an IPv4-compatible form of 127.0.0.1, a loopback address",
    "::8.8.8.8": "a deprecated IPv4-compatible address",
    "64:ff9b::10.0.0.1": "a NAT64 form of 10.0.0.1, a private address",
    "64:ff9b::7f00:1": "a NAT64 form of 127.0.0.1, a loopback address",
    "2002:c0a8:0101::1": "a 6to4 form of 192.168.1.1, a private address",
    "2002:7f00:1::": "a 6to4 form of 127.0.0.1, a loopback address",
    "2001:0:4136:e378:8000:63bf:80ff:fffe": "a Teredo form of 127.0.0.1, a loopback address",
    "fe80::1%eth0": "a scoped (link-local) address",
}

ALLOWED = [
    "93.184.216.34",
    "8.8.8.8",
    "1.1.1.1",
    "172.32.0.1",  # just above 172.16/12
    "100.128.0.1",  # just above 100.64/10
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
    "2002:808:808::1",  # 6to4 of 8.8.8.8
]


@pytest.mark.parametrize(("address", "reason"), REFUSED.items())
def test_special_addresses_are_refused_with_their_reason(address: str, reason: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", ALLOWED)
def test_public_unicast_addresses_are_allowed(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F000001", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("10.1", "10.0.0.1"),
        ("3232235777", "192.168.1.1"),
        ("0xa9fea9fe", "169.254.169.254"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("::1", "::1"),
        ("fe80::1%25eth0", "fe80::1%eth0"),
    ],
)
def test_alternate_encodings_parse_like_the_c_resolver(host: str, address: str) -> None:
    assert parse_ip_literal(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize(
    "host", ["example.com", "localhost", "127.0.0.1.nip.io", "1.2.3.256", "08.1.1.1", ""]
)
def test_names_and_malformed_numbers_are_not_literals(host: str) -> None:
    # Overflowing or non-octal parts are not addresses for inet_aton either; such a host
    # goes to DNS, whose answer is then checked like any other.
    assert parse_ip_literal(host) is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///etc/passwd", "the URL scheme 'file' is not allowed; use http:// or https://"),
        ("gopher://127.0.0.1:6379/_INFO", "the URL scheme 'gopher' is not allowed"),
        ("ftp://example.com/x", "the URL scheme 'ftp' is not allowed"),
        ("example.com/path", "the URL scheme '(none)' is not allowed"),
        ("http:///path", "the URL has no host"),
        ("http://[::1/", "the URL is not valid"),
    ],
)
def test_check_url_refuses_other_schemes_and_hostless_urls(url: str, message: str) -> None:
    with pytest.raises(BlockedURL) as caught:
        check_url(url)
    assert str(caught.value).startswith(message)


def test_credentials_in_the_url_are_allowed_but_redacted_from_messages() -> None:
    assert check_url("https://user:s3cret@example.com/a?b=1").host == "example.com"
    assert redact_url("https://user:s3cret@example.com/a?b=1") == "https://example.com/a?b=1"


class Dns:
    """The outside world's DNS, as a table; records what was asked."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        return self.answers.get(host, [])


@pytest.mark.parametrize(
    ("host", "shown", "reason"),
    [
        ("0x7f000001", "127.0.0.1", "a loopback address"),
        ("2130706433", "127.0.0.1", "a loopback address"),
        ("127.1", "127.0.0.1", "a loopback address"),
        ("0177.0.0.1", "127.0.0.1", "a loopback address"),
        ("::ffff:127.0.0.1", "::ffff:127.0.0.1", "an IPv4-mapped form of 127.0.0.1"),
        ("::ffff:7f00:1", "::ffff:127.0.0.1", "an IPv4-mapped form of 127.0.0.1"),
        ("169.254.169.254", "169.254.169.254", "the cloud metadata address"),
    ],
)
async def test_literal_hosts_are_judged_without_asking_dns(
    host: str, shown: str, reason: str
) -> None:
    dns = Dns({})
    guard = AddressGuard(allow_private=False, resolver=dns)
    with pytest.raises(BlockedAddress) as caught:
        await guard.resolve(host, 80)
    assert dns.asked == []
    assert str(caught.value).startswith(f"the URL resolves to {shown}, {reason}")
    assert str(caught.value).endswith(
        "; set AGENTFLOW_ALLOW_PRIVATE_NETWORK=true to allow private networks"
    )


async def test_a_name_resolving_to_a_private_address_is_refused() -> None:
    guard = AddressGuard(allow_private=False, resolver=Dns({"intranet.test": ["10.20.0.5"]}))
    with pytest.raises(BlockedAddress, match=r"resolves to 10\.20\.0\.5, a private address"):
        await guard.resolve("intranet.test", 443)


async def test_one_private_address_among_public_ones_refuses_the_whole_host() -> None:
    # Whoever controls the DNS answer must not be able to choose which address we reach.
    dns = Dns({"rebind.test": ["93.184.216.34", "127.0.0.1"]})
    guard = AddressGuard(allow_private=False, resolver=dns)
    with pytest.raises(BlockedAddress, match=r"resolves to 127\.0\.0\.1, a loopback"):
        await guard.resolve("rebind.test", 80)


async def test_public_answers_pass_and_private_ones_pass_when_allowed() -> None:
    dns = Dns({"api.test": ["93.184.216.34"], "intranet.test": ["10.0.0.7"]})
    strict = AddressGuard(allow_private=False, resolver=dns)
    assert await strict.resolve("api.test", 443) == [ipaddress.ip_address("93.184.216.34")]
    relaxed = AddressGuard(allow_private=True, resolver=dns)
    assert await relaxed.resolve("intranet.test", 443) == [ipaddress.ip_address("10.0.0.7")]


async def test_a_name_without_an_answer_is_reported() -> None:
    guard = AddressGuard(allow_private=False, resolver=Dns({}))
    with pytest.raises(HostNotFound, match=r"the host 'nowhere.test' could not be resolved"):
        await guard.resolve("nowhere.test", 80)
