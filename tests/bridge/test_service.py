"""The bridge's logic without a socket or a real clock: SIP messages in the shape sipp sends
go in through ``on_sip``, RTP through each call's in-memory port, and time moves only when
the test says (``FakeClock.advance`` runs every 20 ms media tick on the way). Each test
asserts what a caller would see or hear: the answer, the audio, the BYE, the roster's events,
and the call's whole state history."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest
from tests.support.bridge_rig import (
    ACCESS_NUMBER,
    CALLEE,
    CALLEE_MEDIA,
    CONFERENCE,
    GUEST,
    GUEST_PIN,
    HOST_PIN,
    Rig,
    answered,
    bridge_rig,
    reply,
)
from tests.support.fake_network import FakePort, Phone, phone_sdp, tone
from tests.support.waiting import wait_until

from callroster.bridge.calls import CallState
from callroster.bridge.dial_target import DialTarget
from callroster.bridge.errors import NotInProgress
from callroster.conference.events import (
    LegInvited,
    LegJoined,
    LegLeft,
    TalkingStarted,
)
from callroster.conference.pin_entry import PinState
from callroster.rtp import g711
from callroster.sdp.session import parse_sdp
from callroster.sip.message import Request, Response, parse_message, response_to, serialise


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with bridge_rig() as rig:
        yield rig


def _state(rig: Rig, phone: Phone) -> CallState | None:
    return rig.bridge.call_states().get(phone.call_id)


def _frames(packets: list[bytes]) -> np.ndarray:
    return np.concatenate([g711.decode("PCMU", p) for p in packets]).astype(np.float64)


def _peak_hz(pcm: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(pcm * np.hanning(len(pcm))))
    return float(np.fft.rfftfreq(len(pcm), 1 / 8000)[int(np.argmax(spectrum))])


def _rms(pcm: np.ndarray) -> float:
    return float(np.sqrt(np.mean(pcm**2)))


# -- dialling in --------------------------------------------------------------------------
async def test_a_direct_dial_is_answered_joined_and_leaves_on_bye(rig: Rig) -> None:
    phone = Phone(1, GUEST_PIN, caller="+447700900101")
    port = await answered(rig, phone)
    assert not port.closed
    assert rig.bridge.call_history(phone.call_id) == [CallState.PIN, CallState.JOINED]
    [joined] = rig.of(LegJoined)
    assert joined.conference_id == CONFERENCE and joined.details is not None
    assert joined.details.number == "+447700900101" and joined.details.role == "guest"
    # Written to the store off the media path; its number is only From's (unverified), so
    # no name is looked up (tests/bridge/test_name_lookup.py).
    assert joined.details.number_verified is False
    await wait_until(lambda: rig.directory.written("leg_joined"), 5, "the leg stored", 0.002)
    [(record,)] = rig.directory.written("leg_joined")
    assert (record.leg_id, record.number, record.joined_via) == (
        joined.leg_id,
        "+447700900101",
        "dial_in",
    )
    assert rig.directory.name_lookups == []

    phone.send(rig.bridge, phone.in_dialog("BYE"))
    assert [r.status for r in rig.responses()] == [200]
    assert port.closed and rig.bridge.call_count() == 0
    assert rig.bridge.conferences_in_progress() == []
    assert [(e.leg_id, e.reason) for e in rig.of(LegLeft)] == [(joined.leg_id, "hangup")]


async def test_a_wrong_pin_in_the_uri_is_answered_like_a_right_one_then_asked_for(
    rig: Rig,
) -> None:
    async def shape(phone: Phone) -> tuple[list[int], list[str], int]:
        """How the bridge answered the phone's INVITE: statuses, header names, m-lines."""
        phone.dial(rig.bridge)
        seen: list[Response] = []

        def ok() -> bool:
            seen.extend(rig.responses(phone.call_id))
            return any(r.status >= 200 for r in seen)

        await wait_until(ok, 5, "a final answer", 0.002)
        final = seen[-1]
        phone.learn(serialise(final))
        phone.send(rig.bridge, phone.ack())
        headers = sorted(name.lower() for name, _ in final.headers)
        return [r.status for r in seen], headers, len(parse_sdp(final.body).media)

    wrong, right = Phone(1, "99999999"), Phone(2, GUEST_PIN)
    # The same answer to both INVITEs: nothing in it says whether the PIN was right.
    assert await shape(wrong) == await shape(right)
    await wait_until(lambda: _state(rig, right) is CallState.JOINED, 5, "joining", 0.002)
    # Then the wrong one is asked for the PIN (one attempt used), the right one has joined.
    await wait_until(
        lambda: rig.bridge.pin_entry_state(wrong.call_id) is PinState.COLLECTING,
        5,
        "the wrong PIN to be checked",
        0.002,
    )
    assert _state(rig, wrong) is CallState.PIN


