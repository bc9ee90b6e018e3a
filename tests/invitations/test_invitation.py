"""The invitation's text, HTML and .ics, from a conference: what a guest needs (room link,
numbers, guest PIN, one-tap strings) and never the host PIN; the .ics read back by a
calendar library and checked by hand against RFC 5545 (CRLF, 75-octet folding, escaping)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import icalendar
import pytest

from callroster.invitations.invitation import (
    LINE_OCTETS,
    Invitation,
    as_html,
    as_ics,
    as_text,
    escape_text,
    fold,
    invitation_for,
)
from callroster.store.conferences import ConferenceView
from callroster.store.numbers import NumberView

PIN = "48213957"
HOST_PIN = "7305518264"
NOW = dt.datetime(2026, 12, 6, 20, 15, 3, tzinfo=dt.UTC)
START = dt.datetime(2026, 12, 8, 15, 30, tzinfo=dt.UTC)


def _view(title: str = "Quarterly review", numbers: tuple[str, ...] = ()) -> ConferenceView:
    return ConferenceView(
        id="7d1f3c9e-0000-4000-8000-000000000001",
        account_id="acc",
        host_id="host",
        title=title,
        pin=PIN,
        host_pin=HOST_PIN,
        web_link="Zq3rT0pLink",
        dial_in_numbers=numbers or ("+442079460000", "+12125550199", "+18005550199", "2000"),
        lock_by_default=False,
        record_by_default=False,
    )


def _invitation(title: str = "Quarterly review", numbers: tuple[str, ...] = ()) -> Invitation:
    return invitation_for(
        _view(title, numbers),
        web_base_url="https://meet.example.net",
        sip_hostport="meet.example.net:5060",
    )


def test_the_text_has_every_way_in_with_the_guest_pin_and_not_the_host_pin() -> None:
    text = as_text(_invitation())
    assert "Quarterly review" in text
    assert "https://meet.example.net/c/Zq3rT0pLink" in text
    assert "United Kingdom: +44 20 7946 0000" in text
    assert "United States: +1 212-555-0199" in text
    assert "United States: +1 800-555-0199" in text  # toll-free: no place, its country
    assert f"PIN: {PIN} #" in text
    assert f"tel:+442079460000,,{PIN}#" in text
    assert f"tel:+18005550199,,{PIN}#" in text
    assert f"sip:2000@meet.example.net:5060  then PIN {PIN} #" in text
    assert f"sip:{PIN}@meet.example.net:5060" in text
    assert HOST_PIN not in text


def test_the_html_links_each_number_for_one_tap_and_escapes_the_title() -> None:
    html = as_html(_invitation(title='Board <b>"Q4"</b> & co'))
    assert "Board &lt;b&gt;&quot;Q4&quot;&lt;/b&gt; &amp; co" in html
    assert "<b>" not in html
    assert f'href="tel:+442079460000,,{PIN}%23"' in html
    assert 'href="https://meet.example.net/c/Zq3rT0pLink"' in html
    assert HOST_PIN not in html


def test_the_ics_reads_back_as_one_event_with_the_call_in_it() -> None:
    title = "Équipe; budget, Q4 — a long title that will need folding in the calendar file"
    raw = as_ics(_invitation(title), start=START, minutes=45, stamp=NOW, domain="meet.example.net")
    calendar = icalendar.Calendar.from_ical(raw)
    assert calendar["VERSION"] == "2.0" and calendar["PRODID"]
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 1
    event = events[0]
    assert str(event["SUMMARY"]) == title
    assert event["DTSTART"].dt == START
    assert event["DTEND"].dt == START + dt.timedelta(minutes=45)
    assert event["DTSTAMP"].dt == NOW
    assert str(event["UID"]).endswith("@meet.example.net")
    assert str(event["URL"]) == "https://meet.example.net/c/Zq3rT0pLink"
    description = str(event["DESCRIPTION"])
    assert description == as_text(_invitation(title))  # escaping undone exactly
    conferences = event["CONFERENCE"]
    uris = [str(c) for c in conferences]
    assert f"tel:+442079460000,,{PIN}%23" in uris
    assert "https://meet.example.net/c/Zq3rT0pLink" in uris
    assert HOST_PIN.encode() not in raw


def test_the_same_call_downloaded_twice_has_the_same_uid() -> None:
    first = icalendar.Calendar.from_ical(
        as_ics(_invitation(), start=START, minutes=60, stamp=NOW, domain="d")
    )
    again = icalendar.Calendar.from_ical(
        as_ics(
            _invitation(), start=START, minutes=60, stamp=NOW + dt.timedelta(hours=1), domain="d"
        )
    )
    later = icalendar.Calendar.from_ical(
        as_ics(_invitation(), start=START + dt.timedelta(days=7), minutes=60, stamp=NOW, domain="d")
    )
    uid = [str(next(iter(c.walk("VEVENT")))["UID"]) for c in (first, again, later)]
    assert uid[0] == uid[1] != uid[2]


def test_the_ics_by_hand_crlf_and_no_line_longer_than_75_octets() -> None:
    title = "Ünïcödé " * 20  # two-octet characters across every fold
    raw = as_ics(_invitation(title), start=START, minutes=60, stamp=NOW, domain="d")
    assert raw.endswith(b"\r\n")
    lines = raw.split(b"\r\n")[:-1]
    assert all(b"\n" not in line and b"\r" not in line for line in lines)
    assert max(len(line) for line in lines) == LINE_OCTETS  # folding happened, at the limit
    for line in lines:
        assert len(line) <= LINE_OCTETS
        line.decode()  # no character split across a fold
    assert lines[0] == b"BEGIN:VCALENDAR" and lines[-1] == b"END:VCALENDAR"
    unfolded = raw.replace(b"\r\n ", b"").decode()
    assert f"SUMMARY:{escape_text(title.strip())}" in unfolded
    assert b"DTSTART:20261208T153000Z" in raw and b"DTSTAMP:20261206T201503Z" in raw


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("a;b,c\\d", "a\\;b\\,c\\\\d"),
        ("two\nlines\r\nthree", "two\\nlines\\nthree"),
        ("bell\x07gone", "bellgone"),
    ],
)
def test_text_values_are_escaped(value: str, escaped: str) -> None:
    assert escape_text(value) == escaped


def test_fold_keeps_short_lines_whole_and_splits_long_ones_with_a_space() -> None:
    assert fold("SUMMARY:short") == b"SUMMARY:short\r\n"
    folded = fold("X:" + "a" * 200)
    parts = folded.split(b"\r\n")
    assert parts[-1] == b"" and all(p.startswith(b" ") for p in parts[1:-1])
    assert [len(p) for p in parts[:-1]] == [75, 75, 54]
    assert folded.replace(b"\r\n ", b"") == ("X:" + "a" * 200).encode() + b"\r\n"


def test_a_title_with_line_ends_or_invisible_characters_stays_on_one_line() -> None:
    invitation = _invitation("Board\r\nmeeting\u202e")
    assert invitation.title == "Board meeting"
    assert invitation.subject == "Invitation: Board meeting"


def test_a_conference_with_sip_numbers_only_has_no_phone_section() -> None:
    text = as_text(_invitation(numbers=("2000",)))
    assert "Join by phone" not in text and "tel:" not in text
    assert f"sip:2000@meet.example.net:5060  then PIN {PIN} #" in text


def test_the_operators_word_on_a_number_is_shown_beside_it() -> None:
    view = dataclasses.replace(
        _view(numbers=("+442079460000", "+448081570000")),
        numbers=(
            NumberView("n1", "+442079460000", "GB", "toll", "london", "London"),
            NumberView("n2", "+448081570000", "GB", "toll_free", "london", None),
        ),
    )
    text = as_text(
        invitation_for(view, web_base_url="https://m.example", sip_hostport="m.example:5060")
    )
    assert "United Kingdom (London): +44 20 7946 0000" in text
    assert "United Kingdom (toll-free): +44 808 157 0000" in text
