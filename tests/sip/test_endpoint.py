"""The SIP endpoint as the UAS sipp's ``uac`` scenario calls: raw bytes in, a fake ``now``."""

from __future__ import annotations

import pytest
from tests.sip.peers import (
    ANSWER_SDP,
    SDP,
    SENDONLY_SDP,
    SippUac,
    bridge,
    methods,
    parse_all,
    reply,
    run_timers,
    send,
    statuses,
)

from callroster.sip.dialog import KEEPALIVE_DATA
from callroster.sip.endpoint import (
    CallAcknowledged,
    CallCancelled,
    CallEnded,
    IncomingCall,
    InfoReceived,
    ReInvite,
    SipEndpoint,
)
from callroster.sip.message import Request, Response, parse_message, serialise


def established(
    ep: SipEndpoint, peer: SippUac, *, extra: list[tuple[str, str]] | None = None
) -> None:
    """INVITE, 200 with SDP, ACK: the call of sipp's uac scenario up to the pause."""
    send(ep, peer, peer.invite(extra=extra or []), 0.0)
    assert isinstance(ep.events()[0], IncomingCall)
    ep.answer(peer.call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=0.0)
    peer.learn(ep.datagrams()[0].data)
    assert send(ep, peer, peer.ack(), 0.01) == []
    assert ep.events() == [CallAcknowledged(peer.call_id)]


def test_full_call() -> None:
    ep, peer = bridge(), SippUac()
    out = send(ep, peer, peer.invite(), 0.0)
    assert statuses(out) == [100]
    trying = parse_message(out[0].data)
    assert out[0].destination == ("127.0.1.1", 5061) and out[0].transport == "udp"
    assert trying.get("To") == "service <sip:service@127.0.0.1:5060>"  # no tag on 100
    [incoming] = ep.events()
    assert isinstance(incoming, IncomingCall)
    assert incoming.call_id == "1-3862@127.0.1.1" and incoming.request.body == SDP
    assert incoming.source == ("127.0.1.1", 5061) and incoming.transport == "udp"

    ep.answer(peer.call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=0.1)
    [ok] = ep.datagrams()
    answer = peer.learn(ok.data)
    assert isinstance(answer, Response) and answer.status == 200
    assert answer.body == ANSWER_SDP and answer.get("Content-Type") == "application/sdp"
    assert answer.get("Contact") == "<sip:callroster@127.0.0.1:5060;transport=udp>"
    assert peer.to_tag and answer.get("CSeq") == "1 INVITE"

    assert send(ep, peer, peer.ack(), 0.2) == []
    assert ep.events() == [CallAcknowledged(peer.call_id)]
    out = send(ep, peer, peer.in_dialog("BYE"), 5.0)
    assert statuses(out) == [200]
    assert parse_message(out[0].data).get("CSeq") == "2 BYE"
    assert ep.events() == [CallEnded(peer.call_id, "bye")]
    run_timers(ep, 100.0)
    assert ep.counts == {
        "calls": 0,
        "server_transactions": 0,
        "client_transactions": 0,
        "streams": 0,
    }
    assert ep.next_timer() is None


def test_lost_ack_retransmits_the_200_then_ends_the_call_with_bye() -> None:
    ep, peer = bridge(), SippUac()
    send(ep, peer, peer.invite(), 0.0)
    ep.events()
    ep.answer(peer.call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=0.0)
    first = ep.datagrams()[0].data
    sent = run_timers(ep, 32.0)
    resent = [when for when, o in sent if o.data == first]
    assert resent == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    [(when, bye)] = [(when, o) for when, o in sent if o.data.startswith(b"BYE")]
    assert when == 32.0
    request = parse_message(bye.data)
    assert isinstance(request, Request)
    assert request.uri == "sip:sipp@127.0.1.1:5061" and bye.destination == ("127.0.1.1", 5061)
    assert ep.events() == [CallEnded(peer.call_id, "ack-timeout")]
    # The BYE is retransmitted (timer E) until answered, and then forgotten.
    assert methods(o for _, o in run_timers(ep, 33.0)) == ["BYE"]
    ep.receive(reply(bye.data, 200, "OK"), peer.source, "udp", 33.2)
    assert run_timers(ep, 200.0) == [] and ep.counts["client_transactions"] == 0


