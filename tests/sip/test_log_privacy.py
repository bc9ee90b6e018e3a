"""What the SIP layer logs about a message it refuses: the status and the kind of error, never
the offending header, which carries the caller's name and number (a parse error quotes it)."""

from __future__ import annotations

import logging

import pytest
from tests.sip.peers import SDP, bridge, counter_ids
from tests.support.log_scan import build_scanner

from callroster.sip.endpoint import CallFailed, SipEndpoint
from callroster.sip.message import Request, parse_message, response_to, serialise

CALLER = "+447700900002"
NAME = "Carol Callee"
INVITE = (
    "INVITE sip:2000@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK{branch}\r\n"
    "From: {from_};tag=a\r\n"
    "To: <sip:2000@127.0.0.1>\r\n"
    "Call-ID: {branch}@caller.example\r\n"
    "CSeq: 1 INVITE\r\n"
    "Max-Forwards: 70\r\n"
    "Contact: {contact}\r\n"
    "Content-Length: 0\r\n\r\n"
)
SCANNER = build_scanner()


def _personal(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if SCANNER.find(r.getMessage())]


@pytest.mark.parametrize(
    ("from_", "contact"),
    [
        (f'"{NAME}" sip:{CALLER}@carrier.example', "<sip:x@127.0.0.1:5999>"),  # no <URI>
        (f'"{NAME} <sip:{CALLER}@carrier.example>', "<sip:x@127.0.0.1:5999>"),  # unterminated
        (f'"{NAME}" <sip:{CALLER}@carrier.example>', f"<tel:{CALLER}>"),  # Contact not SIP
    ],
)
def test_a_refused_invite_is_logged_without_who_sent_it(
    caplog: pytest.LogCaptureFixture, from_: str, contact: str
) -> None:
    caplog.set_level(logging.DEBUG, logger="callroster")
    endpoint = bridge()
    message = INVITE.format(branch="p1", from_=from_, contact=contact)
    endpoint.receive(message.encode(), ("127.0.0.1", 5999), "udp", 0.0)
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert refusals and all("400 BadRequest" in line for line in refusals), refusals
    assert [d.data.split(b"\r\n")[0] for d in endpoint.datagrams()] == [b"SIP/2.0 400 Bad Request"]
    assert _personal(caplog) == []


def test_an_unusable_answer_is_logged_without_the_callees_contact(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="callroster")
    caller = SipEndpoint("127.0.0.1", 5060, counter_ids("a"))
    call_id = caller.dial(f"sip:{CALLER}@127.0.0.2:5070", ("127.0.0.2", 5070), "udp", 0.0, body=SDP)
    [sent] = caller.datagrams()
    invite = parse_message(sent.data)
    assert isinstance(invite, Request)
    answer = response_to(
        invite, 200, "OK", to_tag="b1", extra_headers=[("Contact", f"<tel:{CALLER}>")]
    )
    caller.receive(serialise(answer), ("127.0.0.2", 5070), "udp", 0.1)
    assert [e for e in caller.events() if isinstance(e, CallFailed)] == [
        CallFailed(call_id, 502, "Bad Gateway")
    ]
    assert any("unusable 2xx: BadRequest" in r.getMessage() for r in caplog.records)
    assert _personal(caplog) == []
