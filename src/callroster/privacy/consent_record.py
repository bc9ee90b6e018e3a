"""A consent given to the cookie policy (issue 16), as the server keeps it for proof.

A browser's choice at the banner, in the settings, or made for it by Global Privacy Control
or Do-Not-Track, becomes one ``ConsentGiven``: which optional categories it accepted (none:
reject all), the policy version and a hash of the text it was shown, when and how. The
network address is kept truncated (``truncate_ip``: the /24 of IPv4, the /48 of IPv6) and
the user agent cut to ``USER_AGENT_LIMIT``; both are still personal data and the store
encrypts them (``store/consent_records.py``).

Pure: no clock, no store. The web layer builds a ``ConsentGiven`` with the time it read.
"""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
import re
from dataclasses import dataclass

from callroster.privacy.consent import CONSENT_LIFETIME  # the compliance cookie's month

OPTIONAL_CATEGORIES = frozenset({"performance", "functionality", "targeting"})
USER_AGENT_LIMIT = 300
DEFAULT_PROOF_DAYS = 1095  # Settings.consent_proof_days: kept 3 years after it ended
POLICY_VERSION_LIMIT = 40
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class ConsentMethod(enum.StrEnum):
    """How a consent was given."""

    BANNER = "banner"
    SETTINGS = "settings"
    GPC = "gpc"  # Sec-GPC: 1, taken as "reject all optional"
    DNT = "dnt"  # DNT: 1, taken the same way


class InvalidConsentError(ValueError):
    """A consent that cannot be recorded as given (unknown category, naive time, ...)."""


@dataclass(frozen=True)
class ConsentGiven:
    """One consent, as given.

    Attributes:
        optional: the optional categories accepted (a subset of ``OPTIONAL_CATEGORIES``);
            empty: all optional cookies rejected. Strictly necessary cookies need no consent.
        policy_version: the cookie policy's version shown, e.g. ``"2025-1"``.
        text_sha256: the SHA-256 (hex) of the banner and policy text shown.
        given_at: when, aware, in UTC.
        method: banner, settings, GPC or DNT.
        ip_truncated: the address it came from, already truncated (``truncate_ip``).
        user_agent: the browser's User-Agent, cut to ``USER_AGENT_LIMIT``.
        replaces: the id of the record this browser held before, if any.
    """

    optional: frozenset[str]
    policy_version: str
    text_sha256: str
    given_at: dt.datetime
    method: ConsentMethod
    ip_truncated: str
    user_agent: str
    replaces: str | None = None

    def __post_init__(self) -> None:
        unknown = set(self.optional) - OPTIONAL_CATEGORIES
        if unknown:
            raise InvalidConsentError(f"unknown cookie categories: {sorted(unknown)}")
        if not self.policy_version or len(self.policy_version) > POLICY_VERSION_LIMIT:
            raise InvalidConsentError("a policy version of 1 to 40 characters is needed")
        if not _SHA256_HEX.match(self.text_sha256):
            raise InvalidConsentError("text_sha256 must be 64 lower-case hex digits")
        if self.given_at.tzinfo is None or self.given_at.utcoffset() != dt.timedelta(0):
            raise InvalidConsentError("given_at must be an aware UTC time")
        if len(self.user_agent) > USER_AGENT_LIMIT:
            object.__setattr__(self, "user_agent", cut_user_agent(self.user_agent))
        if self.replaces is not None and not 0 < len(self.replaces) <= 64:
            raise InvalidConsentError("replaces must be a record id")

    def __repr__(self) -> str:  # the address and user agent are personal data
        return (
            f"ConsentGiven(optional={sorted(self.optional)!r}, "
            f"policy_version={self.policy_version!r}, method={self.method.value!r}, "
            f"given_at={self.given_at.isoformat()!r}, ip_truncated=***, user_agent=***, "
            f"replaces={self.replaces!r})"
        )


def cut_user_agent(user_agent: str) -> str:
    """A User-Agent header as kept: control characters dropped, at most
    ``USER_AGENT_LIMIT`` characters."""
    printable = "".join(ch for ch in user_agent if ch.isprintable())
    return printable[:USER_AGENT_LIMIT]


def truncate_ip(address: str) -> str:
    """The network an address belongs to, as kept in a consent record: an IPv4 address to
    its /24 (``203.0.113.77`` -> ``203.0.113.0``), an IPv6 address to its /48 (an IPv4-mapped
    IPv6 address as the IPv4 one); anything else (a Unix socket, a test client, garbage):
    ``"unknown"``."""
    try:
        parsed = ipaddress.ip_address(address.strip().split("%", 1)[0])
    except ValueError:
        return "unknown"
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    prefix = 24 if parsed.version == 4 else 48
    network = ipaddress.ip_network(f"{parsed}/{prefix}", strict=False)
    return str(network.network_address)


def consent_ended(given_at: dt.datetime, ended_at: dt.datetime | None) -> dt.datetime:
    """When a consent stopped holding: when it was replaced, or when its compliance cookie
    expired (``CONSENT_LIFETIME`` after it was given), whichever came first."""
    lapsed = given_at + CONSENT_LIFETIME
    return min(ended_at, lapsed) if ended_at is not None else lapsed


def kept_until(given_at: dt.datetime, ended_at: dt.datetime | None, proof_days: int) -> dt.datetime:
    """When a consent record is deleted: ``proof_days`` after its consent ended."""
    return consent_ended(given_at, ended_at) + dt.timedelta(days=proof_days)
