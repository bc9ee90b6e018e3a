"""The endpoint's UAS side (``sip/uas.py``): what a caller sees in answer to the requests it
sends, driven through the pure :class:`SipEndpoint` on a fake clock, and ``stamp_via`` on its
own. The plain call (INVITE, 200, ACK, BYE), CANCEL of a ringing call, 405/420/482/503 to an
INVITE and the sendonly re-INVITE are in ``test_endpoint.py``; these are the paths it leaves:
in-dialog refusals, re-INVITE and UPDATE corner cases, CANCEL of a re-INVITE, stray ACKs."""

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
    run_timers,
    send,
    statuses,
)

from callroster.sip.core import ALLOW
from callroster.sip.endpoint import (
    CallAcknowledged,
    CallEnded,
    IncomingCall,
    InfoReceived,
    Outgoing,
    ReInvite,
    SipEndpoint,
)
from callroster.sip.message import Request, Response, parse_message, serialise
from callroster.sip.transaction import Address
from callroster.sip.uas import stamp_via

ALLOWED = {m.strip() for m in ALLOW.split(",")}
NEW_CONTACT = "<sip:sipp@127.0.1.9:5999>"


def established(ep: SipEndpoint, peer: SippUac, extra: list[tuple[str, str]] | None = None) -> None:
    """INVITE, 200 with SDP, ACK at t=0; leaves no datagrams or events behind."""
    send(ep, peer, peer.invite(extra=extra or []), 0.0)
    assert [type(e) for e in ep.events()] == [IncomingCall]
    ep.answer(peer.call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=0.0)
    peer.learn(ep.datagrams()[0].data)
    assert send(ep, peer, peer.ack(), 0.0) == []
    assert ep.events() == [CallAcknowledged(peer.call_id)]


def with_header(request: Request, name: str, value: str) -> Request:
    """``request`` with every ``name`` header replaced by one with ``value``."""
    headers = [(n, v) for n, v in request.headers if n.lower() != name.lower()]
    return Request(request.method, request.uri, [*headers, (name, value)], request.body)


def only(out: list[Outgoing]) -> Response:
    """The single response in what the endpoint sent."""
    [message] = parse_all(out)
    assert isinstance(message, Response)
    return message


def tag_of(message: Request | Response) -> str:
    return (message.get("To") or "").split(";tag=")[1]


def bye_after_hangup(ep: SipEndpoint, peer: SippUac, now: float) -> tuple[Request, Address]:
    ep.hangup(peer.call_id, now)
    [out] = ep.datagrams()
    bye = parse_message(out.data)
    assert isinstance(bye, Request) and bye.method == "BYE"
    return bye, out.destination


# -- stamp_via (RFC 3261 18.2.1, RFC 3581) --------------------------------------------------


def via_request(*headers: tuple[str, str]) -> Request:
    return Request("OPTIONS", "sip:service@127.0.0.1", list(headers), b"")


@pytest.mark.parametrize(
    ("via", "source", "stamped"),
    [
        pytest.param(
            "SIP/2.0/UDP 127.0.1.1:5061;branch=z9hG4bK1",
            ("127.0.1.1", 5061),
            "SIP/2.0/UDP 127.0.1.1:5061;branch=z9hG4bK1",
            id="sent-by-is-the-source",
        ),
        pytest.param(
            "SIP/2.0/UDP pc33.example.com;branch=z9hG4bK1",
            ("192.0.2.4", 5060),
            "SIP/2.0/UDP pc33.example.com;branch=z9hG4bK1;received=192.0.2.4",
            id="host-name",
        ),
        pytest.param(
            "SIP/2.0/UDP 127.0.1.1:5061;rport;branch=z9hG4bK1",
            ("127.0.1.1", 40000),
            "SIP/2.0/UDP 127.0.1.1:5061;rport=40000;branch=z9hG4bK1;received=127.0.1.1",
            id="rport-forces-received",
        ),
        pytest.param(
            "SIP/2.0/UDP 10.0.0.7;rport=5070;branch=z9hG4bK1",
            ("192.0.2.1", 40000),
            "SIP/2.0/UDP 10.0.0.7;rport=5070;branch=z9hG4bK1;received=192.0.2.1",
            id="rport-with-a-value-is-kept",
        ),
        pytest.param(
            "SIP/2.0/UDP 10.0.0.7;received=10.9.9.9;branch=z9hG4bK1",
            ("192.0.2.1", 5060),
            "SIP/2.0/UDP 10.0.0.7;received=10.9.9.9;branch=z9hG4bK1",
            id="received-already-there",
        ),
        pytest.param(
            "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1",
            ("2001:db8::1", 5060),
            "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1",
            id="ipv6-sent-by-is-the-source",
        ),
    ],
)
def test_stamp_via_adds_received_and_fills_rport_as_rfc_3581_says(
    via: str, source: tuple[str, int], stamped: str
) -> None:
    request = via_request(("Via", via), ("CSeq", "1 OPTIONS"))
    assert stamp_via(request, source).headers == (("Via", stamped), ("CSeq", "1 OPTIONS"))


