"""A conference's invitation for its guests, as plain text, as HTML and as an iCalendar
event (RFC 5545). Pure: the conference, the service's addresses and the times come in.

What a guest needs and nothing more: the room link, the access numbers with the guest PIN,
one-tap ``tel:`` strings for mobile phones (``tel:+442079460000,,12345678#``: dial, wait
twice, key the PIN and '#'), and the SIP addresses. Never the host PIN.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass
from html import escape

import phonenumbers
from phonenumbers import geocoder

from callroster.store.conferences import ConferenceView

PRODUCT_ID = "-//Callroster//Invitation//EN"
# RFC 5545 3.1: a content line is folded so that no line is longer than 75 octets.
LINE_OCTETS = 75


@dataclass(frozen=True)
class AccessNumber:
    """A number to dial: shown as ``display``, reached in one tap by ``one_tap``."""

    country: str  # "United Kingdom"; empty when unknown
    display: str  # "+44 20 7946 0000"
    note: str  # what the operator says of it: "toll-free", "London"; may be empty
    e164: str  # "+442079460000"
    pin: str

    @property
    def one_tap(self) -> str:
        """What a phone dials: the number, two pauses, the PIN and '#'."""
        return f"tel:{self.e164},,{self.pin}#"

    @property
    def one_tap_uri(self) -> str:
        """``one_tap`` as a URI ('#' is a fragment in a URI: RFC 3966 wants it escaped)."""
        return self.one_tap.replace("#", "%23")


@dataclass(frozen=True)
class Invitation:
    """What an invitation says. Build it with ``invitation_for``."""

    conference_id: str
    title: str
    pin: str
    room_url: str
    numbers: tuple[AccessNumber, ...]
    sip_dial_ins: tuple[str, ...]  # "sip:2000@example.net:5060", then the PIN
    sip_direct: str  # "sip:<PIN>@example.net:5060", straight in

    @property
    def subject(self) -> str:
        return f"Invitation: {_one_line(self.title)}"


def invitation_for(view: ConferenceView, *, web_base_url: str, sip_hostport: str) -> Invitation:
    """The guests' invitation to ``view``: its guest PIN (never the host PIN), its room link
    under ``web_base_url``, and its access numbers. A number in E.164 (``+44…``) is a phone
    number, with a one-tap string; any other (``2000``) is reached over SIP at
    ``sip_hostport``."""
    numbers: list[AccessNumber] = []
    sip: list[str] = []
    planned = {n.number: n for n in view.numbers}
    for number in view.dial_in_numbers:
        plan = planned.get(number)
        notes = (plan.kind == "toll_free" and "toll-free", plan.label) if plan else ()
        access = _phone_number(number, view.pin, ", ".join(n for n in notes if n))
        if access is None:
            sip.append(f"sip:{number}@{sip_hostport}")
        else:
            numbers.append(access)
    return Invitation(
        conference_id=view.id,
        title=_one_line(view.title),
        pin=view.pin,
        room_url=f"{web_base_url}/c/{view.web_link}",
        numbers=tuple(numbers),
        sip_dial_ins=tuple(sip),
        sip_direct=f"sip:{view.pin}@{sip_hostport}",
    )


def _phone_number(number: str, pin: str, note: str = "") -> AccessNumber | None:
    if not number.startswith("+"):
        return None
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return None
    return AccessNumber(
        country=_country_of(parsed),
        display=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
        e164=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
        note=note,
        pin=pin,
    )


def _country_of(number: phonenumbers.PhoneNumber) -> str:
    """The country's name in English; for a number of no one place (toll-free, mobile), its
    region's (+44 808: the United Kingdom), found through a geographic example number; empty
    for a number shared by countries (+1 800)."""
    name = geocoder.country_name_for_number(number, "en")
    region = phonenumbers.region_code_for_number(number)
    if name or not region:
        return str(name)
    example = phonenumbers.example_number(region)
    return str(geocoder.country_name_for_number(example, "en")) if example else ""


def _one_line(text: str) -> str:
    """A title on one line, without control or invisible formatting characters."""
    kept = "".join(
        " " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c
        for c in text
        if unicodedata.category(c) not in ("Cf", "Cs", "Co")
    )
    return " ".join(kept.split())


def as_text(invitation: Invitation) -> str:
    """The invitation as plain text, to copy into a message or a calendar entry."""
    lines = [
        f"You are invited to a conference call: {invitation.title}",
        "",
        "Join from your browser:",
        f"  {invitation.room_url}",
    ]
    if invitation.numbers:
        lines += ["", "Join by phone:"]
        lines += [f"  {_label(n)}{n.display}" for n in invitation.numbers]
        lines += [f"  PIN: {invitation.pin} #", "", "One tap from a mobile phone:"]
        lines += [f"  {_label(n)}{n.one_tap}" for n in invitation.numbers]
    lines += ["", "From a SIP phone or app:"]
    lines += [f"  {uri}  then PIN {invitation.pin} #" for uri in invitation.sip_dial_ins]
    lines += [f"  {invitation.sip_direct}  (straight in, no PIN to key)"]
    return "\n".join(lines) + "\n"


def _label(number: AccessNumber) -> str:
    """What is said before a number: its country, and the operator's note on it."""
    note = f" ({number.note})" if number.note else ""
    return f"{number.country}{note}: " if number.country or note else ""


