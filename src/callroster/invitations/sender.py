"""The sender task ``serve`` runs: takes the due invitations from the store's outbox and sends
each, one message per address, through the configured mail server (aiosmtplib).

What a failure does to an invitation (``outcome_of``):

- the server refuses it for good (a 5xx reply): failed, with the reply code;
- the server is down, unreachable, slow, or answers 4xx (451 "try again later"): retried
  after ``BACKOFF`` (1, 2, 5, 15, 30 minutes, then 1, 2 and 4 hours), then failed; when the
  connection itself fails, the other invitations due in that round wait with it rather than
  each trying again;
- TLS fails (``smtp_security`` starttls or tls): the server's certificate is not signed by
  an authority the system or ``smtp_ca_file`` trusts, is for another name than
  ``smtp_host``, or the server does not offer STARTTLS: nothing is sent, never in clear text
  nor unchecked; the invitation stays queued, retried as above, with the reason recorded.

The reply's text is never kept: it may repeat the address.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import TypeVar

import aiosmtplib

from callroster.accounts.actor import Actor, system
from callroster.config import Settings
from callroster.errors import ConfigError, NotFoundError
from callroster.invitations.friend import friend_email
from callroster.invitations.invitation import Invitation, invitation_for
from callroster.invitations.message import invitation_email
from callroster.store.friend_invitations import DueFriendEmail
from callroster.store.invitations import DueEmail
from callroster.store.store import Store
from callroster.tls_failure import tls_failure

log = logging.getLogger(__name__)
SENDER = system("send invitation emails")
BACKOFF = tuple(
    dt.timedelta(minutes=m) for m in (1, 2, 5, 15, 30, 60, 120, 240)
)  # after the 1st, 2nd, ... failed attempt
LEASE = dt.timedelta(minutes=10)  # a taken invitation is tried again if not marked by then
POLL_SECONDS = 30.0  # how often the outbox is looked at without being woken
_Due = TypeVar("_Due", DueEmail, DueFriendEmail)


@dataclass(frozen=True)
class MailServer:
    """Where invitations go and how (``Settings.smtp_*``)."""

    host: str
    port: int
    security: str  # starttls | tls | none
    username: str | None
    password: str | None = field(repr=False)  # never in a log line
    sender: str
    ca_file: Path | None = None
    timeout: float = 30.0

    @classmethod
    def of(cls, settings: Settings) -> MailServer | None:
        if not settings.smtp_host:
            return None
        password = settings.smtp_password
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=password.get_secret_value() if password else None,
            sender=settings.invitation_sender,
            ca_file=settings.smtp_ca_file,
        )

    def client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            use_tls=self.security == "tls",
            start_tls=self.security == "starttls",
            username=self.username,
            password=self.password,
            timeout=self.timeout,
            tls_context=self._tls() if self.security != "none" else None,
        )

    def check(self) -> None:
        """Read ``ca_file`` now, so a bad one stops ``serve`` at start instead of every
        invitation failing as "could not be reached".

        Raises:
            ConfigError: ``ca_file`` cannot be read or holds no certificate.
        """
        if self.ca_file is None or self.security == "none":
            return
        try:
            self._tls()
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
            raise ConfigError(
                f"bad setting smtp_ca_file: {self.ca_file} holds no readable PEM "
                f"certificates ({reason})"
            ) from None

    def _tls(self) -> ssl.SSLContext:
        """The system's trusted CAs, and ``ca_file``'s; the name is always checked."""
        context = ssl.create_default_context()
        if self.ca_file is not None:
            context.load_verify_locations(cafile=self.ca_file)
        return context


@dataclass(frozen=True)
class Outcome:
    """What to record after an attempt: sent, or why not and when to try again (None: never)."""

    sent: bool
    reason: str = ""
    retry_at: dt.datetime | None = None
    connection_failed: bool = False


_TLS_REASONS = {
    "untrusted": "the mail server's certificate is not trusted ({})",
    "wrong_name": "the mail server's certificate is not for smtp_host",
    "handshake": "TLS with the mail server failed ({})",
}


def outcome_of(error: Exception | None, attempts_before: int, now: dt.datetime) -> Outcome:
    """The outcome of an attempt that raised ``error`` (None: sent), the invitation having
    failed ``attempts_before`` times already."""
    if error is None:
        return Outcome(sent=True)
    code = getattr(error, "code", None)
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused) and error.recipients:
        code = error.recipients[0].code
    # Refusals of this message (sender, recipient, content) are about it alone; anything
    # else (no connection, no greeting, our sign-in refused) is about the server, and the
    # other invitations of the round would meet it too.
    about_message = isinstance(
        error,
        aiosmtplib.SMTPRecipientsRefused
        | aiosmtplib.SMTPRecipientRefused
        | aiosmtplib.SMTPSenderRefused
        | aiosmtplib.SMTPDataError,
    )
    tls = tls_failure(error)
    if isinstance(error, aiosmtplib.SMTPAuthenticationError):
        reason = "the mail server did not accept our sign-in"
    elif about_message and isinstance(code, int) and 500 <= code < 600:
        return Outcome(sent=False, reason=f"the mail server refused it ({code})")
    elif isinstance(code, int) and 400 <= code < 500:
        reason = f"the mail server asked to try again later ({code})"
    elif tls is not None:
        reason = _TLS_REASONS[tls.kind].format(tls.detail)
    elif code is None and "STARTTLS extension not supported" in str(error):
        reason = "the mail server does not offer STARTTLS (smtp_security); nothing was sent"
    else:
        reason = "the mail server could not be reached"
    if attempts_before >= len(BACKOFF):
        tries = attempts_before + 1
        return Outcome(sent=False, reason=f"{reason}; gave up after {tries} tries")
    return Outcome(
        sent=False,
        reason=reason,
        retry_at=now + BACKOFF[attempts_before],
        connection_failed=not about_message,
    )


class InvitationSender:
    """Sends what the outbox holds: ``send_due`` once, or ``run`` until cancelled (woken by
    ``wake`` when a host queues a list, else every ``POLL_SECONDS``).

    Args:
        store: the store (its outbox, conferences and clock).
        settings: the service's addresses (links, SIP) and mail server.
        server: where to send; None (no mail server configured) sends nothing.
    """

    def __init__(
        self,
        store: Store,
        settings: Settings,
        server: MailServer | None,
        *,
        actor: Actor = SENDER,
    ) -> None:
        self._store = store
        self._settings = settings
        self.server = server
        self._actor = actor
        self._wake = asyncio.Event()
        self.rounds = 0  # finished rounds, for tests to wait on

    def wake(self) -> None:
        self._wake.set()

    async def run(self, poll_seconds: float = POLL_SECONDS) -> None:
        while True:
            try:
                await self.send_due()
                await asyncio.to_thread(self._store.invitations.purge)
                await asyncio.to_thread(self._store.friend_invitations.forget_senders)
            except Exception:
                log.exception("invitations: a sending round failed")
            self.rounds += 1
            try:
                await asyncio.wait_for(self._wake.wait(), poll_seconds)
            except TimeoutError:
                pass
            self._wake.clear()

    async def send_due(self) -> int:
        """Send every email due now, conference invitations and then Tell a Friend ones;
        returns how many were sent."""
        if self.server is None:
            return 0
        store = self._store
        sent = 0
        due = await asyncio.to_thread(store.invitations.take_due, self._actor, lease=LEASE)
        if due:
            made: dict[str, Invitation] = {}
            sent += await self._deliver(
                due,
                lambda email: self._message(email, made),
                store.invitations.mark_sent,
                store.invitations.mark_failed,
            )
            log.info("invitations: %d of %d sent", sent, len(due))
        friends = await asyncio.to_thread(
            store.friend_invitations.take_due, self._actor, lease=LEASE
        )
        if friends:
            done = await self._deliver(
                friends,
                self._friend_message,
                store.friend_invitations.mark_sent,
                store.friend_invitations.mark_failed,
            )
            log.info("tell a friend: %d of %d sent", done, len(friends))
            sent += done
        return sent

    async def _deliver(
        self,
        due: Sequence[_Due],
        message_of: Callable[[_Due], EmailMessage],
        mark_sent: Callable[[Actor, str], None],
        mark_failed: Callable[[Actor, str, str, dt.datetime | None], None],
    ) -> int:
        """Send each of ``due`` over one connection and record each outcome; once the
        server is down, the rest wait with the one that found it so."""
        assert self.server is not None
        clock = self._store.clock
        sent = 0
        client: aiosmtplib.SMTP | None = None
        down: Outcome | None = None

        async def record(email: _Due, outcome: Outcome) -> None:
            if outcome.sent:
                await asyncio.to_thread(mark_sent, self._actor, email.id)
            else:
                await asyncio.to_thread(
                    mark_failed, self._actor, email.id, outcome.reason, outcome.retry_at
                )

        try:
            for email in due:
                if down is not None:
                    await record(email, outcome_of(OSError(), email.attempts, clock()))
                    continue
                error: Exception | None = None
                try:
                    message = await asyncio.to_thread(message_of, email)
                    if client is None or not client.is_connected:
                        client = self.server.client()
                        await client.connect()
                    await client.send_message(message)
                except (aiosmtplib.SMTPException, OSError) as exc:
                    error = exc
                    await _close(client)
                    client = None
                except NotFoundError:
                    await asyncio.to_thread(
                        mark_failed, self._actor, email.id, "the conference was deleted", None
                    )
                    continue
                outcome = outcome_of(error, email.attempts, clock())
                await record(email, outcome)
                sent += outcome.sent
                if outcome.connection_failed:
                    down = outcome
        finally:
            await _close(client)
        return sent

    def _friend_message(self, email: DueFriendEmail) -> EmailMessage:
        """A Tell a Friend email: its unsubscribe link under the service's public address."""
        settings = self._settings
        assert self.server is not None
        base = settings.web_base_url
        return friend_email(
            sender_name=email.sender_name,
            message=email.message,
            recipient=email.address,
            service_address=self.server.sender,
            sign_up_url=f"{base}/",
            unsubscribe_url=f"{base}/unsubscribe/{email.token}",
            now=self._store.clock(),
            domain=settings.host_for_links,
        )

    def _message(self, email: DueEmail, made: dict[str, Invitation]) -> EmailMessage:
        """The message to one guest; the conference is read once a round (``made``)."""
        settings = self._settings
        invitation = made.get(email.conference_id)
        if invitation is None:
            conference = self._store.conferences.get_conference(self._actor, email.conference_id)
            invitation = made[email.conference_id] = invitation_for(
                conference, web_base_url=settings.web_base_url, sip_hostport=settings.sip_hostport
            )
        assert self.server is not None
        return invitation_email(
            invitation,
            sender=self.server.sender,
            recipient=email.address,
            start=email.event_start,
            minutes=email.event_minutes,
            now=self._store.clock(),
            domain=settings.host_for_links,
        )


async def _close(client: aiosmtplib.SMTP | None) -> None:
    """Close a connection, politely if it still answers."""
    if client is not None and client.is_connected:
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            client.close()