def test_retransmitted_invite_before_the_answer_resends_the_latest_response() -> None:
    ep, peer = bridge(), SippUac()
    invite = peer.invite()
    send(ep, peer, invite, 0.0)
    assert statuses(send(ep, peer, invite, 0.5)) == [100]
    ep.answer(peer.call_id, 180, "Ringing", now=0.6)
    ringing = ep.datagrams()
    assert statuses(ringing) == [180]
    assert send(ep, peer, invite, 1.0) == ringing
    assert [type(e) for e in ep.events()] == [IncomingCall]  # one call, not three


def test_retransmitted_invite_after_the_answer_resends_the_200() -> None:
    ep, peer = bridge(), SippUac()
    invite = peer.invite()
    send(ep, peer, invite, 0.0)
    ep.answer(peer.call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=0.1)
    ok = ep.datagrams()
    assert send(ep, peer, invite, 0.3) == ok
    ep.events()
    peer.learn(ok[0].data)
    send(ep, peer, peer.ack(), 0.4)
    assert ep.events() == [CallAcknowledged(peer.call_id)]
    assert send(ep, peer, invite, 0.6) == ok  # still absorbed by the transaction (Accepted)
    assert ep.events() == []


def test_cancel_before_the_answer() -> None:
    ep, peer = bridge(), SippUac()
    send(ep, peer, peer.invite(), 0.0)
    ep.events()
    out = send(ep, peer, peer.cancel(), 1.0)
    assert sorted(statuses(out)) == [200, 487]
    by_cseq = {m.get("CSeq"): m for m in parse_all(out) if isinstance(m, Response)}
    assert by_cseq["1 CANCEL"].status == 200 and by_cseq["1 INVITE"].status == 487
    assert ";tag=" in (by_cseq["1 INVITE"].get("To") or "")
    assert ep.events() == [CallCancelled(peer.call_id)]
    # The 487 is retransmitted until the ACK arrives, which is then absorbed.
    assert statuses(o for _, o in run_timers(ep, 1.5)) == [487]
    peer.learn(next(o.data for o in out if b"487" in o.data.split(b"\r\n")[0]))
    assert send(ep, peer, peer.ack_for_failure(), 1.6) == []
    assert ep.events() == [] and run_timers(ep, 10.0) == []
    ep.answer(peer.call_id, 200, "OK", now=2.0)  # too late: ignored
    assert ep.datagrams() == []
    run_timers(ep, 100.0)
    assert ep.counts["server_transactions"] == 0 and ep.counts["calls"] == 0


def test_cancel_for_unknown_transaction_gets_481() -> None:
    ep, peer = bridge(), SippUac()
    peer.invite()
    assert statuses(send(ep, peer, peer.cancel(), 0.0)) == [481]


def test_bye_for_unknown_call_gets_481() -> None:
    ep, peer = bridge(), SippUac()
    peer.to_tag = "nosuchtag"
    assert statuses(send(ep, peer, peer.in_dialog("BYE"), 0.0)) == [481]
    assert statuses(send(ep, SippUac(2), SippUac(2).request("INFO"), 0.0)) == [481]
    assert ep.events() == []


def test_out_of_order_cseq_gets_500() -> None:
    ep, peer = bridge(), SippUac()
    established(ep, peer)
    peer.cseq = 5
    assert statuses(send(ep, peer, peer.request("INFO"), 1.0)) == [200]
    peer.cseq = 3
    out = send(ep, peer, peer.request("INFO"), 2.0)
    assert statuses(out) == [500]
    assert [type(e) for e in ep.events()] == [InfoReceived]


def test_tcp_call_has_no_retransmissions_and_frames_the_stream() -> None:
    ep, peer = bridge(), SippUac(transport="TCP")
    data = serialise(peer.invite())
    ep.receive(data[:100], peer.source, "tcp", 0.0)
    assert ep.datagrams() == [] and ep.counts["streams"] == 1
    ep.receive(data[100:], peer.source, "tcp", 0.0)
    out = ep.datagrams()
    assert statuses(out) == [100] and out[0].transport == "tcp"
    ep.events()
    ep.answer(peer.call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=0.0)
    ok = ep.datagrams()
    assert b"transport=tcp" in ok[0].data
    sent = run_timers(ep, 40.0)
    assert methods(o for _, o in sent) == ["BYE"]  # no 200 retransmission, one BYE, no repeats
    assert sent[0][0] == 32.0 and sent[0][1].transport == "tcp"
    assert ep.events() == [CallEnded(peer.call_id, "ack-timeout")]


