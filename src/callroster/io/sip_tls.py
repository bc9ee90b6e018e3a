"""The TLS of SIP (RFC 3261 26): the server context of the SIP TLS port, and the client
context the bridge verifies sips: trunks with. Built once at start from the settings; a file
that does not load stops ``serve`` with one line naming it (``ConfigError``).

- Server (``sip_tls_cert_file``/``sip_tls_key_file``): TLS 1.2 at least, Python's server
  defaults otherwise, the files checked and re-read when they change as the web's are
  (``io/certificates.py``, every ``tls_reload_seconds``). With ``sip_tls_client_ca_file``
  it asks for a client certificate (``CERT_OPTIONAL``): a phone without one is served as
  ever; a certificate presented is verified against that CA (one that fails ends the
  handshake), and a verified one marks the connection *certified*, which is what makes a
  ``sip_trusted_peers`` address trusted over TLS (``bridge/service.py``).
- Client (trunks): TLS 1.2 at least, the carrier's certificate and host name checked
  against the system's CA store, or only ``sip_tls_ca_file`` when set (a carrier with a
  private CA). Our own certificate, when we have one, is offered as the client certificate
  (carriers that want mutual TLS).

The SIP core never sees any of this (``sip/`` stays pure): to it TLS is a stream transport
named ``"tls"``; ``io/bridge_network.py`` does the handshakes with these contexts.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from callroster.config import Settings
from callroster.errors import ConfigError
from callroster.io.certificates import Reload, ServerCertificate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SipTls:
    """The contexts; ``server`` None when the bridge takes no SIP over TLS. ``certificate``
    is the TLS port's, re-read when its files change (:meth:`watch`)."""

    client: ssl.SSLContext
    server: ssl.SSLContext | None = None
    asks_client_certificates: bool = False
    certificate: ServerCertificate | None = None
    reload_seconds: float = 5.0

    async def watch(self) -> None:
        """Check the certificate files every ``reload_seconds``, until cancelled: a renewal
        is served to new connections (and offered to carriers) without a restart; a broken
        one is refused with one error line and the old one goes on (io/certificates.py)."""
        certificate = self.certificate
        if certificate is None:
            return
        while True:
            await asyncio.sleep(self.reload_seconds)
            if certificate.reload_if_changed() is Reload.RELOADED:
                try:
                    self.client.load_cert_chain(certificate.cert_file, certificate.key_file)
                except (OSError, ssl.SSLError) as exc:  # changed again since: next time
                    log.warning("SIP TLS client certificate not reloaded: %s", exc)

    @classmethod
    def from_settings(cls, settings: Settings) -> SipTls:
        """Raises:
        ConfigError: a file missing or not loadable, or a certificate without its key."""
        cert, key = settings.sip_tls_cert_file, settings.sip_tls_key_file
        if (cert is None) != (key is None):
            raise ConfigError("set both sip_tls_cert_file and sip_tls_key_file, or neither")
        client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        client.minimum_version = ssl.TLSVersion.TLSv1_2
        if settings.sip_tls_ca_file is not None:  # instead of the system's store
            client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            client.minimum_version = ssl.TLSVersion.TLSv1_2
            _load(client.load_verify_locations, "sip_tls_ca_file", settings.sip_tls_ca_file)
        server = certificate = None
        client_ca = settings.sip_tls_client_ca_file
        if cert is not None and key is not None:
            names = ("sip_tls_cert_file", "sip_tls_key_file")
            certificate = ServerCertificate(cert, key, "SIP TLS", names)  # TLS 1.2 and up
            server = certificate.context
            # No TLS 1.3 session tickets: sent with our first answer on a new connection,
            # they held it back by a delayed ACK (measured: 42 ms before the first response
            # to an asyncio client, 0.16 ms without); a phone keeps its one connection anyway.
            server.num_tickets = 0
            client.load_cert_chain(cert, key)
            if client_ca is not None:
                _load(server.load_verify_locations, "sip_tls_client_ca_file", client_ca)
                server.verify_mode = ssl.CERT_OPTIONAL
        elif client_ca is not None:
            raise ConfigError("sip_tls_client_ca_file needs sip_tls_cert_file: no TLS port")
        asks = server is not None and client_ca is not None
        return cls(client, server, asks, certificate, settings.tls_reload_seconds)


def _load(loader: Callable[[str], object], setting: str, path: Path) -> None:
    try:
        loader(str(path))
    except ssl.SSLError as exc:
        reason = _REASONS.get(exc.reason or "PEM_LIB", exc.reason or str(exc))
        raise ConfigError(f"{setting} {path}: cannot be loaded ({reason})") from None
    except (OSError, ValueError) as exc:
        said = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"{setting} {path}: cannot be loaded ({said})") from None


# OpenSSL's reasons, in words.
_REASONS = {
    "PEM_LIB": "no PEM certificate in it",
    "NO_CERTIFICATE_OR_CRL_FOUND": "no PEM certificate in it",
}
