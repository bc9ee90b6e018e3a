"""A call's life cycle table: every move, the facts read from the history, and the table
itself checked whole (each live state can end; the end is final)."""

from __future__ import annotations

import pytest

from callroster.bridge.caller_id import CallerId
from callroster.bridge.calls import (
    TRANSITIONS,
    Call,
    CallState,
    CallStateError,
    CallTable,
    CallTrigger,
    KeyMethod,
)
from callroster.bridge.rtp_session import RtpSession
from callroster.rtp.packet import RtpSender
from callroster.rtp.srtp import SrtpContext
from callroster.sdp.crypto import AES_CM_128_HMAC_SHA1_80
from callroster.sdp.offer_answer import SrtpKeys

S, T = CallState, CallTrigger


class _Port:
    def sendto(self, data: bytes, address: tuple[str, int], /) -> None: ...

    def close(self) -> None: ...


def _call(state: CallState, joined_via: str = "dial_in", call_id: str = "c1") -> Call:
    return Call(
        call_id=call_id,
        leg_id=f"leg-{call_id}",
        caller=CallerId(number=None, withheld=False),
        rtp=RtpSession(
            codec="PCMU",
            payload_type=0,
            telephone_event_pt=None,
            remote=("127.0.0.1", 4000),
            sender=RtpSender(ssrc=1, initial_sequence=1, initial_timestamp=0),
        ),
        port=_Port(),
        local_port=40000,
        state=state,
        joined_via=joined_via,
    )


def test_a_dialled_call_rings_is_answered_and_joins() -> None:
    call = _call(S.DIALLING, "dial_out")
    assert not call.rang and not call.answered and call.ringing
    call.fire(T.PROGRESS, deadline=30.0)
    assert call.deadline == 30.0 and call.rang and not call.answered
    call.fire(T.ANSWER, deadline=50.0)
    assert call.answered and call.ringing and call.deadline == 50.0
    call.fire(T.ADMIT)
    assert call.deadline is None and not call.ringing and not call.never_joined_invitation
    call.fire(T.END)
    assert call.history == [S.DIALLING, S.RINGING, S.INVITED, S.JOINED, S.ENDED]


@pytest.mark.parametrize(
    ("start", "reason"),
    [(S.JOINED, "dropped"), (S.RINGING, "cancelled"), (S.INVITED, "cancelled"), (S.PIN, "failed")],
)
def test_farewell_keeps_why_the_call_will_end(start: CallState, reason: str) -> None:
    call = _call(start)
    call.fire(T.FAREWELL)
    call.fire(T.FAREWELL)  # told twice: still the first reason
    assert (call.state, call.leaving_reason) == (S.LEAVING, reason)


@pytest.mark.parametrize(
    ("state", "trigger"),
    [
        (S.PIN, T.ANSWER),
        (S.JOINED, T.ADMIT),
        (S.ANSWERED, T.PROGRESS),
        (S.LEAVING, T.ADMIT),
        (S.ENDED, T.END),
    ],
)
def test_a_move_the_table_does_not_allow_raises(state: CallState, trigger: CallTrigger) -> None:
    call = _call(state)
    with pytest.raises(CallStateError):
        call.fire(trigger)
    assert call.history == [state]


def test_the_table_covers_every_state_and_only_the_end_is_final() -> None:
    assert set(TRANSITIONS) == set(CallState)
    for state, moves in TRANSITIONS.items():
        if state is S.ENDED:
            assert moves == {}
        else:
            assert moves[T.END] is S.ENDED and moves[T.FAREWELL] is S.LEAVING


def test_the_table_finds_calls_by_call_id_and_leg() -> None:
    table = CallTable()
    first, second = _call(S.PIN, call_id="a"), _call(S.PIN, call_id="b")
    table.add(first)
    table.add(second)
    assert (table.get("a"), table.for_leg("leg-b"), len(table)) == (first, second, 2)
    for call in table:  # a copy: removing while iterating is safe
        table.remove(call)
    assert len(table) == 0 and table.get("a") is None and "a" not in table


def test_key_presses_count_only_the_way_the_first_one_came() -> None:
    """A phone that sends each press both as an RFC 4733 event and as SIP INFO has each
    counted once, whichever way comes first."""
    by_info, by_rtp = _call(S.PIN, call_id="a"), _call(S.PIN, call_id="b")
    assert [by_info.takes_key(m) for m in (KeyMethod.INFO, KeyMethod.RFC4733)] == [True, False]
    assert [by_rtp.takes_key(m) for m in (KeyMethod.RFC4733, KeyMethod.INFO)] == [True, False]
    assert by_info.takes_key(KeyMethod.INFO) and by_rtp.takes_key(KeyMethod.RFC4733)
    assert (by_info.key_method, by_rtp.key_method) == (KeyMethod.INFO, KeyMethod.RFC4733)


@pytest.mark.parametrize(
    ("joined_via", "transport", "srtp", "encrypted"),
    [
        ("dial_in", "tls", True, True),
        ("dial_in", "tls", False, False),  # TLS signalling, clear RTP
        ("dial_in", "udp", True, False),  # SRTP keyed over clear SIP: readable on the way
        ("dial_in", "tcp", False, False),
        ("dial_out", "tls", True, True),
        ("web", "https", False, True),  # DTLS-SRTP, its offer over HTTPS
        ("web", "http", False, False),  # DTLS-SRTP, but its offer over clear HTTP
    ],
)
def test_a_leg_is_encrypted_only_when_its_signalling_and_media_both_are(
    joined_via: str, transport: str, srtp: bool, encrypted: bool
) -> None:
    call = _call(S.JOINED, joined_via)
    call.transport = transport
    if srtp:
        call.rtp.srtp = SrtpContext(
            SrtpKeys(AES_CM_128_HMAC_SHA1_80, bytes(range(30)), bytes(range(30, 60)), 1)
        )
    assert call.encrypted is encrypted
