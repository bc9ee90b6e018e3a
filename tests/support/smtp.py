"""A real SMTP server for the invitation tests: aiosmtpd on a loopback port, in a thread of
its own, which a test can stop (the server is down) and start again on the same port."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Mailbox:
    """What the SMTP server received, and what it answers to the next DATA."""

    received: list[tuple[list[str], bytes]] = field(default_factory=list)
    answer: str = "250 Message accepted for delivery"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.answer.startswith("250"):
            self.received.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return self.answer


class MailServerProcess:
    """aiosmtpd on a fixed loopback port, which can be stopped and started again."""

    def __init__(self, mailbox: Mailbox) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.mailbox = mailbox
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