def test_stamp_via_touches_only_the_top_via_wherever_it_is_and_whatever_its_name() -> None:
    request = via_request(
        ("Max-Forwards", "70"),
        ("v", "SIP/2.0/UDP a.example;rport;branch=z9hG4bK2, SIP/2.0/UDP b.example;branch=z9hG4bK1"),
        ("Via", "SIP/2.0/UDP c.example;branch=z9hG4bK0"),
    )
    assert stamp_via(request, ("192.0.2.9", 7000)).headers == (
        ("Max-Forwards", "70"),
        (
            "v",
            "SIP/2.0/UDP a.example;rport=7000;branch=z9hG4bK2;received=192.0.2.9,"
            " SIP/2.0/UDP b.example;branch=z9hG4bK1",
        ),
        ("Via", "SIP/2.0/UDP c.example;branch=z9hG4bK0"),
    )
    no_via = via_request(("CSeq", "1 OPTIONS"))
    assert stamp_via(no_via, ("192.0.2.9", 7000)) == no_via


# -- answers to the initial INVITE -----------------------------------------------------------


def test_trying_has_no_to_tag_ringing_and_the_200_share_one_and_only_the_200_lists_allow() -> None:
    ep, peer = bridge(), SippUac()
    send(ep, peer, peer.invite(), 0.0)
    ep.answer(peer.call_id, 100, "Trying", now=0.05)
    assert only(ep.datagrams()).get("To") == "service <sip:service@127.0.0.1:5060>"  # no tag
    ep.answer(peer.call_id, 180, "Ringing", now=0.1)
    ringing = only(ep.datagrams())
    assert ringing.status == 180
    assert ringing.get("Contact") == "<sip:callroster@127.0.0.1:5060;transport=udp>"
    assert ringing.get("Allow") is None and ringing.get("Supported") is None
    ep.answer(peer.call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=0.2)
    ok = only(ep.datagrams())
    assert ok.status == 200 and tag_of(ok) == tag_of(ringing)
    assert set(ok.get_all("Allow")) == ALLOWED and ok.get("Supported") == "timer"


def test_a_busy_answer_forgets_the_call_and_the_ack_stops_its_retransmissions() -> None:
    ep, peer = bridge(), SippUac()
    send(ep, peer, peer.invite(), 0.0)
    ep.events()
    ep.answer(peer.call_id, 486, "Busy Here", now=0.1)
    busy = peer.learn(ep.datagrams()[0].data)
    assert busy.status == 486 and peer.to_tag
    assert busy.get("Contact") is None and busy.get("Allow") is None
    assert ep.counts["calls"] == 0 and ep.events() == []
    assert statuses(o for _, o in run_timers(ep, 0.6)) == [486]  # timer G, until the ACK
    assert send(ep, peer, peer.ack_for_failure(), 0.7) == []
    assert run_timers(ep, 60.0) == [] and ep.events() == []
    assert ep.counts["server_transactions"] == 0


