"""Sends a data-subject request's one-time code (issue 15) to the email or number on record:
email through the configured mail server (aiosmtplib, ``Settings.smtp_*``, as invitations
are sent); a text message through an ``SmsSender``.

**There is no real SMS adapter yet.** Sending text messages needs a paid outside carrier
service, and none is wired in: the only ``SmsSender`` shipped is ``RecordingSmsSender``, a
test double that keeps the messages in memory. A service without one answers a request by
phone number exactly as one by email (the same page), but no code can reach the person, so
such a request cannot be verified; the operator documentation says so.

Failures are logged without the address or the code, and never change the requester's
answer (which was given before sending began).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib

from callroster.invitations.sender import MailServer
from callroster.privacy.subject_requests import CODE_LIFETIME, KIND_LABELS, Channel
from callroster.store.privacy_requests import CodeDelivery

log = logging.getLogger(__name__)


class SmsSender(Protocol):
    """Sends one text message to an E.164 number. No carrier adapter exists yet."""

    async def send(self, number: str, text: str) -> None: ...


@dataclass
class RecordingSmsSender:
    """The test double: records ``(number, text)`` instead of sending. Not for production."""

    messages: list[tuple[str, str]] = field(default_factory=list)

    async def send(self, number: str, text: str) -> None:
        self.messages.append((number, text))


def code_text(code: str, kind_label: str) -> str:
    minutes = int(CODE_LIFETIME.total_seconds() // 60)
    return (
        f"Your Callroster privacy request code is {code}. It works for {minutes} minutes.\n"
        f"Request: {kind_label}.\n"
        "If you did not ask for this, ignore this message; nothing happens without the code."
    )


class CodeSender:
    """Sends codes by email (``mail``; None: no mail server) and text (``sms``; None)."""

    def __init__(self, mail: MailServer | None, sms: SmsSender | None, sender: str) -> None:
        self.mail = mail
        self.sms = sms
        self._from = sender
        self.sent = 0  # codes handed to a server, for tests to wait on

    async def send(self, delivery: CodeDelivery, kind_label: str) -> None:
        text = code_text(delivery.code, kind_label)
        try:
            if delivery.channel is Channel.EMAIL:
                if self.mail is None:
                    log.warning("privacy request: no mail server (smtp_host); code not sent")
                    return
                message = EmailMessage()
                message["From"] = self._from
                message["To"] = delivery.address
                message["Subject"] = "Your Callroster privacy request code"
                message.set_content(text)
                client = self.mail.client()
                async with client:
                    await client.send_message(message)
            else:
                if self.sms is None:
                    log.warning("privacy request: no text message sender; code not sent")
                    return
                await self.sms.send(delivery.address, text)
            self.sent += 1
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.warning("privacy request: the code could not be sent (%s)", type(exc).__name__)


__all__ = ["KIND_LABELS", "CodeSender", "RecordingSmsSender", "SmsSender", "code_text"]
