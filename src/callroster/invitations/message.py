"""An invitation as an email (pure): one message per recipient, so no guest sees who else
was invited; plain text and HTML alternatives, and the ``.ics`` attached."""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from callroster.invitations.invitation import Invitation, as_html_document, as_ics, as_text


def invitation_email(
    invitation: Invitation,
    *,
    sender: str,
    recipient: str,
    start: dt.datetime,
    minutes: int,
    now: dt.datetime,
    domain: str,
) -> EmailMessage:
    """The message to ``recipient``: ``multipart/mixed`` of ``multipart/alternative`` (text,
    HTML) and ``invitation.ics`` (``text/calendar; method=PUBLISH``)."""
    message = EmailMessage()
    message["Subject"] = invitation.subject
    message["From"] = sender
    message["To"] = recipient
    message["Date"] = format_datetime(now.astimezone(dt.UTC))
    message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies wanted
    message.set_content(as_text(invitation))
    message.add_alternative(as_html_document(invitation), subtype="html")
    message.add_attachment(
        as_ics(invitation, start=start, minutes=minutes, stamp=now, domain=domain),
        maintype="text",
        subtype="calendar",
        params={"method": "PUBLISH", "charset": "utf-8"},
        filename="invitation.ics",
    )
    return message