def test_an_rfc_2543_peer_behind_nat_stops_the_retransmissions_of_a_failure_with_its_ack() -> None:
    ep, peer = bridge(), SippUac()
    nat, old_via = ("192.0.2.1", 5061), "SIP/2.0/UDP 10.0.0.7:5061"  # no branch: RFC 2543
    ep.receive(serialise(with_header(peer.invite(), "Via", old_via)), nat, "udp", 0.0)
    assert statuses(ep.datagrams()) == [100]
    ep.answer(peer.call_id, 486, "Busy Here", now=0.1)
    peer.learn(ep.datagrams()[0].data)
    ep.receive(serialise(with_header(peer.ack(), "Via", old_via)), nat, "udp", 0.2)
    assert ep.datagrams() == []
    assert run_timers(ep, 60.0) == []


def test_an_rfc_2543_peer_behind_nat_can_cancel_its_invite() -> None:
    ep, peer = bridge(), SippUac()
    nat, old_via = ("192.0.2.1", 5061), "SIP/2.0/UDP 10.0.0.7:5061;rport"
    ep.receive(serialise(with_header(peer.invite(), "Via", old_via)), nat, "udp", 0.0)
    assert statuses(ep.datagrams()) == [100]
    ep.receive(serialise(with_header(peer.cancel(), "Via", old_via)), nat, "udp", 0.1)
    assert sorted(statuses(ep.datagrams())) == [200, 487]


# -- ACKs --------------------------------------------------------------------------------------


def test_an_ack_reusing_the_invite_branch_still_confirms_the_call() -> None:
    ep, peer = bridge(), SippUac()
    send(ep, peer, peer.invite(), 0.0)
    ep.events()
    ep.answer(peer.call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=0.0)
    peer.learn(ep.datagrams()[0].data)
    # Same branch as the INVITE: it reaches the INVITE transaction (Accepted), which passes it up.
    assert send(ep, peer, peer.ack_for_failure(), 0.1) == []
    assert ep.events() == [CallAcknowledged(peer.call_id)]
    assert run_timers(ep, 40.0) == []  # no 200 retransmission, no BYE


def test_acks_for_no_call_or_for_an_early_dialog_are_absorbed() -> None:
    ep, peer, stranger = bridge(), SippUac(), SippUac(2)
    stranger.to_tag = "nosuchtag"
    assert send(ep, stranger, stranger.ack(), 0.0) == []
    send(ep, peer, peer.invite(), 0.0)
    ep.events()
    ep.answer(peer.call_id, 180, "Ringing", now=0.1)
    peer.learn(ep.datagrams()[0].data)
    assert send(ep, peer, peer.ack(), 0.2) == [] and ep.events() == []
    ep.answer(peer.call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=0.3)
    ep.datagrams()
    assert send(ep, peer, peer.ack(), 0.4) == []
    assert ep.events() == [CallAcknowledged(peer.call_id)]


def test_an_ack_with_another_to_tag_does_not_confirm_the_call() -> None:
    ep, peer = bridge(), SippUac()
    send(ep, peer, peer.invite(), 0.0)
    ep.events()
    ep.answer(peer.call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=0.0)
    ok = ep.datagrams()[0].data
    peer.to_tag = "someoneelse"
    assert send(ep, peer, peer.ack(), 0.1) == [] and ep.events() == []
    assert [when for when, o in run_timers(ep, 0.5) if o.data == ok] == [0.5]  # still resent


# -- Require (RFC 3261 8.2.2.3) ----------------------------------------------------------------


def test_require_timer_is_accepted_and_only_the_other_tags_are_listed_as_unsupported() -> None:
    ep = bridge()
    caller = SippUac(1)
    refused = only(send(ep, caller, caller.invite(extra=[("Require", "timer, 100rel, gruu")]), 0))
    assert refused.status == 420 and refused.get_all("Unsupported") == ["100rel", "gruu"]
    timer = SippUac(2)
    require = [("Require", "timer"), ("Supported", "timer"), ("Session-Expires", "1800")]
    assert statuses(send(ep, timer, timer.invite(extra=require), 0.0)) == [100]
    assert [e.call_id for e in ep.events() if isinstance(e, IncomingCall)] == [timer.call_id]