def test_tcp_two_messages_in_one_chunk() -> None:
    ep, peer = bridge(), SippUac(transport="TCP")
    options = peer.request("OPTIONS")
    ep.receive(
        serialise(options) + serialise(peer.request("OPTIONS", cseq=2)), peer.source, "tcp", 0
    )
    assert statuses(ep.datagrams()) == [200, 200]
    ep.receive(b"garbage without framing\r\n\r\n", peer.source, "tcp", 0)
    assert ep.datagrams() == [] and ep.counts["streams"] == 0
    ep.receive(serialise(options), peer.source, "tcp", 1)  # the stream starts over
    assert statuses(ep.datagrams()) == [200]


def test_reinvite_with_sendonly_sdp() -> None:
    ep, peer = bridge(), SippUac()
    established(ep, peer)
    reinvite = peer.in_dialog("INVITE", body=SENDONLY_SDP, content_type="application/sdp")
    assert statuses(send(ep, peer, reinvite, 10.0)) == [100]
    [event] = ep.events()
    assert isinstance(event, ReInvite) and event.request.body.endswith(b"a=sendonly\r\n")
    recvonly = ANSWER_SDP.replace(b"1 1 IN", b"1 2 IN") + b"a=recvonly\r\n"
    ep.answer(peer.call_id, 200, "OK", body=recvonly, content_type="application/sdp", now=10.1)
    [ok] = parse_all(ep.datagrams())
    assert isinstance(ok, Response) and ok.status == 200 and ok.body == recvonly
    assert (
        ok.get("CSeq") == "2 INVITE"
        and ok.get(
            "To",
        )
        == f"service <sip:service@127.0.0.1:5060>;tag={peer.to_tag}"
    )
    assert send(ep, peer, peer.ack(cseq=2), 10.2) == []
    assert ep.events() == []  # the ACK of a re-INVITE is no new CallAcknowledged
    assert run_timers(ep, 60.0) == []  # acknowledged: no retransmission, no BYE


def test_reinvite_before_our_2xx_is_acknowledged_gets_491() -> None:
    ep, peer = bridge(), SippUac()
    send(ep, peer, peer.invite(), 0.0)
    ep.answer(peer.call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=0.0)
    peer.learn(ep.datagrams()[0].data)
    reinvite = peer.in_dialog("INVITE", body=SENDONLY_SDP, content_type="application/sdp")
    assert statuses(send(ep, peer, reinvite, 0.1)) == [491]
    assert [type(e) for e in ep.events()] == [IncomingCall]


def test_info_with_dtmf_relay() -> None:
    ep, peer = bridge(), SippUac()
    established(ep, peer)
    info = peer.in_dialog(
        "INFO", body=b"Signal=5\r\nDuration=160\r\n", content_type="application/dtmf-relay"
    )
    assert statuses(send(ep, peer, info, 3.0)) == [200]
    [event] = ep.events()
    assert isinstance(event, InfoReceived) and event.request.body.startswith(b"Signal=5")
    assert event.request.get("Content-Type") == "application/dtmf-relay"


def test_options_are_answered_by_the_endpoint() -> None:
    ep, peer = bridge(), SippUac()
    [ok] = parse_all(send(ep, peer, peer.request("OPTIONS"), 0.0))
    assert isinstance(ok, Response) and ok.status == 200
    assert "INVITE" in (ok.get("Allow") or "") and ok.get("Accept") == "application/sdp"
    assert ok.get("Supported") == "timer" and ep.events() == []


@pytest.mark.parametrize("method", ["REGISTER", "SUBSCRIBE", "MESSAGE"])
def test_unsupported_methods_get_405_with_allow(method: str) -> None:
    ep, peer = bridge(), SippUac()
    [refused] = parse_all(send(ep, peer, peer.request(method), 0.0))
    assert isinstance(refused, Response) and refused.status == 405
    assert refused.get_all("Allow")[0] == "INVITE"


def test_unknown_required_extension_gets_420() -> None:
    ep, peer = bridge(), SippUac()
    [refused] = parse_all(send(ep, peer, peer.invite(extra=[("Require", "100rel")]), 0.0))
    assert isinstance(refused, Response) and refused.status == 420
    assert refused.get("Unsupported") == "100rel" and ep.events() == []


def test_malformed_requests_get_400_and_garbage_is_dropped() -> None:
    ep, peer = bridge(), SippUac()
    bad = serialise(peer.invite()).replace(b"CSeq: 1 INVITE", b"CSeq: one INVITE")
    ep.receive(bad, peer.source, "udp", 0.0)
    [refused] = ep.datagrams()
    assert refused.data.startswith(b"SIP/2.0 400 Bad Request\r\n")  # echoing the bad CSeq
    no_contact = serialise(peer.invite()).replace(b"Contact: sip:sipp@127.0.1.1:5061\r\n", b"")
    ep.receive(no_contact, peer.source, "udp", 0.0)
    assert statuses(ep.datagrams()) == [400]
    for garbage in (b"\x00\xff\xfe", b"SIP/2.0 200 OK\r\n\r\n", b"\r\n\r\n", b"INVITE x\r\n\r\n"):
        ep.receive(garbage, peer.source, "udp", 0.0)
    assert ep.datagrams() == [] and ep.events() == []


