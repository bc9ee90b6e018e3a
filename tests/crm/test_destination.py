"""Where a CRM webhook may go, decided on addresses: every form of loopback, link-local,
private, shared, multicast, broadcast, unspecified and reserved address is refused, however
it is written (IPv4-mapped and other IPv6 forms, decimal, hex and octal numbers), and so is
a name that resolves to one; public addresses pass; the operator may allow private ones,
never link-local. Pure: the resolver is a function of the test's own (nothing is looked up
and nothing connects)."""

from __future__ import annotations

import ipaddress
import re
import socket

import pytest

from callroster.crm.destination import (
    DestinationPolicy,
    ForbiddenDestinationError,
    Kind,
    inet_aton,
    kind_of,
)

TOKEN = "crmtok-5c1e99ab03"
PUBLIC = "93.184.216.34"  # validated only: nothing here connects to it


def table(answers: dict[str, list[str]]) -> DestinationPolicy:
    """A policy whose resolver answers from ``answers`` (and fails for any other name)."""

    def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers[host]

    return DestinationPolicy(resolve=resolve)


NOWHERE = table({})

# (host as written in the URL, what it is): every form the finding names, and their kin.
REFUSED = [
    ("127.0.0.1", Kind.LOOPBACK),
    ("127.8.9.10", Kind.LOOPBACK),
    ("[::1]", Kind.LOOPBACK),
    ("[0:0:0:0:0:0:0:1]", Kind.LOOPBACK),
    ("localhost", Kind.LOOPBACK),
    ("LOCALHOST.", Kind.LOOPBACK),
    ("crm.localhost", Kind.LOOPBACK),
    ("[::ffff:127.0.0.1]", Kind.LOOPBACK),  # IPv4-mapped
    ("[::ffff:7f00:1]", Kind.LOOPBACK),
    ("[::127.0.0.1]", Kind.LOOPBACK),  # IPv4-compatible
    ("[64:ff9b::7f00:1]", Kind.LOOPBACK),  # NAT64
    ("[2002:7f00:1::]", Kind.LOOPBACK),  # 6to4
    ("169.254.169.254", Kind.LINK_LOCAL),  # the cloud metadata service
    ("[::ffff:a9fe:a9fe]", Kind.LINK_LOCAL),
    ("[::ffff:169.254.169.254]", Kind.LINK_LOCAL),
    ("[fe80::1]", Kind.LINK_LOCAL),
    ("[fe80::a9fe:a9fe]", Kind.LINK_LOCAL),
    ("10.0.0.1", Kind.PRIVATE),
    ("172.16.0.1", Kind.PRIVATE),
    ("172.31.255.254", Kind.PRIVATE),
    ("192.168.1.1", Kind.PRIVATE),
    ("[::ffff:10.0.0.1]", Kind.PRIVATE),
    ("[fc00::1]", Kind.PRIVATE),  # unique local, fc00::/7
    ("[fd12:3456:789a::1]", Kind.PRIVATE),
    ("[fec0::1]", Kind.PRIVATE),  # site-local
    ("100.64.0.1", Kind.SHARED),  # carrier-grade NAT, 100.64/10
    ("100.127.255.254", Kind.SHARED),
    ("100.100.100.200", Kind.SHARED),  # another cloud's metadata service
    ("0.0.0.0", Kind.UNSPECIFIED),
    ("0.1.2.3", Kind.UNSPECIFIED),
    ("[::]", Kind.UNSPECIFIED),
    ("224.0.0.1", Kind.MULTICAST),
    ("239.255.255.250", Kind.MULTICAST),
    ("[ff02::1]", Kind.MULTICAST),
    ("[ff05::1:3]", Kind.MULTICAST),
    ("255.255.255.255", Kind.BROADCAST),
    ("192.0.2.1", Kind.RESERVED),  # documentation
    ("198.51.100.7", Kind.RESERVED),
    ("203.0.113.9", Kind.RESERVED),
    ("198.18.0.1", Kind.RESERVED),  # benchmarking
    ("240.0.0.1", Kind.RESERVED),
    ("192.0.0.8", Kind.RESERVED),
    ("[2001:db8::1]", Kind.RESERVED),
    ("[100::1]", Kind.RESERVED),
    ("[4000::1]", Kind.RESERVED),  # outside global unicast 2000::/3
]

# inet_aton's ways of writing an address: read as a resolver reads them, and always refused.
ODD_FORMS = [
    ("0x7f000001", "127.0.0.1"),
    ("2130706433", "127.0.0.1"),
    ("017700000001", "127.0.0.1"),
    ("0x7f.1", "127.0.0.1"),
    ("127.1", "127.0.0.1"),
    ("127.0.1", "127.0.0.1"),
    ("0177.0.0.01", "127.0.0.1"),
    ("0xA9FEA9FE", "169.254.169.254"),
    ("2852039166", "169.254.169.254"),
    ("0251.0376.0251.0376", "169.254.169.254"),
    ("10.0.0.01", "10.0.0.1"),
    ("0", "0.0.0.0"),
    ("0x5db8d822", PUBLIC),  # public, but not how an address is written
]


def _message(host: str, policy: DestinationPolicy = NOWHERE) -> str:
    url = f"https://{host}:8443/hooks/{TOKEN}?token={TOKEN}"
    with pytest.raises(ForbiddenDestinationError) as refused:
        policy.check_url(url)
    message = str(refused.value)
    # Never the URL, its token or its host: the URL may hold the CRM's secret.
    assert TOKEN not in message
    assert len(host) < 4 or host.strip("[]") not in message
    return message