def as_html(invitation: Invitation) -> str:
    """The invitation as an HTML fragment (the email's HTML part)."""
    e = escape
    parts = [
        f"<p>You are invited to a conference call: <strong>{e(invitation.title)}</strong></p>",
        "<h2>Join from your browser</h2>",
        f'<p><a href="{e(invitation.room_url)}">{e(invitation.room_url)}</a></p>',
    ]
    if invitation.numbers:
        rows = "".join(
            f'<li>{e(_label(n))}<a href="{e(n.one_tap_uri)}">{e(n.display)}</a></li>'
            for n in invitation.numbers
        )
        parts += [
            "<h2>Join by phone</h2>",
            f"<ul>{rows}</ul>",
            f"<p>PIN: <strong>{e(invitation.pin)} #</strong></p>",
            "<p>On a mobile phone, tap a number above: it dials the PIN for you.</p>",
        ]
    sip = "".join(
        f"<li><code>{e(uri)}</code> then PIN {e(invitation.pin)} #</li>"
        for uri in invitation.sip_dial_ins
    )
    parts += [
        "<h2>From a SIP phone or app</h2>",
        f"<ul>{sip}<li><code>{e(invitation.sip_direct)}</code> (straight in)</li></ul>",
    ]
    return "\n".join(parts) + "\n"


def as_html_document(invitation: Invitation) -> str:
    """``as_html`` as a whole document (an email's HTML part)."""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(invitation.subject)}</title></head>\n<body>\n"
        f"{as_html(invitation)}</body></html>\n"
    )


def as_ics(
    invitation: Invitation,
    *,
    start: dt.datetime,
    minutes: int,
    stamp: dt.datetime,
    domain: str,
) -> bytes:
    """An iCalendar object (RFC 5545) with one event: the call at ``start`` for ``minutes``,
    with the invitation's text as its description, the room link as its location and URL,
    and each way in as a CONFERENCE property (RFC 7986). ``stamp`` is DTSTAMP (now). The
    UID is the conference's and the start's, so a second download of the same call updates
    the calendar's entry rather than adding another. CRLF line ends, folded at 75 octets."""
    end = start + dt.timedelta(minutes=minutes)
    uid = f"{invitation.conference_id}-{_utc(start)}@{domain}"
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODUCT_ID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{escape_text(uid)}",
        f"DTSTAMP:{_utc(stamp)}",
        f"DTSTART:{_utc(start)}",
        f"DTEND:{_utc(end)}",
        f"SUMMARY:{escape_text(invitation.title)}",
        f"DESCRIPTION:{escape_text(as_text(invitation))}",
        f"LOCATION:{escape_text(invitation.room_url)}",
        f"URL:{invitation.room_url}",
        "CONFERENCE;VALUE=URI;FEATURE=AUDIO;"
        f'LABEL="{_param("Join from your browser")}":{invitation.room_url}',
    ]
    for number in invitation.numbers:
        label = _param(f"{_label(number)}{number.display}, PIN {number.pin}")
        lines.append(f'CONFERENCE;VALUE=URI;FEATURE=PHONE;LABEL="{label}":{number.one_tap_uri}')
    lines.append(f'CONFERENCE;VALUE=URI;FEATURE=AUDIO;LABEL="SIP":{invitation.sip_direct}')
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return b"".join(fold(line) for line in lines)


def _utc(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("a naive datetime in an invitation")
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def escape_text(value: str) -> str:
    """A TEXT value (RFC 5545 3.3.11): backslash, ';' and ',' escaped, line ends as ``\\n``,
    other control characters dropped."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    value = value.replace("\n", "\\n")
    return "".join(c for c in value if c == "\t" or unicodedata.category(c) != "Cc")


def _param(value: str) -> str:
    """A quoted parameter value (RFC 5545 3.2): no DQUOTE and no control characters."""
    return "".join(c for c in value if c != '"' and unicodedata.category(c) != "Cc")


def fold(line: str) -> bytes:
    """One content line, folded (RFC 5545 3.1): at most 75 octets a line, each continuation
    starting with a space, never splitting a UTF-8 character; every line ends with CRLF."""
    data = line.encode()
    out: list[bytes] = []
    limit = LINE_OCTETS
    while len(data) > limit:
        cut = limit
        while cut > 0 and (data[cut] & 0xC0) == 0x80:  # inside a UTF-8 character
            cut -= 1
        out.append(data[:cut])
        data = data[cut:]
        limit = LINE_OCTETS - 1  # the leading space counts
    out.append(data)
    return b"\r\n ".join(out) + b"\r\n"
