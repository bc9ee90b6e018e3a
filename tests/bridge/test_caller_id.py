from __future__ import annotations

import pytest

from callroster.bridge.caller_id import CallerId, TrustedPeers, caller_id
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


CARRIER = TrustedPeers(("192.0.2.0/28", "2001:db8::5"))
ASSERTED = (
    ("From", "<sip:+447700900001@carrier.example>;tag=a"),
    ("P-Asserted-Identity", "<sip:+447700900002@carrier.example>"),
)


@pytest.mark.parametrize("source", ["192.0.2.1", "192.0.2.15", "2001:db8::5", "::ffff:192.0.2.3"])
def test_p_asserted_identity_from_a_trusted_peer_is_verified(source: str) -> None:
    assert caller_id(_invite(*ASSERTED), source, CARRIER) == CallerId("+447700900002", False, True)


@pytest.mark.parametrize(
    "source", ["192.0.2.16", "127.0.0.1", "2001:db8::6", "carrier.example", ""]
)
def test_p_asserted_identity_from_anyone_else_is_shown_unverified(source: str) -> None:
    assert caller_id(_invite(*ASSERTED), source, CARRIER) == CallerId("+447700900002", False)
    # With no trusted peers configured (the default), nobody's assertion is believed.
    assert caller_id(_invite(*ASSERTED), source) == CallerId("+447700900002", False)


def test_from_alone_is_never_verified_even_from_a_trusted_peer() -> None:
    request = _invite(("From", '"Ada" <sip:07700900003@pbx.example>;tag=a'))
    assert caller_id(request, "192.0.2.1", CARRIER) == CallerId("07700900003", False, False)
    assert caller_id(request) == CallerId("07700900003", False)


def test_a_bad_trusted_peer_fails_when_the_setting_is_read() -> None:
    with pytest.raises(ValueError):
        TrustedPeers(("carrier.example",))


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
    assert caller_id(_invite(*extra), "192.0.2.1", CARRIER) == CallerId(None, True)


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
