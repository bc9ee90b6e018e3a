"""Tell a Friend's email, pure: the sender's own message is cleaned to plain text within its
limit, the sender's name cannot break out of the subject, and the message carries RFC 8058's
two headers and a plain unsubscribe link, and no HTML part."""

from __future__ import annotations

import datetime as dt
import email
from email.policy import default

import pytest

from callroster.invitations.friend import (
    MESSAGE_LIMIT,
    FriendMessageError,
    friend_email,
    own_message,
    subject_of,
)

NOW = dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC)
LINK = "https://meet.example/unsubscribe/crun_abc"


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("Hello  there ", "Hello there"),
        ("a\r\nb\rc", "a\nb\nc"),
        ("one\n\n\n\n\ntwo", "one\n\ntwo"),
        ("bell\x07 and \x1b[31mred", "bell and [31mred"),
        ("right\u202eto\u2066left\u200b", "righttoleft"),
        ("<script>alert(1)</script>", "<script>alert(1)</script>"),  # text, never HTML
        ("line\u2028sep", "line sep"),
        ("x" * MESSAGE_LIMIT, "x" * MESSAGE_LIMIT),
    ],
)
def test_an_own_message_is_cleaned(typed: str, kept: str) -> None:
    assert own_message(typed) == kept


@pytest.mark.parametrize("typed", ["", "   ", "\u200b\u202e", "x" * (MESSAGE_LIMIT + 1)])
def test_an_empty_or_long_message_is_refused(typed: str) -> None:
    with pytest.raises(FriendMessageError):
        own_message(typed)


def test_the_senders_name_stays_on_its_line() -> None:
    assert subject_of("Ada\r\nBcc: everyone@example.org") == (
        "Ada Bcc: everyone@example.org invites you to try Callroster"
    )
    assert subject_of("\x00") == "Someone invites you to try Callroster"


def test_the_email_has_the_one_click_headers_and_a_plain_link() -> None:
    message = friend_email(
        sender_name="Ada Lovelace",
        message="Try it\n\nAda",
        recipient="friend@example.org",
        service_address="hello@meet.example",
        sign_up_url="https://meet.example/",
        unsubscribe_url=LINK,
        now=NOW,
        domain="meet.example",
    )
    parsed = email.message_from_bytes(message.as_bytes(), policy=default)
    assert parsed["From"] == "hello@meet.example" and parsed["To"] == "friend@example.org"
    assert parsed["Subject"] == "Ada Lovelace invites you to try Callroster"
    assert parsed["List-Unsubscribe"] == f"<{LINK}>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed.get_content_type() == "text/plain" and not parsed.is_multipart()
    body = parsed.get_content().replace("\r\n", "\n")
    assert "Ada Lovelace has invited you" in body and "  Try it\n\n  Ada\n" in body
    assert LINK in body and "https://meet.example/" in body