def test_responses_without_a_transaction_are_ignored() -> None:
    ep, peer = bridge(), SippUac()
    invite = serialise(peer.invite())
    ep.receive(reply(invite, 200, "OK"), peer.source, "udp", 0.0)
    ep.receive(reply(invite, 180, "Ringing"), peer.source, "udp", 0.0)
    assert ep.datagrams() == [] and ep.events() == []


def test_calls_beyond_the_limit_get_503() -> None:
    ep = bridge(max_calls=2)
    for number in (1, 2):
        peer = SippUac(number)
        assert statuses(send(ep, peer, peer.invite(), 0.0)) == [100]
    peer = SippUac(3)
    [refused] = parse_all(send(ep, peer, peer.invite(), 0.0))
    assert isinstance(refused, Response) and refused.status == 503 and refused.get("Retry-After")
    assert len(ep.events()) == 2


def test_second_invite_with_a_known_call_id_gets_482() -> None:
    ep, peer = bridge(), SippUac()
    send(ep, peer, peer.invite(), 0.0)
    assert statuses(send(ep, peer, peer.invite(), 0.1)) == [482]  # new branch, no To tag


def test_rport_sends_responses_back_to_the_source_port() -> None:
    ep, peer = bridge(), SippUac()
    invite = peer.invite()
    via = "SIP/2.0/UDP 10.0.0.7:5061;branch=z9hG4bK-nat;rport"
    headers = [("Via", via) if n == "Via" else (n, v) for n, v in invite.headers]
    ep.receive(
        serialise(Request("INVITE", invite.uri, headers, invite.body)),
        ("192.0.2.1", 40000),
        "udp",
        0,
    )
    [trying] = ep.datagrams()
    assert trying.destination == ("192.0.2.1", 40000)
    assert parse_message(trying.data).get("Via") == (
        "SIP/2.0/UDP 10.0.0.7:5061;branch=z9hG4bK-nat;rport=40000;received=192.0.2.1"
    )


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
def test_our_bye_reaches_a_phone_behind_nat_where_its_requests_come_from(
    transport: str,
) -> None:
    """sipp behind a NAT: its Via, Contact and From name its private address, its packets
    come from the NAT's public address and another port. Our BYE goes to that source (on
    TCP: its connection), not to the Contact nothing outside can reach."""
    ep, peer = bridge(), SippUac(host="192.168.1.20", port=5062, transport=transport)
    peer.source = ("192.0.2.9", 40000)
    established(ep, peer)
    ep.hangup(peer.call_id, 5.0)
    [out] = ep.datagrams()
    bye = parse_message(out.data)
    assert isinstance(bye, Request) and bye.method == "BYE"
    assert bye.uri == "sip:sipp@192.168.1.20:5062"  # the Request-URI is still its Contact
    assert out.destination == ("192.0.2.9", 40000)
    assert out.transport == transport.lower()


def test_a_phone_behind_nat_is_sent_keep_alives_so_its_mapping_lives() -> None:
    """A NAT forgets a UDP mapping that nothing crosses for a while (30 s on some home
    routers); our BYE needs it. A phone behind a NAT gets a double CRLF (RFC 5626 3.5.1)
    every 20 s through its mapping; a phone not behind one gets none."""
    ep, natted = bridge(), SippUac(host="192.168.1.20", port=5062)
    natted.source = ("192.0.2.9", 40000)
    plain = SippUac(2)
    established(ep, natted)
    established(ep, plain)
    sent = [(at, o) for at, o in run_timers(ep, 65.0) if o.data == KEEPALIVE_DATA]
    assert [round(at) for at, _ in sent] == [20, 40, 60]
    assert {o.destination for _, o in sent} == {("192.0.2.9", 40000)}
    ep.hangup(natted.call_id, 66.0)
    ep.datagrams()
    assert not [o for _, o in run_timers(ep, 200.0) if o.data == KEEPALIVE_DATA]