@pytest.mark.parametrize(("host", "kind"), REFUSED)
def test_every_non_public_form_is_refused_with_its_reason(host: str, kind: Kind) -> None:
    message = _message(host)
    assert kind.value in message, message
    assert "public addresses only" in message


@pytest.mark.parametrize(("host", "address"), ODD_FORMS)
def test_addresses_written_as_numbers_are_read_as_a_resolver_reads_them_and_refused(
    host: str, address: str
) -> None:
    assert inet_aton(host) == ipaddress.IPv4Address(address)
    message = _message(host)
    assert "non-standard form" in message
    kind = kind_of(ipaddress.IPv4Address(address))
    if kind is not None:
        assert kind.value in message
    # The system's own reading agrees (inet_aton is what glibc's resolver uses for these).
    assert socket.inet_aton(host) == ipaddress.IPv4Address(address).packed


@pytest.mark.parametrize(
    "host", ["crm.example", "1.2.3.4.5", "0x1ffffffff", "256.1.1.1", "08.1.1.1", "1..1", "12a"]
)
def test_what_is_not_an_inet_aton_number_is_a_name(host: str) -> None:
    assert inet_aton(host) is None


@pytest.mark.parametrize(
    "host",
    [PUBLIC, "8.8.8.8", "1.1.1.1", "[2606:4700:4700::1111]", "[2a00:1450:4009:81f::200e]"],
)
def test_public_addresses_pass(host: str) -> None:
    url = f"https://{host}/hooks/calls"
    assert NOWHERE.check_url(url) == url
    assert DestinationPolicy(allow_private=True, resolve=NOWHERE.resolve).check_url(url) == url


def test_the_edges_of_each_range() -> None:
    for address, kind in [
        ("9.255.255.255", None),
        ("10.0.0.0", Kind.PRIVATE),
        ("11.0.0.0", None),
        ("100.63.255.255", None),
        ("100.128.0.0", None),
        ("126.255.255.255", None),
        ("128.0.0.0", None),
        ("172.15.255.255", None),
        ("172.32.0.0", None),
        ("223.255.255.255", None),
        ("224.0.0.0", Kind.MULTICAST),
        ("255.255.255.254", Kind.RESERVED),
        ("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Kind.RESERVED),
        ("2000::", None),
        ("3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None),
        ("::ffff:93.184.216.34", None),  # mapped, of a public address: judged by it
        ("::ffff:100.64.0.1", Kind.SHARED),
    ]:
        assert kind_of(ipaddress.ip_address(address)) == kind, address


def test_names_are_judged_by_every_address_they_resolve_to() -> None:
    policy = table(
        {
            "crm.example": [PUBLIC, "2606:2800:220:1:248:1893:25c8:1946"],
            "internal.example": ["10.1.2.3"],
            "metadata.example": ["169.254.169.254"],
            "mixed.example": [PUBLIC, "127.0.0.1"],  # one bad answer is enough
            "mapped.example": ["::ffff:169.254.169.254"],
            "empty.example": [],
            "garbage.example": ["not-an-address"],
        }
    )
    assert policy.check_url("https://crm.example/hook") == "https://crm.example/hook"
    assert policy.addresses("crm.example", 443) == [
        ipaddress.ip_address(PUBLIC),
        ipaddress.ip_address("2606:2800:220:1:248:1893:25c8:1946"),
    ]
    for host, words in [
        ("internal.example", "resolves to a private address"),
        ("metadata.example", "resolves to a link-local address"),
        ("mixed.example", "resolves to a loopback address"),
        ("mapped.example", "resolves to a link-local address"),
        ("empty.example", "does not resolve"),
        ("garbage.example", "not an IP address"),
        ("unknown.example", "does not resolve"),
    ]:
        assert words in _message(host, policy), host


def test_the_operator_may_allow_private_targets_but_never_link_local_or_the_rest() -> None:
    allowed = DestinationPolicy(
        allow_private=True,
        resolve=lambda host, port: ["127.0.0.1", "::1"] if "localhost" in host.lower() else [],
    )
    for host, kind in REFUSED:
        url = f"https://{host}/hook"
        if kind.private:
            assert allowed.check_url(url) == url
        else:
            with pytest.raises(ForbiddenDestinationError, match=re.escape(kind.value)):
                allowed.check_url(url)
    assert allowed.addresses("localhost", 80) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    # Not written as numbers, even then; and the refusal says nothing of the setting.
    with pytest.raises(ForbiddenDestinationError, match="non-standard form"):
        allowed.check_url("https://0x7f000001/hook")
    assert "operator" not in _message("169.254.169.254", allowed)
    # Without the setting, the message says what would allow a private target.
    assert "unless the operator allows private ones" in _message("10.0.0.1")


def test_the_form_of_the_url_is_checked_first() -> None:
    for url, words in [
        ("ftp://93.184.216.34/", "http:// or https://"),
        ("http://93.184.216.34/", "must be https://"),  # http:// only to this machine
        ("https:///hook", "has no host"),
        ("https://[::1/hook", "cannot be parsed"),
    ]:
        with pytest.raises(ValueError, match=words):
            NOWHERE.check_url(url)


def test_the_system_resolver_answers_for_an_address_without_asking_anyone() -> None:
    # A literal is its own answer (getaddrinfo does not look it up): the seam's default works.
    from callroster.crm.destination import system_resolve

    assert system_resolve("127.0.0.1", 80) == ["127.0.0.1"]
    assert system_resolve("0x7f000001", 80) == ["127.0.0.1"]  # what a plain client would do
