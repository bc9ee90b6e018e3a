"""Where a dial-out call goes (a number through a trunk), and what its failure means to the
host watching the roster."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from callroster.sip.digest import Credentials

MAX_CALL_SECONDS = 4 * 3600.0


@dataclass(frozen=True)
class DialTarget:
    """One number to call, through one trunk. ``credentials`` answer the trunk's 401/407
    digest challenges; never shown in ``repr``."""

    number: str  # E.164
    host: str
    port: int = 5060
    transport: Literal["udp", "tcp", "tls"] = "udp"  # tls: the trunk's certificate checked
    caller_id: str | None = None
    trunk_id: str | None = None
    credentials: Credentials | None = field(default=None, repr=False)
    # The longest the callee may stay on the call once on it (``dial_out_max_seconds``): a
    # call nobody ends must not run up a carrier's bill for days.
    max_seconds: float = MAX_CALL_SECONDS
    trunk_name: str | None = None  # for the log line of a refused certificate
    # SRTP towards the callee (keys only over TLS, bridge/srtp_policy.py): None is "offer"
    # over TLS (RTP/AVP with a=crypto: SRTP if the far end does it, plain RTP if not) and
    # "off" otherwise; "require" offers RTP/SAVP, which a far end without SRTP refuses.
    srtp: Literal["off", "offer", "require"] | None = None

    @property
    def srtp_mode(self) -> Literal["off", "offer", "require"]:
        """What SRTP the call offers: never any without TLS."""
        if self.transport != "tls":
            return "off"
        return self.srtp or "offer"

    @property
    def request_uri(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        suffix = "" if self.transport == "udp" else f";transport={self.transport}"
        return f"sip:{self.number}@{host}:{self.port}{suffix}"


def dial_failure(status: int) -> str:
    """The roster's reason for a final failure response to our INVITE (RFC 3261 21)."""
    if status in (486, 600):
        return "busy"
    if status in (603, 607):
        return "declined"
    if status in (408, 480, 487):
        return "no_answer"
    return "failed"


CERTIFICATE_REFUSED = "certificate_refused"
"""Why a call through a TLS trunk was never placed: the carrier's certificate failed
verification (the roster's ``left_reason``; the call record's outcome is ``failed``)."""
