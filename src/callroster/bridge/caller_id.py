"""Who is calling: the number from P-Asserted-Identity, else From; withheld when the caller
asked for privacy (``Privacy: id``/``header``/``user``, or an anonymous From). Pure."""

from __future__ import annotations

from dataclasses import dataclass

from callroster.sip.message import BadRequest, Request
from callroster.sip.uri import parse_name_addr, parse_uri

PRIVACY_VALUES = {"id", "header", "user"}


@dataclass(frozen=True)
class CallerId:
    number: str | None  # as signalled (SIP user part or tel: number); None when withheld
    withheld: bool


def _user_of(value: str | None) -> tuple[str | None, str]:
    if not value:
        return None, ""
    try:
        uri = parse_uri(parse_name_addr(value).uri)
    except (BadRequest, ValueError):
        return None, ""
    return uri.user, uri.host.lower()


def caller_id(request: Request) -> CallerId:
    privacy = {p.strip().lower() for p in (request.get("Privacy") or "").split(";")}
    if privacy & PRIVACY_VALUES:
        return CallerId(None, True)
    from_user, from_host = _user_of(request.get("From"))
    if (from_user or "").lower() == "anonymous" or from_host == "anonymous.invalid":
        return CallerId(None, True)
    asserted, _ = _user_of(request.get("P-Asserted-Identity"))
    number = asserted or from_user
    return CallerId(number or None, False)