def test_a_phone_behind_nat_without_rport_is_answered_where_it_sent_from() -> None:
    """sipp behind a NAT writes no rport: its Via names its private address and port, and
    the NAT lets replies in only at the address and port it mapped them to. The 100, the 200
    and the 200 re-sent for a lost ACK all go there."""
    ep, peer = bridge(), SippUac(host="192.168.1.20", port=5062)
    peer.source = ("192.0.2.9", 40000)
    out = send(ep, peer, peer.invite(), 0.0)
    ep.answer(peer.call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=0.0)
    out += ep.datagrams()
    out += [o for _, o in run_timers(ep, 1.0)]
    assert statuses(out) == [100, 200, 200]
    assert {o.destination for o in out} == {("192.0.2.9", 40000)}


def test_hangup_before_the_answer_sends_487() -> None:
    ep, peer = bridge(), SippUac()
    send(ep, peer, peer.invite(), 0.0)
    ep.hangup(peer.call_id, 1.0)
    assert statuses(ep.datagrams()) == [487]
    assert ep.counts["calls"] == 0


def test_hangup_before_the_ack_waits_for_it() -> None:
    ep, peer = bridge(), SippUac()
    send(ep, peer, peer.invite(), 0.0)
    ep.answer(peer.call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=0.0)
    peer.learn(ep.datagrams()[0].data)
    ep.hangup(peer.call_id, 0.1)
    assert ep.datagrams() == []  # RFC 3261 15: no BYE before the ACK
    [bye] = parse_all(send(ep, peer, peer.ack(), 0.2))
    assert isinstance(bye, Request) and bye.method == "BYE"
    assert bye.get("CSeq") == "1 BYE"
    assert bye.get("From") == f'"service" <sip:service@127.0.0.1:5060>;tag={peer.to_tag}'
    assert bye.get("To") == f'"sipp" <sip:sipp@127.0.1.1:5061>;tag={peer.from_tag}'
    assert ep.events()[-1] == CallAcknowledged(peer.call_id)


def test_an_unanswered_call_times_out_with_480() -> None:
    ep, peer = bridge(answer_timeout=60.0), SippUac()
    send(ep, peer, peer.invite(), 0.0)
    ep.events()
    assert statuses(o for _, o in run_timers(ep, 60.0)) == [480]
    assert ep.events() == [CallEnded(peer.call_id, "unanswered")]


def test_record_route_is_honoured_in_our_bye() -> None:
    ep, peer = bridge(), SippUac()
    routes = [("Record-Route", "<sip:proxy1.example.net;lr>, <sip:10.0.0.2:5070;lr;transport=udp>")]
    send(ep, peer, peer.invite(extra=routes), 0.0)
    ep.answer(peer.call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=0.0)
    ok = peer.learn(ep.datagrams()[0].data)
    assert ok.get_all("Record-Route") == [
        "<sip:proxy1.example.net;lr>",
        "<sip:10.0.0.2:5070;lr;transport=udp>",
    ]
    send(ep, peer, peer.ack(), 0.1)
    ep.hangup(peer.call_id, 5.0)
    [out] = ep.datagrams()
    bye = parse_message(out.data)
    assert isinstance(bye, Request) and bye.method == "BYE"
    assert bye.uri == "sip:sipp@127.0.1.1:5061"  # the remote Contact
    assert bye.get_all("Route") == [
        "<sip:proxy1.example.net;lr>",
        "<sip:10.0.0.2:5070;lr;transport=udp>",
    ]
    assert out.destination == ("proxy1.example.net", 5060)


def test_strict_router_goes_into_the_request_uri() -> None:
    ep, peer = bridge(), SippUac()
    send(ep, peer, peer.invite(extra=[("Record-Route", "<sip:old.example.net>")]), 0.0)
    ep.answer(peer.call_id, 200, "OK", now=0.0)
    peer.learn(ep.datagrams()[0].data)
    send(ep, peer, peer.ack(), 0.1)
    ep.hangup(peer.call_id, 1.0)
    bye = parse_message(ep.datagrams()[0].data)
    assert isinstance(bye, Request)
    assert bye.uri == "sip:old.example.net" and bye.get_all("Route") == [
        "<sip:sipp@127.0.1.1:5061>"
    ]


def test_bye_in_the_early_dialog_ends_the_call_with_487() -> None:
    ep, peer = bridge(), SippUac()
    send(ep, peer, peer.invite(), 0.0)
    ep.answer(peer.call_id, 180, "Ringing", now=0.1)
    peer.learn(ep.datagrams()[0].data)
    out = send(ep, peer, peer.in_dialog("BYE"), 1.0)
    assert sorted(statuses(out)) == [200, 487]
    assert ep.events()[-1] == CallEnded(peer.call_id, "bye")