async def test_a_uri_that_names_no_pin_and_no_number_of_ours_is_not_found(rig: Rig) -> None:
    phone = Phone(1, "sales")
    phone.dial(rig.bridge)
    statuses: list[int] = []

    def final() -> bool:
        statuses.extend(r.status for r in rig.responses())
        return any(s >= 200 for s in statuses)

    await wait_until(final, 5, "a final answer", 0.002)
    assert statuses[-1] == 404 and rig.bridge.call_count() == 0
    assert rig.network.ports == {}  # no media socket was opened for it


async def test_the_pin_keyed_by_rfc4733_joins_as_host(rig: Rig) -> None:
    phone = Phone(1, ACCESS_NUMBER)
    port = await answered(rig, phone)
    assert _state(rig, phone) is CallState.PIN
    assert rig.bridge.conferences_in_progress() == []
    for digit in HOST_PIN:  # eight digits: full length submits
        for packet in phone.key(digit):
            port.deliver(packet, phone.media)
        rig.clock.advance(0.1)
    await wait_until(lambda: _state(rig, phone) is CallState.JOINED, 5, "joining", 0.002)
    assert rig.bridge.call_history(phone.call_id) == [CallState.PIN, CallState.JOINED]
    [joined] = rig.of(LegJoined)
    assert joined.details is not None and joined.details.role == "host"


async def test_the_pin_keyed_by_info_joins(rig: Rig) -> None:
    phone = Phone(1, ACCESS_NUMBER)
    await answered(rig, phone)
    for digit in [*GUEST_PIN]:
        phone.send(
            rig.bridge,
            phone.in_dialog(
                "INFO",
                body=f"Signal={digit}\r\nDuration=160\r\n".encode(),
                content_type="application/dtmf-relay",
            ),
        )
    await wait_until(lambda: _state(rig, phone) is CallState.JOINED, 5, "joining", 0.002)


async def test_silence_at_the_pin_prompt_ends_the_call_with_a_bye(rig: Rig) -> None:
    phone = Phone(1, ACCESS_NUMBER)
    port = await answered(rig, phone)
    rig.network.take_sip()
    heard = 0
    for _ in range(90):  # three prompts, 10 s apart, then goodbye: all on the fake clock
        rig.clock.advance(1.0)
        heard += len(port.packets())
        if rig.bridge.call_count() == 0:
            break
    assert rig.bridge.call_count() == 0, rig.bridge.call_states()
    assert [m.method for m in rig.network.take_sip() if isinstance(m, Request)] == ["BYE"]
    assert port.closed
    assert 30 * 50 <= heard <= 45 * 50  # a packet every 20 ms while the prompts played


# -- media --------------------------------------------------------------------------------
TALK_FROM = 150  # frames of line noise before the tone


def _talk(rig: Rig, port: FakePort, phone: Phone, frames: int, start: int = 0) -> None:
    """``phone`` sends 20 ms frames: quiet line noise for 3 s (while the "joining" prompt
    plays, and so the talk detector learns the floor), then a 1 kHz tone. A steady tone
    becomes the floor after 2 s, as steady noise should, so the tone is shorter."""
    speech = tone(1000.0)
    noise = np.random.default_rng(7).normal(0, 30, (frames, g711.FRAME_SAMPLES))
    for n in range(start, frames):
        pcm = speech(n) if n >= TALK_FROM else noise[n].astype(np.int16)
        port.deliver(phone.audio(pcm), phone.media)
        rig.clock.advance(0.02)