def test_a_cancel_is_not_refused_for_an_unknown_require() -> None:
    ep, peer = bridge(), SippUac()
    send(ep, peer, peer.invite(), 0.0)
    ep.events()
    cancel = with_header(peer.cancel(), "Require", "100rel")
    assert sorted(statuses(send(ep, peer, cancel, 1.0))) == [200, 487]
    assert ep.counts["calls"] == 0


def test_an_in_dialog_request_with_an_unknown_require_gets_420_and_changes_nothing() -> None:
    ep, peer = bridge(), SippUac()
    established(ep, peer)
    info = peer.in_dialog("INFO", body=b"Signal=1\r\n", extra=[("Require", "foo")])
    refused = only(send(ep, peer, info, 1.0))
    assert refused.status == 420 and refused.get("Unsupported") == "foo"
    assert refused.get("To") == f"service <sip:service@127.0.0.1:5060>;tag={peer.to_tag}"
    assert ep.events() == []
    assert statuses(send(ep, peer, peer.in_dialog("INFO", body=b"Signal=2\r\n"), 2.0)) == [200]
    [event] = ep.events()
    assert isinstance(event, InfoReceived) and event.request.body == b"Signal=2\r\n"


# -- other in-dialog requests ------------------------------------------------------------------


def test_in_dialog_options_are_answered_with_our_capabilities_and_the_dialog_tag() -> None:
    ep, peer = bridge(), SippUac()
    established(ep, peer)
    ok = only(send(ep, peer, peer.in_dialog("OPTIONS"), 1.0))
    assert ok.status == 200 and tag_of(ok) == peer.to_tag
    assert set(ok.get_all("Allow")) == ALLOWED and ok.get("Accept") == "application/sdp"
    assert ok.get("Supported") == "timer" and ep.events() == []
    assert ep.counts["calls"] == 1


@pytest.mark.parametrize("method", ["MESSAGE", "PRACK", "REFER"])
def test_in_dialog_methods_we_do_not_handle_get_405_and_the_call_stays_up(method: str) -> None:
    ep, peer = bridge(), SippUac()
    established(ep, peer)
    refused = only(send(ep, peer, peer.in_dialog(method), 1.0))
    assert refused.status == 405 and set(refused.get_all("Allow")) == ALLOWED
    assert ep.events() == []
    assert statuses(send(ep, peer, peer.in_dialog("BYE"), 2.0)) == [200]
    assert ep.events() == [CallEnded(peer.call_id, "bye")]


def test_a_bye_with_another_to_tag_gets_481_and_the_call_stays_up() -> None:
    ep, peer = bridge(), SippUac()
    established(ep, peer)
    ours, peer.to_tag = peer.to_tag, "someoneelse"
    assert statuses(send(ep, peer, peer.in_dialog("BYE"), 1.0)) == [481]
    assert ep.events() == [] and ep.counts["calls"] == 1
    peer.to_tag = ours
    assert statuses(send(ep, peer, peer.in_dialog("BYE"), 2.0)) == [200]
    assert ep.events() == [CallEnded(peer.call_id, "bye")]


def test_bye_before_the_ack_ends_the_call_and_stops_the_200_retransmissions() -> None:
    ep, peer = bridge(), SippUac()
    send(ep, peer, peer.invite(), 0.0)
    ep.events()
    ep.answer(peer.call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=0.0)
    peer.learn(ep.datagrams()[0].data)
    assert statuses(send(ep, peer, peer.in_dialog("BYE"), 0.2)) == [200]
    assert ep.events() == [CallEnded(peer.call_id, "bye")]
    assert run_timers(ep, 40.0) == []  # neither the 200 again nor a BYE of ours


def test_a_full_transaction_table_answers_503_with_retry_after_5() -> None:
    ep, first, second = bridge(max_transactions=1), SippUac(1), SippUac(2)
    assert statuses(send(ep, first, first.invite(), 0.0)) == [100]  # its transaction stays
    refused = only(send(ep, second, second.request("OPTIONS"), 0.1))
    assert refused.status == 503 and refused.get("Retry-After") == "5"
    assert [e.call_id for e in ep.events() if isinstance(e, IncomingCall)] == [first.call_id]


