"""Our UAC against our UAS: two endpoints joined by ``transfer(a, b)`` and a fake clock."""

from __future__ import annotations

from tests.sip.peers import (
    ANSWER_SDP,
    SDP,
    TARGET,
    advance,
    methods,
    pair,
    pump,
    statuses,
)

from callroster.sip.endpoint import (
    CallAcknowledged,
    CallAnswered,
    CallCancelled,
    CallEnded,
    CallFailed,
    CallProgressed,
    Event,
    IncomingCall,
    Outgoing,
    SipEndpoint,
)


def dial(a: SipEndpoint, b: SipEndpoint, now: float = 0.0) -> tuple[str, IncomingCall]:
    call_id = a.dial(
        TARGET, ("127.0.0.2", 5070), "udp", now, body=SDP, content_type="application/sdp"
    )
    pump(a, b, now)
    [incoming] = b.events()
    assert isinstance(incoming, IncomingCall) and incoming.call_id == call_id
    return call_id, incoming


def kinds(events: list[Event]) -> list[str]:
    return [type(e).__name__ for e in events]


def settle(a: SipEndpoint, b: SipEndpoint, now: float) -> None:
    advance(a, b, now + 300.0)
    for ep in (a, b):
        assert ep.counts["server_transactions"] == 0 and ep.counts["client_transactions"] == 0


def test_a_call_between_two_endpoints() -> None:
    a, b = pair()
    call_id, incoming = dial(a, b)
    assert incoming.request.get("Supported") == "timer" and incoming.request.body == SDP
    assert a.events() == []  # 100 Trying is not reported
    b.answer(call_id, 180, "Ringing", now=0.1)
    pump(a, b, 0.1)
    [ringing] = a.events()
    assert isinstance(ringing, CallProgressed) and ringing.response.status == 180
    b.answer(call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=1.0)
    sent = pump(a, b, 1.0)
    assert methods(sent) == ["ACK"] and statuses(sent) == [200]
    [answered] = a.events()
    assert isinstance(answered, CallAnswered) and answered.response.body == ANSWER_SDP
    assert b.events() == [CallAcknowledged(call_id)]
    a.hangup(call_id, 10.0)
    assert methods(pump(a, b, 10.0)) == ["BYE"]
    assert b.events() == [CallEnded(call_id, "bye")] and a.events() == []
    assert a.counts["calls"] == b.counts["calls"] == 0
    settle(a, b, 10.0)


def test_the_callee_hangs_up() -> None:
    a, b = pair()
    call_id, _ = dial(a, b)
    b.answer(call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=0.0)
    pump(a, b, 0.0)
    a.events(), b.events()
    b.hangup(call_id, 5.0)
    pump(a, b, 5.0)
    assert a.events() == [CallEnded(call_id, "bye")]
    settle(a, b, 5.0)


def test_a_lost_ack_is_sent_again_for_the_retransmitted_200() -> None:
    a, b = pair()
    call_id, _ = dial(a, b)
    b.answer(call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=0.0)
    lost: list[Outgoing] = []

    def lose_first_ack(out: Outgoing) -> bool:
        if out.data.startswith(b"ACK") and not lost:
            lost.append(out)
            return True
        return False

    pump(a, b, 0.0, lose_first_ack)
    assert kinds(a.events()) == ["CallAnswered"] and b.events() == [] and lost
    sent = advance(a, b, 1.0)
    assert statuses(sent) == [200] and methods(sent) == ["ACK"]  # 200 again at 0.5, ACK again
    assert [o.data for o in sent if o.data.startswith(b"ACK")] == [lost[0].data]
    assert b.events() == [CallAcknowledged(call_id)] and a.events() == []
    settle(a, b, 1.0)
    assert a.counts["calls"] == b.counts["calls"] == 1  # still talking


def test_a_late_2xx_after_the_transaction_ended_gets_the_ack_again() -> None:
    a, b = pair()
    call_id, _ = dial(a, b)
    b.answer(call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=0.0)
    [ok] = b.datagrams()
    a.receive(ok.data, ("127.0.0.2", 5070), "udp", 0.0)
    first_ack = a.datagrams()
    advance(a, b, 40.0, drop=lambda out: True)  # a's INVITE transaction is gone (timer M)
    assert a.counts["client_transactions"] == 0 and a.counts["calls"] == 1
    a.receive(ok.data, ("127.0.0.2", 5070), "udp", 40.0)
    assert a.datagrams() == first_ack


