"""Who is calling: the number from P-Asserted-Identity, else From; withheld when the caller
asked for privacy (``Privacy: id``/``header``/``user``, or an anonymous From). Pure.

Anyone can write any number into From or P-Asserted-Identity. A number is **verified** only
when it comes from P-Asserted-Identity in a request sent by a trusted peer (the operator's
``sip_trusted_peers``: the proxies and carrier edges in front of the bridge, which assert
identities under RFC 3325); every other number, From or an untrusted source's
P-Asserted-Identity, is kept and shown, marked unverified, and no name is looked up for it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from callroster.sip.message import BadRequest, Request
from callroster.sip.uri import parse_name_addr, parse_uri

PRIVACY_VALUES = {"id", "header", "user"}


@dataclass(frozen=True)
class CallerId:
    number: str | None  # as signalled (SIP user part or tel: number); None when withheld
    withheld: bool
    verified: bool = False  # from P-Asserted-Identity sent by a trusted peer


@dataclass(frozen=True)
class TrustedPeers:
    """The addresses (or networks) whose P-Asserted-Identity is believed."""

    networks: tuple[str, ...] = ()
    _parsed: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(
        init=False, repr=False, compare=False, default=()
    )

    def __post_init__(self) -> None:
        # Parsed once, so a bad network fails at start-up, not at the first call.
        parsed = tuple(ipaddress.ip_network(n.strip(), strict=False) for n in self.networks)
        object.__setattr__(self, "_parsed", parsed)

    def trusts(self, source: str) -> bool:
        try:
            address = ipaddress.ip_address(source)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self._parsed)


NOBODY = TrustedPeers()


def _user_of(value: str | None) -> tuple[str | None, str]:
    if not value:
        return None, ""
    try:
        uri = parse_uri(parse_name_addr(value).uri)
    except (BadRequest, ValueError):
        return None, ""
    return uri.user, uri.host.lower()


def caller_id(request: Request, source: str = "", trusted: TrustedPeers = NOBODY) -> CallerId:
    """The caller's number from ``request``, which came from host ``source``."""
    privacy = {p.strip().lower() for p in (request.get("Privacy") or "").split(";")}
    if privacy & PRIVACY_VALUES:
        return CallerId(None, True)
    from_user, from_host = _user_of(request.get("From"))
    if (from_user or "").lower() == "anonymous" or from_host == "anonymous.invalid":
        return CallerId(None, True)
    asserted, _ = _user_of(request.get("P-Asserted-Identity"))
    if asserted and trusted.trusts(source):
        return CallerId(asserted, False, verified=True)
    # An untrusted source's assertion is no better than its From; it is shown, unverified.
    number = asserted or from_user
    return CallerId(number or None, False)