# -- re-INVITE -----------------------------------------------------------------------------------


def test_a_reinvite_in_the_early_dialog_gets_500_with_retry_after() -> None:
    ep, peer = bridge(), SippUac()
    send(ep, peer, peer.invite(), 0.0)
    ep.events()
    ep.answer(peer.call_id, 180, "Ringing", now=0.1)
    peer.learn(ep.datagrams()[0].data)
    reinvite = peer.in_dialog("INVITE", body=SENDONLY_SDP, content_type="application/sdp")
    refused = only(send(ep, peer, reinvite, 0.2))
    assert refused.status == 500 and refused.get("Retry-After") == "5"
    assert ep.events() == []
    ep.answer(peer.call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=0.3)
    ok = only(ep.datagrams())  # the initial INVITE is still the one waiting
    assert ok.status == 200 and ok.get("CSeq") == "1 INVITE"


def test_a_second_reinvite_while_the_first_is_unanswered_gets_500_with_retry_after() -> None:
    ep, peer = bridge(), SippUac()
    established(ep, peer)
    first = peer.in_dialog("INVITE", body=SENDONLY_SDP, content_type="application/sdp")
    assert statuses(send(ep, peer, first, 1.0)) == [100]
    second = peer.in_dialog("INVITE", body=SDP, content_type="application/sdp")
    refused = only(send(ep, peer, second, 1.1))
    assert refused.status == 500 and refused.get("Retry-After") == "5"
    assert [type(e) for e in ep.events()] == [ReInvite]
    ep.answer(peer.call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=1.2)
    assert only(ep.datagrams()).get("CSeq") == "2 INVITE"


@pytest.mark.parametrize("method", ["INVITE", "UPDATE"])
def test_while_our_session_refresh_is_pending_the_peers_refresh_gets_491(method: str) -> None:
    ep, peer = bridge(), SippUac()
    established(ep, peer, [("Supported", "timer"), ("Session-Expires", "120;refresher=uas")])
    assert methods(o for _, o in run_timers(ep, 60.0)) == ["INVITE"]  # ours, unanswered
    body = SDP if method == "INVITE" else b""
    request = peer.in_dialog(method, body=body, content_type="application/sdp" if body else None)
    assert statuses(send(ep, peer, request, 60.1)) == [491]
    assert ep.events() == []


def test_a_reinvite_from_a_trusted_proxy_moves_where_our_200_is_resent_and_our_bye_goes() -> None:
    ep, peer = bridge(trusted_peer=lambda host: host == "127.0.1.9"), SippUac()
    established(ep, peer)
    peer.host, peer.source = "127.0.1.9", ("127.0.1.9", 5999)  # Via and Contact move too
    peer.port = 5999
    send(ep, peer, peer.in_dialog("INVITE", body=SENDONLY_SDP, content_type="application/sdp"), 1)
    ep.events()
    ep.answer(peer.call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=1.1)
    [out] = ep.datagrams()
    ok = parse_message(out.data)
    assert isinstance(ok, Response) and out.destination == peer.source
    assert set(ok.get_all("Allow")) == ALLOWED and ok.get("Supported") == "timer"
    [(when, resent)] = run_timers(ep, 1.6)
    assert when == 1.6 and resent.data == out.data and resent.destination == peer.source
    send(ep, peer, peer.ack(cseq=2), 1.7)
    bye, destination = bye_after_hangup(ep, peer, 5.0)
    assert bye.uri == "sip:sipp@127.0.1.9:5999" and destination == ("127.0.1.9", 5999)