async def test_two_callers_hear_each_other_and_never_themselves(rig: Rig) -> None:
    alice, bob = Phone(1, GUEST_PIN), Phone(2, GUEST_PIN, caller="+447700900102")
    alice_port = await answered(rig, alice)
    bob_port = await answered(rig, bob)
    _talk(rig, alice_port, alice, TALK_FROM + 75)
    to_bob = [p.payload for p in bob_port.packets()]
    to_alice = [p.payload for p in alice_port.packets()]
    assert len(to_bob) >= TALK_FROM + 70  # one packet a tick
    quiet = _frames(to_bob[TALK_FROM - 30 : TALK_FROM])  # the prompt is over, Alice not yet
    assert _rms(quiet) < 100
    heard = _frames(to_bob[-40:])
    assert abs(_peak_hz(heard) - 1000.0) < 20 and _rms(heard) > 1000
    assert _rms(_frames(to_alice[-40:])) < 50  # N-1: Alice does not hear herself
    assert [e.leg_id for e in rig.of(TalkingStarted)] == [rig.of(LegJoined)[0].leg_id]


async def test_garbage_and_strangers_on_a_media_port_harm_no_one(rig: Rig) -> None:
    alice, bob = Phone(1, GUEST_PIN), Phone(2, GUEST_PIN)
    alice_port = await answered(rig, alice)
    bob_port = await answered(rig, bob)
    stranger = Phone(9, "x")
    for n in range(TALK_FROM + 75):
        alice_port.deliver(b"\x80garbage", alice.media)
        alice_port.deliver(stranger.audio(tone(440.0)(n)), ("192.0.2.9", 4000))
        bob_port.deliver(b"", bob.media)
        _talk(rig, alice_port, alice, n + 1, start=n)
    heard = _frames([p.payload for p in bob_port.packets()][-40:])
    assert abs(_peak_hz(heard) - 1000.0) < 20
    assert rig.bridge.call_count() == 2


# -- host controls ------------------------------------------------------------------------
async def test_a_dropped_caller_hears_goodbye_then_gets_a_bye(rig: Rig) -> None:
    phone = Phone(1, GUEST_PIN)
    port = await answered(rig, phone)
    [joined] = rig.of(LegJoined)
    rig.network.take_sip()
    rig.bridge.control(CONFERENCE, "drop", joined.leg_id)
    assert rig.bridge.call_history(phone.call_id) == [
        CallState.PIN,
        CallState.JOINED,
        CallState.LEAVING,
    ]
    assert [(e.leg_id, e.reason) for e in rig.of(LegLeft)] == [(joined.leg_id, "dropped")]
    assert rig.network.take_sip() == []  # not yet: the goodbye plays first
    rig.clock.advance(10.0)
    sent = [m.method for m in rig.network.take_sip() if isinstance(m, Request)]
    assert sent[0] == "BYE" and set(sent) == {"BYE"}  # sent again until answered (UDP)
    assert port.closed and rig.bridge.conferences_in_progress() == []


async def test_controls_on_a_conference_not_in_progress_are_refused(rig: Rig) -> None:
    with pytest.raises(NotInProgress):
        rig.bridge.control("no-such-conference", "lock")
    with pytest.raises(KeyError):  # as the API has always caught it
        rig.bridge.control("no-such-conference", "lock")


# -- dialling out -------------------------------------------------------------------------
async def _dial(rig: Rig, ring_seconds: float = 30.0) -> tuple[str, Request]:
    leg_id = await rig.bridge.dial_out(
        GUEST,
        DialTarget(number="+447700900555", host=CALLEE[0], port=CALLEE[1], trunk_id="trunk-1"),
        "Bob",
        ring_seconds,
        requested_by="host-1",
    )
    [invite] = [m for m in rig.network.take_sip() if isinstance(m, Request)]
    assert invite.method == "INVITE" and invite.uri.startswith("sip:+447700900555@")
    return leg_id, invite


