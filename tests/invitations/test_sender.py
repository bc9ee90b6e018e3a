"""The sender against a real SMTP server (aiosmtpd on 127.0.0.1): the message a guest gets
(text and HTML parts, the .ics attached, the guest PIN and the numbers, no host PIN, nothing
of another account, one recipient a message); a server answering 451, or down, leaves the
invitation retrying with its reason, and it is delivered once the server is back and the
back-off has passed (a fake clock, nothing sleeps); a refusal (550) fails it for good."""

from __future__ import annotations

import asyncio
import email
from email.message import EmailMessage
from email.policy import default
from typing import Any

import icalendar
import pytest
from tests.conftest import FakeClock
from tests.support.smtp import Mailbox, MailServerProcess

from callroster.accounts.actor import Actor, Role, operator_cli
from callroster.config import Settings
from callroster.invitations.sender import BACKOFF, InvitationSender, MailServer
from callroster.store.conferences import ConferenceView
from callroster.store.store import Store

OPERATOR = operator_cli("test")
GUESTS = ["marguerite.oyelaran@example.org", "tobias.vandermeer@example.net"]


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the store's part runs on both in tests/store/test_invitations.py


@pytest.fixture
def mail_settings(settings: Settings, mail_server: MailServerProcess) -> Settings:
    return settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": mail_server.port,
            "smtp_security": "none",
            "smtp_from": "invitations@callroster.test",
            "public_host": "meet.callroster.test",
        }
    )


def _conference(store: Store, name: str, number: str, title: str) -> tuple[Actor, ConferenceView]:
    account_id = store.accounts.create_account(OPERATOR, name, "london")
    host_id = store.accounts.create_user(OPERATOR, account_id, Role.HOST, "Grace Hopper")
    number_id = store.conferences.ensure_dial_in_number(number, "GB", "local")
    store.numbers.limit_account(OPERATOR, account_id, [number])  # its own number only
    conference_id = store.conferences.create_conference(
        OPERATOR, host_id, title, dial_in_number_ids=(number_id,)
    )
    host = Actor(host_id, Role.HOST, account_id, "192.0.2.7", "test")
    return host, store.conferences.get_conference(OPERATOR, conference_id)


def _queue(store: Store, host: Actor, conference: ConferenceView, addresses: list[str]) -> None:
    store.invitations.queue(
        host,
        conference.id,
        addresses,
        event_start=store.clock().replace(hour=15, minute=0),
        event_minutes=45,
        per_host_per_day=200,
    )


def _states(store: Store, host: Actor, conference: ConferenceView) -> dict[str, tuple[str, str]]:
    return {
        e.address: (e.status, e.last_error or "")
        for e in store.invitations.outbox(host, conference.id)
    }


async def test_each_guest_gets_the_invitation_and_nothing_else(
    store: Store, mail_settings: Settings, mail_server: MailServerProcess
) -> None:
    host, ours = _conference(store, "Hale & Partners LLP", "+442079460000", "Weekly review")
    _, theirs = _conference(store, "Other Ltd", "+442079460999", "Their secret board")
    _queue(store, host, ours, GUESTS)
    sender = InvitationSender(store, mail_settings, MailServer.of(mail_settings))

    assert await sender.send_due() == 2

    received = mail_server.mailbox.received
    assert sorted(to for to, _ in received) == [[GUESTS[0]], [GUESTS[1]]]
    for to, raw in received:
        message = email.message_from_bytes(raw, policy=default)
        assert isinstance(message, EmailMessage)
        assert message["To"] == to[0] and message["From"] == "invitations@callroster.test"
        assert message["Subject"] == "Invitation: Weekly review"
        assert message.get_content_type() == "multipart/mixed"
        text = message.get_body(("plain",))
        html = message.get_body(("html",))
        assert text is not None and html is not None
        plain = text.get_content()
        assert f"PIN: {ours.pin} #" in plain
        assert "United Kingdom: +44 20 7946 0000" in plain
        assert f"tel:+442079460000,,{ours.pin}#" in plain
        assert f"http://meet.callroster.test:{mail_settings.http_port}/c/{ours.web_link}" in plain
        assert f"tel:+442079460000,,{ours.pin}%23" in html.get_content()
        (attachment,) = list(message.iter_attachments())
        assert attachment.get_filename() == "invitation.ics"
        assert attachment.get_content_type() == "text/calendar"
        assert attachment.get_param("method") == "PUBLISH"
        calendar = icalendar.Calendar.from_ical(attachment.get_payload(decode=True))
        (event,) = calendar.walk("VEVENT")
        assert str(event["SUMMARY"]) == "Weekly review"
        assert f"PIN: {ours.pin} #" in str(event["DESCRIPTION"])
        whole = raw.decode("utf-8", "replace") + plain + html.get_content()
        assert ours.host_pin and ours.host_pin not in whole  # not the host PIN, anywhere
        for secret in (theirs.pin, theirs.host_pin or "-", theirs.web_link, "Their secret"):
            assert secret not in whole
        assert "+442079460999" not in whole and "7946 0999" not in whole
        assert not any(guest in whole for guest in GUESTS if guest != to[0])
    assert _states(store, host, ours) == {g: ("sent", "") for g in GUESTS}
    assert mail_server.mailbox.encrypted == [False, False]  # smtp_security "none" (control)


