"""When a call's media is SRTP, and when a clear-text call is refused.

- Keys only over TLS: SDES puts the SRTP keys in the SDP, in the clear on UDP or TCP, where
  anyone on the path could read them. So the bridge makes and takes ``a=crypto`` only on a
  call signalled over TLS; an RTP/SAVP offer over UDP or TCP is refused (488 and a Warning
  saying why, :class:`SrtpNeedsTls`), and ``a=crypto`` on an RTP/AVP offer is ignored there
  (answered as plain RTP).
- An account's policy (``srtp`` in its settings): ``offered`` (the default) gives SRTP to
  every caller who offers it over TLS and plain RTP to the rest; ``required`` lets no
  clear-text caller onto its conferences. Where the account is known from the INVITE (an
  access number only that account, or only such accounts, answer on) the call is refused
  with 488 (:class:`SrtpRequired`); otherwise, once the PIN says whose conference it is,
  the caller is told and hung up before joining. A PIN in the request URI is treated as
  keyed, not refused at INVITE time: a 488 for a right PIN and a 200 for a wrong one would
  tell a guesser which PINs are right.
"""

from __future__ import annotations

from callroster.sdp.session import SdpError

SECURE_TRANSPORT = "tls"

REFUSED_SPOKEN = (
    "This conference takes only encrypted calls. Please call again from a phone set up"
    " for secure calling. Goodbye."
)
"""What a clear-text caller to a ``required`` account hears before the bridge hangs up."""


def is_secure(transport: str) -> bool:
    """Whether SIP arrived over a transport the SRTP keys may travel on."""
    return transport == SECURE_TRANSPORT


class SrtpNeedsTls(SdpError):
    """RTP/SAVP offered over clear signalling: 488, warn-code 399."""

    def __init__(self) -> None:
        super().__init__("SRTP offered over clear-text signalling", warning=399)

    @property
    def warning_text(self) -> str:
        return "SRTP keys are exchanged only over TLS (sips:)"


class SrtpRequired(SdpError):
    """A clear-text call to a conference line whose accounts require SRTP: 488, 399."""

    def __init__(self) -> None:
        super().__init__("clear-text call where SRTP is required", warning=399)

    @property
    def warning_text(self) -> str:
        return "Encrypted media required: call over TLS (sips:) with SRTP"
