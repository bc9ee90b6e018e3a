"""A real SMTP server for the invitation tests: aiosmtpd on a loopback port, in a thread of
its own, which a test can stop (the server is down) and start again on the same port."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Mailbox:
    """What the SMTP server received, and what it answers to the next DATA."""

    received: list[tuple[list[str], bytes]] = field(default_factory=list)
    answer: str = "250 Message accepted for delivery"

    encrypted: list[bool] = field(default_factory=list)  # whether each came over TLS

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.answer.startswith("250"):
            self.received.append((list(envelope.rcpt_tos), bytes(envelope.content)))
            over_tls = server.transport.get_extra_info("ssl_object") is not None
            self.encrypted.append(over_tls or session.ssl is not None)
        return self.answer


class MailServerProcess:
    """aiosmtpd on a fixed loopback port, which can be stopped and started again; with
    ``tls``, it offers STARTTLS and refuses mail without it, or (``implicit``) speaks TLS
    from the first byte."""

    def __init__(
        self, mailbox: Mailbox, *, tls: ssl.SSLContext | None = None, implicit: bool = False
    ) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.mailbox = mailbox
        self._tls = tls
        self._implicit = implicit
        self._controller: Controller | None = None

    def start(self) -> None:
        options: dict[str, Any] = {}
        if self._tls is not None and self._implicit:
            options = {"ssl_context": self._tls}
        elif self._tls is not None:
            options = {"tls_context": self._tls, "require_starttls": True}
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port, **options)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def service_settings(self, sender: str) -> dict[str, str]:
        """The settings a service started by ``running_service`` sends its mail here with
        (plain SMTP), from ``sender``."""
        return {
            "smtp_host": "127.0.0.1",
            "smtp_port": str(self.port),
            "smtp_security": "none",
            "smtp_from": sender,
        }