@pytest.mark.parametrize(
    ("method", "body"),
    [("INVITE", SENDONLY_SDP), ("UPDATE", SENDONLY_SDP), ("INFO", b""), ("BYE", b"")],
)
def test_a_stranger_with_the_calls_tags_is_refused_403_and_changes_nothing(
    method: str, body: bytes
) -> None:
    """The tags travel in clear: whoever learnt them, from another address, may neither move
    the call's media (re-INVITE, UPDATE), key its digits (INFO) nor hang it up (BYE)."""
    ep, peer = bridge(), SippUac()
    established(ep, peer)
    home = peer.source
    peer.host, peer.source, peer.port = "127.0.1.9", ("127.0.1.9", 5999), 5999
    request = peer.in_dialog(method, body=body, content_type="application/sdp" if body else None)
    refused = only(send(ep, peer, request, 1.0))
    assert refused.status == 403 and "Not from this call's peer" in (refused.get("Warning") or "")
    assert ep.events() == [] and ep.counts["calls"] == 1
    # The call is as it was: its peer, at home, still re-INVITEs, and our BYE goes home.
    peer.host, peer.source, peer.port = home[0], home, home[1]
    again = peer.in_dialog("INVITE", body=SDP, content_type="application/sdp")
    assert statuses(send(ep, peer, again, 2.0)) == [100]
    ep.answer(peer.call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=2.1)
    ep.datagrams()
    send(ep, peer, peer.ack(cseq=peer.cseq), 2.2)
    bye, destination = bye_after_hangup(ep, peer, 5.0)
    assert destination == home


def test_a_refused_reinvite_leaves_the_call_and_its_target_as_they_were() -> None:
    ep, peer = bridge(), SippUac()
    established(ep, peer)
    reinvite = with_header(
        peer.in_dialog("INVITE", body=SENDONLY_SDP, content_type="application/sdp"),
        "Contact",
        NEW_CONTACT,
    )
    send(ep, peer, reinvite, 1.0)
    ep.events()
    ep.answer(peer.call_id, 488, "Not Acceptable Here", now=1.1)
    refused = only(ep.datagrams())
    assert refused.status == 488 and tag_of(refused) == peer.to_tag
    assert ep.counts["calls"] == 1 and ep.events() == []
    again = peer.in_dialog("INVITE", body=SDP, content_type="application/sdp")
    assert statuses(send(ep, peer, again, 2.0)) == [100]  # not 500: nothing is pending
    ep.answer(peer.call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=2.1)
    ep.datagrams()
    send(ep, peer, peer.ack(cseq=peer.cseq), 2.2)
    bye, destination = bye_after_hangup(ep, peer, 5.0)
    assert bye.uri == "sip:sipp@127.0.1.1:5061" and destination == ("127.0.1.1", 5061)


def test_an_unanswered_reinvite_gets_500_after_32_seconds_and_the_call_stays_up() -> None:
    ep, peer = bridge(), SippUac()
    established(ep, peer)
    send(ep, peer, peer.in_dialog("INVITE", body=SDP, content_type="application/sdp"), 10.0)
    assert [type(e) for e in ep.events()] == [ReInvite]
    sent = run_timers(ep, 42.0)
    assert [(when, statuses([o])) for when, o in sent] == [(42.0, [500])]
    assert ep.events() == [] and ep.counts["calls"] == 1
    assert statuses(send(ep, peer, peer.in_dialog("INFO"), 43.0)) == [200]


def test_cancel_of_a_reinvite_answers_487_and_keeps_the_call() -> None:
    ep, peer = bridge(), SippUac()
    established(ep, peer)
    branch = "z9hG4bK-reinvite"
    reinvite = peer.in_dialog("INVITE", body=SDP, content_type="application/sdp", branch=branch)
    send(ep, peer, reinvite, 1.0)
    ep.events()
    out = send(ep, peer, peer.request("CANCEL", cseq=peer.cseq, branch=branch), 1.5)
    by_cseq = {m.get("CSeq"): m for m in parse_all(out) if isinstance(m, Response)}
    assert by_cseq["2 CANCEL"].status == 200 and by_cseq["2 INVITE"].status == 487
    assert tag_of(by_cseq["2 INVITE"]) == peer.to_tag
    assert ep.events() == [] and ep.counts["calls"] == 1
    assert send(ep, peer, peer.request("ACK", cseq=peer.cseq, branch=branch), 1.6) == []
    ep.answer(peer.call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=2.0)
    assert ep.datagrams() == []  # nothing waits for an answer any more
    assert run_timers(ep, 60.0) == []  # and no 500 at 33 s
    assert statuses(send(ep, peer, peer.in_dialog("BYE"), 61.0)) == [200]
    assert ep.events() == [CallEnded(peer.call_id, "bye")]