async def test_a_server_asking_to_wait_then_down_then_back(
    store: Store, clock: FakeClock, mail_settings: Settings, mail_server: MailServerProcess
) -> None:
    host, ours = _conference(store, "Hale & Partners LLP", "+442079460000", "Weekly review")
    _queue(store, host, ours, GUESTS[:1])
    sender = InvitationSender(store, mail_settings, MailServer.of(mail_settings))
    mailbox = mail_server.mailbox

    mailbox.answer = "451 4.3.0 Mailbox busy, try again later"
    assert await sender.send_due() == 0
    reason = "the mail server asked to try again later (451)"
    assert _states(store, host, ours) == {GUESTS[0]: ("retrying", reason)}
    assert await sender.send_due() == 0  # not before its time
    assert mailbox.received == []

    mail_server.stop()
    clock.advance(seconds=BACKOFF[0].total_seconds())
    assert await sender.send_due() == 0
    assert _states(store, host, ours) == {
        GUESTS[0]: ("retrying", "the mail server could not be reached")
    }
    (entry,) = store.invitations.outbox(host, ours.id)
    assert entry.attempts == 2 and entry.next_attempt_at == clock() + BACKOFF[1]

    mailbox.answer = "250 Message accepted for delivery"
    mail_server.start()
    clock.advance(seconds=BACKOFF[1].total_seconds())
    assert await sender.send_due() == 1
    assert [to for to, _ in mailbox.received] == [GUESTS[:1]]
    assert _states(store, host, ours) == {GUESTS[0]: ("sent", "")}


async def test_a_refused_address_fails_and_the_others_still_go(
    store: Store, mail_settings: Settings, mail_server: MailServerProcess
) -> None:
    host, ours = _conference(store, "Hale & Partners LLP", "+442079460000", "Weekly review")
    refused = "nobody@example.org"

    class Refusing(Mailbox):
        async def handle_RCPT(  # noqa: N802
            self, server: Any, session: Any, envelope: Any, address: str, options: Any
        ) -> str:
            if address == refused:
                return "550 5.1.1 <nobody@example.org>: no such user"
            envelope.rcpt_tos.append(address)
            return "250 OK"

    mail_server.stop()
    mail_server.mailbox = Refusing()
    mail_server.start()
    _queue(store, host, ours, [refused, *GUESTS])
    sender = InvitationSender(store, mail_settings, MailServer.of(mail_settings))
    assert await sender.send_due() == 2
    states = _states(store, host, ours)
    assert states[refused] == ("failed", "the mail server refused it (550)")
    assert states[GUESTS[0]] == states[GUESTS[1]] == ("sent", "")


async def test_the_task_serve_runs_sends_when_woken(
    store: Store, mail_settings: Settings, mail_server: MailServerProcess
) -> None:
    host, ours = _conference(store, "Hale & Partners LLP", "+442079460000", "Weekly review")
    sender = InvitationSender(store, mail_settings, MailServer.of(mail_settings))
    task = asyncio.create_task(sender.run(poll_seconds=3600))
    try:
        while sender.rounds < 1:  # the first round found nothing
            await asyncio.sleep(0.01)
        _queue(store, host, ours, GUESTS[:1])
        sender.wake()
        async with asyncio.timeout(10):
            while not mail_server.mailbox.received:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
    assert [to for to, _ in mail_server.mailbox.received] == [GUESTS[:1]]
