"""Session timers (RFC 4028) at the endpoint, driven by a sipp-shaped peer and a fake clock."""

from __future__ import annotations

from tests.sip.peers import ANSWER_SDP, SippUac, bridge, methods, parse_all, reply, run_timers, send

from callroster.sip.endpoint import CallAcknowledged, CallEnded, IncomingCall, ReInvite, SipEndpoint
from callroster.sip.message import Request, Response, parse_message

TIMER = [("Supported", "timer"), ("Session-Expires", "90;refresher=uac"), ("Min-SE", "90")]


def answered(ep: SipEndpoint, peer: SippUac, extra: list[tuple[str, str]]) -> Response:
    send(ep, peer, peer.invite(extra=extra), 0.0)
    assert isinstance(ep.events()[0], IncomingCall)
    ep.answer(peer.call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=0.0)
    ok = peer.learn(ep.datagrams()[0].data)
    send(ep, peer, peer.ack(), 0.0)
    assert ep.events() == [CallAcknowledged(peer.call_id)]
    return ok


def test_the_answer_carries_the_negotiated_terms() -> None:
    ok = answered(bridge(), SippUac(), TIMER)
    assert ok.get("Session-Expires") == "90;refresher=uac"
    assert ok.get("Require") == "timer" and ok.get("Supported") == "timer"


def test_without_supported_timer_we_must_refresh() -> None:
    ok = answered(bridge(), SippUac(), [("Session-Expires", "1800")])
    assert ok.get("Session-Expires") == "1800;refresher=uas" and ok.get("Require") is None


def test_no_refresh_before_expiry_ends_the_call_with_bye() -> None:
    ep, peer = bridge(), SippUac()
    answered(ep, peer, TIMER)
    sent = run_timers(ep, 59.9)
    assert sent == []
    # 90 - min(32, 90/3) = 60 s after the 2xx
    sent = run_timers(ep, 60.0)
    assert [when for when, _ in sent] == [60.0] and methods(o for _, o in sent) == ["BYE"]
    bye = parse_message(sent[0][1].data)
    assert isinstance(bye, Request) and bye.uri == "sip:sipp@127.0.1.1:5061"
    assert ep.events() == [CallEnded(peer.call_id, "session-expired")]
    ep.receive(reply(sent[0][1].data, 200, "OK"), peer.source, "udp", 60.1)
    run_timers(ep, 500.0)
    assert ep.counts["calls"] == 0 and ep.counts["client_transactions"] == 0


def test_a_refreshing_reinvite_keeps_the_call_up() -> None:
    ep, peer = bridge(), SippUac()
    answered(ep, peer, TIMER)
    refresh = peer.in_dialog(
        "INVITE", body=peer.invite_request.body, content_type="application/sdp", extra=TIMER
    )
    assert [
        m.status for m in parse_all(send(ep, peer, refresh, 40.0)) if isinstance(m, Response)
    ] == [100]
    [event] = ep.events()
    assert isinstance(event, ReInvite)
    ep.answer(peer.call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=40.0)
    ok = parse_message(ep.datagrams()[0].data)
    assert ok.get("Session-Expires") == "90;refresher=uac"
    send(ep, peer, peer.ack(cseq=2), 40.1)
    assert run_timers(ep, 99.9) == []  # not at 60: the refresh moved expiry to 40 + 60
    assert ep.events() == []
    assert methods(o for _, o in run_timers(ep, 100.0)) == ["BYE"]
    assert ep.events() == [CallEnded(peer.call_id, "session-expired")]


def test_a_refreshing_update_keeps_the_call_up() -> None:
    ep, peer = bridge(), SippUac()
    answered(ep, peer, TIMER)
    [ok] = parse_all(send(ep, peer, peer.in_dialog("UPDATE", extra=TIMER), 50.0))
    assert isinstance(ok, Response) and ok.status == 200
    assert ok.get("Session-Expires") == "90;refresher=uac"
    assert run_timers(ep, 109.9) == [] and ep.events() == []


def test_too_small_session_expires_gets_422_with_min_se() -> None:
    ep, peer = bridge(), SippUac()
    extra = [("Supported", "timer"), ("Session-Expires", "60")]
    [refused] = parse_all(send(ep, peer, peer.invite(extra=extra), 0.0))
    assert isinstance(refused, Response) and refused.status == 422
    assert refused.get("Min-SE") == "90" and ep.events() == []
    ack = peer.ack_for_failure()
    peer.learn(refused_data := send(ep, peer, peer.invite_request, 0.1)[0].data)
    assert refused_data.startswith(b"SIP/2.0 422")  # retransmission answered from the transaction
    assert send(ep, peer, ack, 0.2) == []


def test_as_refresher_we_send_a_reinvite_at_half_the_interval() -> None:
    ep, peer = bridge(), SippUac()
    answered(ep, peer, [("Supported", "timer"), ("Session-Expires", "120;refresher=uas")])
    sent = run_timers(ep, 60.0)
    assert [w for w, _ in sent] == [60.0]
    refresh = parse_message(sent[0][1].data)
    assert isinstance(refresh, Request) and refresh.method == "INVITE"
    assert refresh.get("Session-Expires") == "120;refresher=uac"  # we are its UAC
    assert refresh.body == ANSWER_SDP and refresh.get("CSeq") == "1 INVITE"
    ep.receive(
        reply(
            sent[0][1].data,
            200,
            "OK",
            to_tag=peer.from_tag,
            extra_headers=[
                ("Contact", "<sip:sipp@127.0.1.1:5061>"),
                ("Session-Expires", "120;refresher=uac"),
            ],
        ),
        peer.source,
        "udp",
        60.2,
    )
    [ack] = parse_all(ep.datagrams())
    assert isinstance(ack, Request) and ack.method == "ACK" and ack.get("CSeq") == "1 ACK"
    assert run_timers(ep, 119.0) == [] and ep.events() == []
    assert methods(o for _, o in run_timers(ep, 120.2)) == ["INVITE"]  # 60.2 + 60


def test_as_refresher_we_use_update_when_the_peer_allows_it() -> None:
    ep, peer = bridge(), SippUac()
    extra = [
        ("Allow", "INVITE, ACK, BYE, UPDATE"),
        ("Supported", "timer"),
        ("Session-Expires", "90;refresher=uas"),
    ]
    answered(ep, peer, extra)
    sent = run_timers(ep, 45.0)
    assert methods(o for _, o in sent) == ["UPDATE"]
    assert parse_message(sent[0][1].data).body == b""


def test_as_refresher_an_unanswered_refresh_ends_the_call() -> None:
    ep, peer = bridge(), SippUac()
    answered(ep, peer, [("Supported", "timer"), ("Session-Expires", "90;refresher=uas")])
    sent = run_timers(ep, 90.0)
    assert methods(o for _, o in sent)[0] == "INVITE"
    # the re-INVITE times out (timer B at 45 + 32 = 77 s): the dialog is gone
    assert "BYE" in methods(o for _, o in sent)
    assert ep.events() == [CallEnded(peer.call_id, "refresh-failed")]
