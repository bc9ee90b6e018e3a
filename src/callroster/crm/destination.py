"""Where a CRM webhook may go: public addresses only, unless the operator allows private ones.

A customer's webhook URL makes this service open a connection for them, so it must not reach
what only this machine can: its loopback services, the cloud's metadata service on a
link-local address, or the operator's private network (server-side request forgery). The
rule is applied to addresses, never to names: a host name is resolved, and every address it
resolves to must pass.

======================  ==========================================  ===============
what                    addresses                                   private allowed
======================  ==========================================  ===============
loopback                127.0.0.0/8, ::1, ``localhost`` names       yes
private                 10/8, 172.16/12, 192.168/16, fc00::/7,      yes
                        fec0::/10
shared (carrier NAT)    100.64.0.0/10                               yes
link-local              169.254.0.0/16 (cloud metadata), fe80::/10  no
unspecified             0.0.0.0/8, ::                               no
multicast               224.0.0.0/4, ff00::/8                       no
broadcast               255.255.255.255                             no
reserved                documentation, benchmarking, 240/4, the     no
                        IETF's special ranges, IPv6 outside 2000::/3
======================  ==========================================  ===============

IPv6 forms that carry an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible
``::a.b.c.d``, NAT64 ``64:ff9b::/96`` and 6to4 ``2002::/16``) are judged by that IPv4
address. A host written as a number the way ``inet_aton`` reads it (``2130706433``,
``0x7f000001``, ``017700000001``, ``127.1``) is read as the address a resolver would
connect to, judged, and refused in any case: an address is written as four decimal numbers.

``check_url`` is the rule when a URL is set. At send time ``crm.transport`` applies
``addresses`` again, to the host the HTTP client is about to connect to, and connects only to
the addresses it returned (no second look-up, so no DNS rebinding in between).

Messages name what is wrong, never the URL, the host or the address (the URL may hold the
CRM's token; the address would tell a customer about the operator's network).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlsplit

import httpx

from callroster.crm.target import check_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses it resolves to, as text; raises OSError when it does not.
Resolve = Callable[[str, int], list[str]]


class ForbiddenDestinationError(ValueError):
    """A webhook URL whose host this service will not connect to. The message says why, and
    never repeats the URL, the host or an address."""


class Kind(Enum):
    """What kind of address a refused one is, in words for a person."""

    LOOPBACK = "a loopback address (this machine)"
    PRIVATE = "a private address"
    SHARED = "a shared address (carrier-grade NAT, 100.64.0.0/10)"
    LINK_LOCAL = "a link-local address (such as a cloud metadata service)"
    UNSPECIFIED = 'an unspecified address ("this network")'
    MULTICAST = "a multicast address"
    BROADCAST = "the broadcast address"
    RESERVED = "a reserved or documentation address, not a public one"

    @property
    def private(self) -> bool:
        """Whether the operator's ``crm_allow_private_targets`` lets this kind through."""
        return self in (Kind.LOOPBACK, Kind.PRIVATE, Kind.SHARED)


def _networks(
    *pairs: tuple[str, Kind],
) -> tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, Kind], ...]:
    return tuple((ipaddress.ip_network(net), kind) for net, kind in pairs)


# First match wins (the broadcast address before 240/4, which holds it).
_IPV4 = _networks(
    ("0.0.0.0/8", Kind.UNSPECIFIED),
    ("10.0.0.0/8", Kind.PRIVATE),
    ("100.64.0.0/10", Kind.SHARED),
    ("127.0.0.0/8", Kind.LOOPBACK),
    ("169.254.0.0/16", Kind.LINK_LOCAL),
    ("172.16.0.0/12", Kind.PRIVATE),
    ("192.0.0.0/24", Kind.RESERVED),  # IETF protocol assignments
    ("192.0.2.0/24", Kind.RESERVED),  # documentation (TEST-NET-1)
    ("192.88.99.0/24", Kind.RESERVED),  # 6to4 relays
    ("192.168.0.0/16", Kind.PRIVATE),
    ("198.18.0.0/15", Kind.RESERVED),  # benchmarking
    ("198.51.100.0/24", Kind.RESERVED),  # documentation (TEST-NET-2)
    ("203.0.113.0/24", Kind.RESERVED),  # documentation (TEST-NET-3)
    ("224.0.0.0/4", Kind.MULTICAST),
    ("255.255.255.255/32", Kind.BROADCAST),
    ("240.0.0.0/4", Kind.RESERVED),
)
_IPV6 = _networks(
    ("::/128", Kind.UNSPECIFIED),
    ("::1/128", Kind.LOOPBACK),
    ("64:ff9b:1::/48", Kind.RESERVED),  # local-use NAT64
    ("100::/64", Kind.RESERVED),  # discard
    ("2001::/23", Kind.RESERVED),  # IETF protocol assignments, Teredo
    ("2001:db8::/32", Kind.RESERVED),  # documentation
    ("fc00::/7", Kind.PRIVATE),  # unique local
    ("fe80::/10", Kind.LINK_LOCAL),
    ("fec0::/10", Kind.PRIVATE),  # site-local (deprecated, still routed inside sites)
    ("ff00::/8", Kind.MULTICAST),
)
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")

# One part of a number as inet_aton reads it: hex (0x..), octal (0..) or decimal.
_INET_ATON_PART = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*", re.ASCII)
_LOCALHOST = re.compile(r"(?:.+\.)?localhost\.?", re.IGNORECASE | re.ASCII)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_NO_ANSWER = "the webhook URL's host name does not resolve"


