from __future__ import annotations

import pytest

from callroster.bridge.caller_id import CallerId, caller_id
from callroster.bridge.dtmf_info import digit_from_info
from callroster.sip.message import Request

BASE = (
    ("Via", "SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK1"),
    ("To", "<sip:2000@127.0.0.1>"),
    ("Call-ID", "c1"),
    ("CSeq", "1 INVITE"),
)


def _invite(*extra: tuple[str, str]) -> Request:
    return Request("INVITE", "sip:2000@127.0.0.1", (*BASE, *extra))


def test_number_from_p_asserted_identity_wins() -> None:
    request = _invite(
        ("From", "<sip:+447700900001@carrier.example>;tag=a"),
        ("P-Asserted-Identity", "<sip:+447700900002@carrier.example>"),
    )
    assert caller_id(request) == CallerId("+447700900002", False)


def test_number_from_from_header() -> None:
    assert caller_id(_invite(("From", '"Ada" <sip:07700900003@pbx.example>;tag=a'))) == (
        CallerId("07700900003", False)
    )


@pytest.mark.parametrize(
    "extra",
    [
        (("From", "<sip:+447700900001@carrier.example>;tag=a"), ("Privacy", "id")),
        (
            ("From", "<sip:+447700900001@carrier.example>;tag=a"),
            ("Privacy", "header;critical"),
            ("P-Asserted-Identity", "<sip:+447700900001@carrier.example>"),
        ),
        (("From", '"Anonymous" <sip:anonymous@anonymous.invalid>;tag=a'),),
        (
            ("From", "<sip:anonymous@carrier.example>;tag=a"),
            ("P-Asserted-Identity", "<sip:+447700900001@carrier.example>"),
        ),
    ],
)
def test_privacy_withholds_the_number(extra: tuple[tuple[str, str], ...]) -> None:
    assert caller_id(_invite(*extra)) == CallerId(None, True)


@pytest.mark.parametrize(
    ("content_type", "body", "digit"),
    [
        ("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n", "5"),
        ("application/dtmf-relay", b"Signal= #\r\n", "#"),
        ("application/dtmf-relay", b"Duration=160\r\n", None),
        ("application/dtmf", b"7", "7"),
        ("application/dtmf", b"11", "#"),
        ("application/dtmf", b"99", None),
        ("text/plain", b"5", None),
        ("application/dtmf-relay", b"Signal=\xff", None),
    ],
)
def test_digits_from_info(content_type: str, body: bytes, digit: str | None) -> None:
    request = Request(
        "INFO",
        "sip:x@127.0.0.1",
        (
            *BASE[:-1],
            ("From", "<sip:a@b>;tag=1"),
            ("CSeq", "2 INFO"),
            ("Content-Type", content_type),
        ),
        body,
    )
    assert digit_from_info(request) == digit
