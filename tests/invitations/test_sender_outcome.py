"""What a failed attempt does to an invitation (pure): a refusal of the message fails it at
once; the server down, slow or asking to wait (4xx) retries it after a growing delay, then
gives up; the server's text (which may repeat the address) is never kept."""

from __future__ import annotations

import datetime as dt

import aiosmtplib

from callroster.invitations.sender import BACKOFF, outcome_of

NOW = dt.datetime(2026, 12, 6, 20, 0, tzinfo=dt.UTC)


def test_sent() -> None:
    assert outcome_of(None, 0, NOW).sent


def test_a_refused_recipient_fails_at_once_without_the_servers_text() -> None:
    error = aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(550, "5.1.1 <bob@example.org> unknown", "bob@example.org")]
    )
    outcome = outcome_of(error, 0, NOW)
    assert not outcome.sent and outcome.retry_at is None
    assert outcome.reason == "the mail server refused it (550)"
    assert "bob" not in outcome.reason and not outcome.connection_failed


def test_try_again_later_is_retried_after_a_growing_delay_then_given_up() -> None:
    error = aiosmtplib.SMTPDataError(451, "4.3.0 try again later")
    waits = [outcome_of(error, n, NOW).retry_at for n in range(len(BACKOFF))]
    assert [w - NOW for w in waits if w] == list(BACKOFF)
    assert BACKOFF[0] == dt.timedelta(minutes=1) and BACKOFF[-1] == dt.timedelta(hours=4)
    last = outcome_of(error, len(BACKOFF), NOW)
    assert last.retry_at is None
    assert last.reason == "the mail server asked to try again later (451); gave up after 9 tries"
    assert not outcome_of(error, 0, NOW).connection_failed  # about this message only


def test_a_server_that_is_down_holds_the_whole_round() -> None:
    for error in (ConnectionRefusedError(111, "refused"), aiosmtplib.SMTPConnectError("no")):
        outcome = outcome_of(error, 0, NOW)
        assert outcome.reason == "the mail server could not be reached"
        assert outcome.retry_at == NOW + BACKOFF[0] and outcome.connection_failed


def test_a_refused_sign_in_is_retried_for_the_operator_to_fix() -> None:
    outcome = outcome_of(aiosmtplib.SMTPAuthenticationError(535, "bad credentials"), 2, NOW)
    assert outcome.reason == "the mail server did not accept our sign-in"
    assert outcome.retry_at == NOW + BACKOFF[2] and outcome.connection_failed
