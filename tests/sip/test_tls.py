"""SIP over TLS in the pure endpoint (RFC 3261 18 and 26): to the endpoint TLS is a stream
like TCP (the adapter decrypts), framed by Content-Length, never retransmitted, answered and
spoken to over the connection the peer opened; our Via and Contact name TLS and the TLS port,
and a sips: request gets a sips: Contact."""

from __future__ import annotations

import dataclasses

import pytest
from tests.sip.peers import ANSWER_SDP, SippUac, counter_ids, methods, run_timers, statuses

from callroster.sip.endpoint import CallEnded, IncomingCall, SipEndpoint
from callroster.sip.message import Request, Response, parse_message, serialise

TLS_PORT = 5061
PHONE = ("127.0.1.1", 40123)  # the TLS connection's far end: an ephemeral port


def bridge_with_tls() -> SipEndpoint:
    return SipEndpoint("127.0.0.1", 5060, counter_ids(), tls_port=TLS_PORT)


def phone(uri: str = "sip:service@127.0.0.1:5061") -> tuple[SippUac, Request]:
    """A phone on TLS: its Via and Contact name its listening port (5062), its packets come
    from the connection's port."""
    peer = SippUac(transport="TLS", port=5062)
    return peer, dataclasses.replace(peer.invite(), uri=uri)


def test_invite_in_pieces_is_framed_and_answered_over_the_connection() -> None:
    ep = bridge_with_tls()
    peer, invite = phone()
    data = serialise(invite)
    for start in range(0, len(data), 37):  # TLS records cut anywhere
        ep.receive(data[start : start + 37], PHONE, "tls", 0.0)
    out = ep.datagrams()
    assert statuses(out) == [100]
    assert (out[0].destination, out[0].transport) == (PHONE, "tls")
    [incoming] = ep.events()
    assert isinstance(incoming, IncomingCall) and incoming.transport == "tls"
    ep.answer(peer.call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=0.1)
    [ok] = ep.datagrams()
    assert (ok.destination, ok.transport) == (PHONE, "tls")
    response = parse_message(ok.data)
    assert response.get("Contact") == "<sip:callroster@127.0.0.1:5061;transport=tls>"
    # No ACK ever comes: nothing is retransmitted (a reliable transport), and after 64*T1
    # the BYE goes down the same connection, not to the phone's Contact (port 5062).
    sent = run_timers(ep, 40.0)
    assert methods(o for _, o in sent) == ["BYE"]
    when, bye = sent[0]
    assert when == pytest.approx(32.1) and (bye.destination, bye.transport) == (PHONE, "tls")
    assert (parse_message(bye.data).get("Via") or "").startswith("SIP/2.0/TLS 127.0.0.1:5061;")
    assert ep.events() == [CallEnded(peer.call_id, "ack-timeout")]


def test_a_sips_request_gets_a_sips_contact() -> None:
    ep = bridge_with_tls()
    peer, invite = phone("sips:service@127.0.0.1:5061")
    ep.receive(serialise(invite), PHONE, "tls", 0.0)
    ep.datagrams(), ep.events()
    ep.answer(peer.call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=0.1)
    [ok] = ep.datagrams()
    assert parse_message(ok.data).get("Contact") == "<sips:callroster@127.0.0.1:5061>"


def test_the_same_sips_request_over_tcp_gets_no_sips_contact() -> None:
    ep = bridge_with_tls()
    peer = SippUac(transport="TCP")
    invite = dataclasses.replace(peer.invite(), uri="sips:service@127.0.0.1:5061")
    ep.receive(serialise(invite), peer.source, "tcp", 0.0)
    ep.datagrams(), ep.events()
    ep.answer(peer.call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=0.1)
    [ok] = ep.datagrams()
    assert parse_message(ok.data).get("Contact") == "<sip:callroster@127.0.0.1:5060;transport=tcp>"


def test_two_messages_in_one_record_and_garbage_resets_the_stream() -> None:
    ep = bridge_with_tls()
    peer = SippUac(transport="TLS")
    options = peer.request("OPTIONS")
    ep.receive(serialise(options) + serialise(peer.request("OPTIONS", cseq=2)), PHONE, "tls", 0)
    out = ep.datagrams()
    assert statuses(out) == [200, 200] and {o.transport for o in out} == {"tls"}
    ep.receive(b"garbage without framing\r\n\r\n", PHONE, "tls", 0)
    assert ep.datagrams() == [] and ep.counts["streams"] == 0
    ep.receive(serialise(options), PHONE, "tls", 1)
    assert statuses(ep.datagrams()) == [200]
    ep.receive(b"\r\n\r\n", PHONE, "tls", 2)  # a keep-alive (RFC 5626) is nothing
    assert ep.datagrams() == []


def test_dialling_over_tls_names_tls_and_never_retransmits() -> None:
    ep = bridge_with_tls()
    trunk = ("carrier.example", 5061)
    call_id = ep.dial("sip:+442071234567@carrier.example;transport=tls", trunk, "tls", 0.0)
    [invite_out] = ep.datagrams()
    assert (invite_out.destination, invite_out.transport) == (trunk, "tls")
    invite = parse_message(invite_out.data)
    assert isinstance(invite, Request)
    assert (invite.get("Via") or "").startswith("SIP/2.0/TLS 127.0.0.1:5061;")
    assert invite.get("Contact") == "<sip:callroster@127.0.0.1:5061;transport=tls>"
    sent = run_timers(ep, 40.0)  # timer B alone: no timer A retransmissions
    assert methods(o for _, o in sent) == []
    assert [type(e).__name__ for e in ep.events()] == ["CallFailed"]
    assert call_id


def test_a_sips_uri_is_dialled_over_tls_only() -> None:
    ep = bridge_with_tls()
    with pytest.raises(ValueError, match="TLS only"):
        ep.dial("sips:+442071234567@carrier.example", ("carrier.example", 5061), "udp", 0.0)
    ep.dial("sips:+442071234567@carrier.example", ("carrier.example", 5061), "tls", 0.0)
    invite = parse_message(ep.datagrams()[0].data)
    assert invite.get("Contact") == "<sips:callroster@127.0.0.1:5061>"
    assert (invite.get("From") or "").startswith("<sips:callroster@127.0.0.1>")


def test_a_trunks_answer_and_our_bye_use_our_connection_to_it() -> None:
    ep = bridge_with_tls()
    trunk = ("127.0.0.9", 5061)
    call_id = ep.dial("sip:+15550100@127.0.0.9:5061;transport=tls", trunk, "tls", 0.0)
    invite = parse_message(ep.datagrams()[0].data)
    assert isinstance(invite, Request)
    ok = Response(
        200,
        "OK",
        [
            ("Via", invite.get("Via") or ""),
            ("From", invite.get("From") or ""),
            ("To", (invite.get("To") or "") + ";tag=carrier"),
            ("Call-ID", call_id),
            ("CSeq", "1 INVITE"),
            ("Contact", "<sip:+15550100@127.0.0.9:5061;transport=tls>"),
            ("Content-Type", "application/sdp"),
        ],
        ANSWER_SDP,
    )
    ep.receive(serialise(ok), trunk, "tls", 0.1)
    [ack] = ep.datagrams()
    assert (ack.destination, ack.transport) == (trunk, "tls")
    ep.events()
    ep.hangup(call_id, 1.0)
    [bye] = ep.datagrams()
    assert methods([bye]) == ["BYE"] and (bye.destination, bye.transport) == (trunk, "tls")
