"""Tell a Friend's email (pure): a host's invitation to someone they know to try the service.

What the 2016 privacy policy promises the friend: the email says who sent it, carries the
sender's message (the standard wording, or their own), says how to sign up, and gives a way
to unsubscribe. The unsubscribe is one click (RFC 8058): ``List-Unsubscribe`` names an
HTTPS link and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` tells the mail client
to POST to it; a GET of the link (a mail scanner checking it) only shows a page with a
button. RFC 8058 also wants both headers covered by the message's DKIM signature: signing is
the outgoing mail server's job (its DKIM set-up must sign these two headers).

The sender's own message is plain text: control characters (but line ends and tabs) and
invisible formatting are removed, line ends made ``\\n``, and it is never put into HTML.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

MESSAGE_LIMIT = 1000  # characters of a sender's own message
STANDARD_WORDING = (
    "I use Callroster for my conference calls and thought you might like it too: people "
    "join by phone or from a browser, and everyone can see who is on the call."
)
_DROPPED = ("Cc", "Cf", "Cs", "Co")  # controls, invisible formatting, surrogates, private use


class FriendMessageError(ValueError):
    """Why a sender's own message was refused, in one sentence."""


def own_message(text: str) -> str:
    """A sender's own message, cleaned to plain text (see the module's docstring).

    Raises:
        FriendMessageError: empty once cleaned, or longer than ``MESSAGE_LIMIT`` characters.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    kept = "".join(
        c
        if c in "\n\t"
        else " "
        if unicodedata.category(c) in ("Zl", "Zp")
        else ""
        if unicodedata.category(c) in _DROPPED
        else c
        for c in unicodedata.normalize("NFC", text)
    )
    lines = [" ".join(line.split()) for line in kept.split("\n")]
    cleaned = "\n".join(lines).strip("\n ")
    while "\n\n\n" in cleaned:
        cleaned = cleaned.replace("\n\n\n", "\n\n")
    if not cleaned:
        raise FriendMessageError("Write a message, or choose the standard wording.")
    if len(cleaned) > MESSAGE_LIMIT:
        raise FriendMessageError(
            f"Your message is {len(cleaned)} characters; it may be {MESSAGE_LIMIT} at most."
        )
    return cleaned


def _one_line(text: str) -> str:
    """A name for a header: on one line, no control or invisible characters."""
    kept = "".join(
        " " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c
        for c in text
        if unicodedata.category(c) not in ("Cf", "Cs", "Co")
    )
    return " ".join(kept.split())[:120] or "Someone"


def subject_of(sender_name: str) -> str:
    return f"{_one_line(sender_name)} invites you to try Callroster"


def friend_email(
    *,
    sender_name: str,
    message: str,
    recipient: str,
    service_address: str,
    sign_up_url: str,
    unsubscribe_url: str,
    now: dt.datetime,
    domain: str,
) -> EmailMessage:
    """The email to the friend: From the service (``service_address``), never the sender,
    whose name is in the subject and the body; plain text only; the two unsubscribe headers
    of RFC 8058."""
    name = _one_line(sender_name)
    body = "\n".join(
        [
            f"{name} has invited you to try Callroster, and sent this message:",
            "",
            *(f"  {line}" if line else "" for line in message.split("\n")),
            "",
            f"To find out more or sign up: {sign_up_url}",
            "",
            f"We sent this email because {name} asked us to, and gave us your address. We "
            "will not email you again about it. To make sure no one can invite you through "
            f"Callroster again, unsubscribe: {unsubscribe_url}",
        ]
    )
    email = EmailMessage()
    email["Subject"] = subject_of(name)
    email["From"] = service_address
    email["To"] = recipient
    email["Date"] = format_datetime(now.astimezone(dt.UTC))
    email["Message-ID"] = make_msgid(domain=domain)
    email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies wanted
    email["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email.set_content(body + "\n")
    return email
