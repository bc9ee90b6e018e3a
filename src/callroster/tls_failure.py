"""Why a TLS connection we opened failed, in words an operator can act on.

Outgoing TLS (CRM webhooks, the mail server) fails inside a library that wraps the ``ssl``
module's error in its own (httpx's ``ConnectError``, aiosmtplib's ``SMTPConnectError``, or
none). ``tls_failure`` walks the chain of causes to that error and sorts it:

- ``untrusted``: the certificate is not signed by an authority we trust, is expired, or is
  otherwise refused by the check (``detail`` is OpenSSL's reason, e.g. "unable to get local
  issuer certificate");
- ``wrong_name``: the certificate is valid but for another host name or address;
- ``handshake``: TLS itself failed (the peer does not speak TLS, no common version).

``detail`` never holds a host name, address or URL: callers may record it where a host sees it.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Literal

__all__ = ["TlsFailure", "tls_failure"]

# X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_EMAIL_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
_NAME_MISMATCH = (62, 63, 64)


@dataclass(frozen=True)
class TlsFailure:
    kind: Literal["untrusted", "wrong_name", "handshake"]
    detail: str


def tls_failure(error: BaseException) -> TlsFailure | None:
    """The TLS failure behind ``error`` (it, or one of its causes); None if TLS is not why."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ssl.SSLCertVerificationError):
            if cause.verify_code in _NAME_MISMATCH:
                return TlsFailure("wrong_name", "certificate for another name")
            return TlsFailure("untrusted", cause.verify_message or "certificate verify failed")
        if isinstance(cause, ssl.SSLError):
            return TlsFailure("handshake", cause.reason or type(cause).__name__)
        cause = cause.__cause__ or cause.__context__
    return None