def test_cancel_after_the_answer_gets_200_with_the_dialog_tag_and_changes_nothing() -> None:
    ep, peer = bridge(), SippUac()
    send(ep, peer, peer.invite(), 0.0)
    ep.events()
    ep.answer(peer.call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=0.0)
    peer.learn(ep.datagrams()[0].data)
    ok = only(send(ep, peer, peer.cancel(), 0.1))
    assert ok.status == 200 and ok.get("CSeq") == "1 CANCEL" and tag_of(ok) == peer.to_tag
    assert ep.events() == []
    assert send(ep, peer, peer.ack(), 0.2) == []
    assert ep.events() == [CallAcknowledged(peer.call_id)]


# -- UPDATE (RFC 3311, RFC 4028) --------------------------------------------------------------


def test_an_update_with_an_offer_is_answered_by_the_application_in_its_200() -> None:
    ep, peer = bridge(), SippUac()
    established(ep, peer)
    update = peer.in_dialog("UPDATE", body=SENDONLY_SDP, content_type="application/sdp")
    assert send(ep, peer, update, 1.0) == []  # no 100 for a non-INVITE; the offer goes up
    [event] = ep.events()
    assert isinstance(event, ReInvite) and event.request.method == "UPDATE"
    assert event.request.body == SENDONLY_SDP
    # A second offer while this one is open: 491 (RFC 3311 5.2).
    second = peer.in_dialog("UPDATE", body=SDP, content_type="application/sdp")
    assert statuses(send(ep, peer, second, 1.05)) == [491]
    ep.answer(peer.call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=1.1)
    ok = only(ep.datagrams())
    assert ok.status == 200 and tag_of(ok) == peer.to_tag and ok.body == ANSWER_SDP
    assert (ok.get("CSeq") or "").endswith("UPDATE") and ok.get("Contact")
    assert ep.counts["calls"] == 1
    # Nothing is pending now: another UPDATE is taken.
    assert statuses(send(ep, peer, peer.in_dialog("UPDATE"), 2.0)) == [200]


def test_an_update_offer_the_application_refuses_leaves_the_call_up() -> None:
    ep, peer = bridge(), SippUac()
    established(ep, peer)
    update = peer.in_dialog("UPDATE", body=SENDONLY_SDP, content_type="application/sdp")
    send(ep, peer, update, 1.0)
    ep.events()
    ep.answer(peer.call_id, 488, "Not Acceptable Here", now=1.1)
    refused = only(ep.datagrams())
    assert refused.status == 488 and not refused.body and ep.counts["calls"] == 1


def test_an_update_offer_nobody_answers_gets_500() -> None:
    ep, peer = bridge(), SippUac()
    established(ep, peer)
    update = peer.in_dialog("UPDATE", body=SENDONLY_SDP, content_type="application/sdp")
    send(ep, peer, update, 1.0)
    ep.events()
    late = [parse_message(d.data) for _, d in run_timers(ep, 100.0)]
    assert [r.status for r in late if isinstance(r, Response)] == [500]
    assert ep.counts["calls"] == 1


def test_an_update_without_a_session_timer_is_answered_200_and_moves_the_target() -> None:
    ep, peer = bridge(), SippUac()
    established(ep, peer)
    update = with_header(peer.in_dialog("UPDATE"), "Contact", NEW_CONTACT)
    ok = only(send(ep, peer, update, 1.0))
    assert ok.status == 200 and tag_of(ok) == peer.to_tag
    assert ok.get("Contact") == "<sip:callroster@127.0.0.1:5060;transport=udp>"
    assert ok.get("Supported") == "timer" and ok.get("Session-Expires") is None
    assert ep.events() == [] and run_timers(ep, 3600.0) == []  # no session timer started
    bye, destination = bye_after_hangup(ep, peer, 3601.0)
    assert bye.uri == "sip:sipp@127.0.1.9:5999" and destination == ("127.0.1.9", 5999)