async def test_a_dialled_guest_rings_answers_and_joins_by_pressing_1(rig: Rig) -> None:
    dialled_at = rig.clock.wall()
    leg_id, invite = await _dial(rig)
    call_id = invite.get("Call-ID") or ""
    [invited] = rig.of(LegInvited)
    assert invited.leg_id == leg_id and invited.details.name == "Bob"
    reply(rig, invite, 180, "Ringing")
    assert rig.bridge.call_states()[call_id] is CallState.RINGING
    rig.clock.advance(2.0)
    reply(rig, invite, 200, "OK", phone_sdp(*CALLEE_MEDIA))
    assert [m.method for m in rig.network.take_sip() if isinstance(m, Request)] == ["ACK"]
    assert rig.bridge.call_states()[call_id] is CallState.INVITED
    assert not rig.of(LegJoined)  # not on the call before pressing 1
    offer = parse_sdp(invite.body)
    port = rig.network.ports[offer.media[0].port]
    callee = Phone(3, "x")
    callee.media = CALLEE_MEDIA
    rig.clock.advance(1.0)
    for packet in callee.key("1"):
        port.deliver(packet, CALLEE_MEDIA)
    assert rig.bridge.call_history(call_id) == [
        CallState.DIALLING,
        CallState.RINGING,
        CallState.INVITED,
        CallState.JOINED,
    ]
    assert [e.leg_id for e in rig.of(LegJoined)] == [leg_id]
    # The call detail record carries the times of the injected clock.
    await wait_until(lambda: rig.directory.written("call_answered"), 5, "the CDR", 0.002)
    [(attempt,)] = rig.directory.written("call_started")
    assert (attempt.number, attempt.trunk_id, attempt.requested_by) == (
        "+447700900555",
        "trunk-1",
        "host-1",
    )
    assert attempt.started_at == dialled_at
    assert rig.directory.written("call_answered") == [(leg_id, dialled_at.replace(second=2))]


async def test_a_dialled_guest_who_never_answers_is_cancelled_after_the_ring_time(
    rig: Rig,
) -> None:
    leg_id, invite = await _dial(rig, ring_seconds=5.0)
    reply(rig, invite, 180, "Ringing")
    rig.clock.advance(4.9)
    assert rig.network.take_sip() == []
    rig.clock.advance(0.2)
    assert [m.method for m in rig.network.take_sip() if isinstance(m, Request)] == ["CANCEL"]
    assert [(e.leg_id, e.reason) for e in rig.of(LegLeft)] == [(leg_id, "no_answer")]
    assert rig.bridge.call_count() == 0 and rig.bridge.conferences_in_progress() == []
    await wait_until(lambda: rig.directory.written("call_finished"), 5, "the CDR", 0.002)
    [(_, outcome, status, _)] = rig.directory.written("call_finished")
    assert (outcome, status) == ("no_answer", None)


@pytest.mark.parametrize(("status", "reason"), [(486, "busy"), (603, "declined"), (503, "failed")])
async def test_a_refused_dial_out_leaves_with_its_reason(
    rig: Rig, status: int, reason: str
) -> None:
    leg_id, invite = await _dial(rig)
    reply(rig, invite, status, "Refused")
    assert [(e.leg_id, e.reason) for e in rig.of(LegLeft)] == [(leg_id, reason)]
    assert rig.bridge.call_count() == 0
    await wait_until(lambda: rig.directory.written("call_finished"), 5, "the CDR", 0.002)
    [(_, outcome, sip_status, _)] = rig.directory.written("call_finished")
    assert (outcome, sip_status) == (reason, status)


async def test_a_trunk_that_cannot_be_reached_fails_the_leg_at_once(rig: Rig) -> None:
    rig.network.unreachable.add(CALLEE)
    leg_id = await rig.bridge.dial_out(
        GUEST,
        DialTarget(number="+447700900555", host=CALLEE[0], port=CALLEE[1], transport="tcp"),
        None,
        30.0,
    )
    assert [(e.leg_id, e.reason) for e in rig.of(LegLeft)] == [(leg_id, "failed")]
    assert rig.network.take_sip() == [] and rig.bridge.call_count() == 0


async def test_stop_hangs_up_every_call(rig: Rig) -> None:
    phone = Phone(1, GUEST_PIN)
    port = await answered(rig, phone)
    rig.network.take_sip()
    await rig.bridge.stop()
    assert [m.method for m in rig.network.take_sip() if isinstance(m, Request)] == ["BYE"]
    assert port.closed and rig.bridge.call_count() == 0
    await asyncio.sleep(0)


def test_parse_message_is_what_the_rig_uses() -> None:
    # A positive control for the helpers above: a response parses back as itself.
    phone = Phone(1, GUEST_PIN)
    invite = phone.invite()
    response = response_to(invite, 200, "OK", to_tag="t")
    parsed = parse_message(serialise(response))
    assert isinstance(parsed, Response) and parsed.status == 200