def test_a_rejected_call() -> None:
    a, b = pair()
    call_id, _ = dial(a, b)
    b.answer(call_id, 486, "Busy Here", now=0.5)
    sent = pump(a, b, 0.5)
    assert statuses(sent) == [486] and methods(sent) == ["ACK"]
    assert a.events() == [CallFailed(call_id, 486, "Busy Here")]
    assert advance(a, b, 10.0) == []  # the ACK stopped the 486 retransmissions
    settle(a, b, 10.0)
    assert a.counts["calls"] == b.counts["calls"] == 0


def test_the_caller_cancels_while_it_rings() -> None:
    a, b = pair()
    call_id, _ = dial(a, b)
    b.answer(call_id, 180, "Ringing", now=0.1)
    pump(a, b, 0.1)
    a.events()
    a.hangup(call_id, 2.0)
    sent = pump(a, b, 2.0)
    assert methods(sent) == ["CANCEL", "ACK"] and sorted(statuses(sent)) == [200, 487]
    assert b.events() == [CallCancelled(call_id)] and a.events() == []
    settle(a, b, 2.0)
    assert a.counts["calls"] == b.counts["calls"] == 0


def test_a_hangup_before_any_provisional_cancels_after_the_100() -> None:
    a, b = pair()
    call_id = a.dial(TARGET, ("127.0.0.2", 5070), "udp", 0.0)
    a.hangup(call_id, 0.0)
    [invite] = a.datagrams()  # no CANCEL before a provisional response (RFC 3261 9.1)
    b.receive(invite.data, ("127.0.0.1", 5060), "udp", 0.0)
    sent = pump(a, b, 0.0)
    assert methods(sent) == ["CANCEL", "ACK"]
    assert kinds(b.events()) == ["IncomingCall", "CallCancelled"] and a.events() == []
    settle(a, b, 0.0)


def test_nobody_answers_the_invite() -> None:
    a, b = pair()
    call_id = a.dial(TARGET, ("127.0.0.2", 5070), "udp", 0.0)
    sent = advance(a, b, 40.0, drop=lambda out: True)
    assert methods(sent) == ["INVITE"] * 7  # 0, then timer A at 0.5, 1.5, 3.5, 7.5, 15.5, 31.5
    assert a.events() == [CallFailed(call_id, 408, "Request Timeout")]
    assert a.counts == {
        "calls": 0,
        "server_transactions": 0,
        "client_transactions": 0,
        "streams": 0,
    }


def test_a_call_over_tcp() -> None:
    a, b = pair()
    call_id = a.dial(
        TARGET, ("127.0.0.2", 5070), "tcp", 0.0, body=SDP, content_type="application/sdp"
    )
    pump(a, b, 0.0)
    b.events()
    b.answer(call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=0.0)
    sent = pump(a, b, 0.0)
    assert {o.transport for o in sent} == {"tcp"}
    assert b.events() == [CallAcknowledged(call_id)]
    a.hangup(call_id, 1.0)
    pump(a, b, 1.0)
    assert advance(a, b, 100.0) == []  # nothing is ever retransmitted on TCP
    assert b.events() == [CallEnded(call_id, "bye")]


def test_session_timer_refreshed_by_update_between_endpoints() -> None:
    a, b = pair(session_expires=90)
    call_id, incoming = dial(a, b)
    assert incoming.request.get("Session-Expires") == "90"
    b.answer(call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=0.0)
    pump(a, b, 0.0)
    a.events(), b.events()
    sent = advance(a, b, 200.0)
    assert methods(sent) == ["UPDATE"] * 4  # a refreshes at 45, 90, 135, 180
    assert a.events() == [] and b.events() == []
    assert a.counts["calls"] == b.counts["calls"] == 1


def test_session_expires_when_the_refresher_goes_silent() -> None:
    a, b = pair(session_expires=90)
    call_id, _ = dial(a, b)
    b.answer(call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=0.0)
    pump(a, b, 0.0)
    a.events(), b.events()
    advance(a, b, 200.0, drop=lambda out: out.data.startswith(b"UPDATE"))
    assert b.events() == [CallEnded(call_id, "session-expired")]  # at 60 s, before a gives up
    assert a.events() == [CallEnded(call_id, "bye")]