def kind_of(address: IPAddress) -> Kind | None:
    """What kind of non-public address this is; None for a public unicast address."""
    embedded = _embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else None
    if embedded is not None:
        return kind_of(embedded)
    table = _IPV4 if isinstance(address, ipaddress.IPv4Address) else _IPV6
    for network, kind in table:
        if address in network:
            return kind
    if isinstance(address, ipaddress.IPv6Address) and address not in _GLOBAL_UNICAST:
        return Kind.RESERVED
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, compatible, NAT64, 6to4), if any."""
    if address in _MAPPED or address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    if address in _COMPATIBLE and int(address) > 1:  # not :: or ::1
        return ipaddress.IPv4Address(int(address))
    if address in _SIX_TO_FOUR:
        return ipaddress.IPv4Address((int(address) >> 80) & 0xFFFF_FFFF)
    return None


def refusal(address: IPAddress, *, allow_private: bool) -> Kind | None:
    """Why the service will not connect to ``address``; None when it may."""
    kind = kind_of(address)
    if kind is None or (allow_private and kind.private):
        return None
    return kind


def inet_aton(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address ``host`` names when read as C's ``inet_aton`` (and so glibc's
    resolver) reads it: one to four parts, each decimal, octal (``0``…) or hex (``0x``…),
    the last filling the bytes left (``127.1`` is 127.0.0.1, ``2130706433`` too). None when
    it is not such a number."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_INET_ATON_PART.fullmatch(p) for p in parts):
        return None
    *leading, last = (_inet_aton_part(part) for part in parts)
    if any(v > 0xFF for v in leading) or last >= 1 << (8 * (5 - len(parts))):
        return None
    number = last
    for index, value in enumerate(leading):
        number |= value << (8 * (3 - index))
    return ipaddress.IPv4Address(number)


def _inet_aton_part(part: str) -> int:
    if part[:2].lower() == "0x":
        return int(part[2:] or "0", 16)
    return int(part, 8 if part.startswith("0") else 10)


def literal_address(host: str) -> IPAddress | None:
    """The address a URL's host names literally, or None for a name.

    Raises:
        ForbiddenDestinationError: an IPv4 address written other than as four decimal
            numbers (it is judged first, so the message says what it would have reached).
    """
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    odd = inet_aton(host.removesuffix("."))
    if odd is None:
        return None
    kind = kind_of(odd)
    what = f"{kind.value}, written" if kind else "an IPv4 address written"
    raise ForbiddenDestinationError(
        f"the webhook URL's host is {what} in a non-standard form: "
        "write an address as four decimal numbers (a.b.c.d)"
    )


def system_resolve(host: str, port: int) -> list[str]:
    """The addresses the system's resolver gives for ``host`` (TCP), in its order."""
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in answers))


@dataclass(frozen=True)
class DestinationPolicy:
    """The rule for webhook destinations (see the module docstring), with the resolver it
    asks about names.

    Args:
        allow_private: the operator's ``crm_allow_private_targets``: loopback, private and
            shared addresses pass (link-local, multicast and the rest never do).
        resolve: how a name becomes addresses; the system's resolver unless a test gives a
            function of its own.
    """

    allow_private: bool = False
    resolve: Resolve = system_resolve

    def check_url(self, url: str) -> str:
        """The URL, if its form is right (``target.check_url``) and its host resolves only to
        addresses this policy allows.

        Raises:
            ValueError: the URL's form is wrong (its message says how).
            ForbiddenDestinationError: the host is, or resolves to, an address refused,
                or does not resolve.
        """
        check_url(url)
        host = urlsplit(url).hostname
        if host is not None:
            literal_address(host)  # a number httpx would not parse still says what it is
        try:  # the host exactly as the sender's client will connect to it
            parsed = httpx.URL(url)
        except httpx.InvalidURL:
            raise ValueError("the webhook URL cannot be parsed") from None
        port = parsed.port or _DEFAULT_PORTS[parsed.scheme]
        self.addresses(parsed.raw_host.decode("ascii"), port)
        return url

    def addresses(self, host: str, port: int) -> list[IPAddress]:
        """The addresses to connect to for ``host``: every one it resolves to, each allowed.

        Raises:
            ForbiddenDestinationError: the host is a ``localhost`` name, or it or any address
                it resolves to is refused, or it resolves to none.
        """
        host = host.removeprefix("[").removesuffix("]")
        literal = literal_address(host)
        if literal is not None:
            self._judge([literal], "is")
            return [literal]
        if _LOCALHOST.fullmatch(host) and not self.allow_private:
            raise ForbiddenDestinationError(_refused("is", Kind.LOOPBACK))
        try:
            answers = self.resolve(host, port)
        except (OSError, UnicodeError):
            raise ForbiddenDestinationError(_NO_ANSWER) from None
        addresses = [_address(answer) for answer in answers]
        if not addresses:
            raise ForbiddenDestinationError(_NO_ANSWER)
        self._judge(addresses, "resolves to")
        return addresses

    def _judge(self, addresses: Iterable[IPAddress], verb: str) -> None:
        for address in addresses:
            kind = refusal(address, allow_private=self.allow_private)
            if kind is not None:
                raise ForbiddenDestinationError(_refused(verb, kind))


def _refused(verb: str, kind: Kind) -> str:
    hint = ", unless the operator allows private ones" if kind.private else ""
    return (
        f"the webhook URL's host {verb} {kind.value}: CRM webhooks go to public addresses"
        f" only{hint}"
    )


def _address(answer: str) -> IPAddress:
    """A resolver's answer as an address; one that is not an address is refused."""
    try:
        return ipaddress.ip_address(answer)
    except ValueError:
        raise ForbiddenDestinationError(
            "the webhook URL's host resolves to something that is not an IP address"
        ) from None
