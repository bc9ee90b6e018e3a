"""Browsers on the call: a WebRTC offer answered and admitted as a leg under the name its
person typed (``joined_via: web``); the browser mutes itself and leaves by its own secret."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from callroster.bridge.admission import Admission
from callroster.bridge.caller_id import CallerId
from callroster.bridge.calls import Call, CallState, CallTable
from callroster.bridge.errors import ConferenceLocked, NotInProgress
from callroster.bridge.rooms import Rooms
from callroster.bridge.rtp_session import RtpSession
from callroster.bridge.web_peer import WebPeer
from callroster.clock import Clock
from callroster.rtp.packet import RtpSender


@dataclass(frozen=True)
class WebJoined:
    leg_id: str
    answer: str  # SDP
    key: str  # the browser's secret for acting as its leg (mute itself, leave)


class WebLegs:
    def __init__(self, calls: CallTable, rooms: Rooms, clock: Clock) -> None:
        self._calls = calls
        self._rooms = rooms
        self._clock = clock

    def is_locked(self, match: Admission) -> bool:
        """Whether the conference is locked now (or, not in progress, locked by default)."""
        room = self._rooms.get(match.conference_id)
        return room.conference.locked if room is not None else match.locked

    async def join(self, match: Admission, name: str, offer_sdp: str) -> WebJoined:
        """See :meth:`BridgeService.join_web`."""
        if self.is_locked(match) and not match.as_host:
            raise ConferenceLocked(match.conference_id)
        call_id = f"web-{secrets.token_hex(8)}"
        leg_id = secrets.token_hex(8)
        calls, clock = self._calls, self._clock

        def on_packet(packet: bytes) -> None:
            call = calls.get(call_id)
            if call is not None:
                # A browser never sends telephone-events: no digit comes of this.
                call.rtp.receive(packet, WebPeer.address, clock.time())

        def on_closed() -> None:
            call = calls.get(call_id)
            if call is not None:
                self._rooms.end(call, "hangup")

        peer = WebPeer(on_packet, on_closed)
        try:
            answer = await peer.answer(offer_sdp)
        except BaseException:
            peer.close()
            raise
        call = Call(
            call_id=call_id,
            leg_id=leg_id,
            caller=CallerId(number=None, withheld=False),
            rtp=RtpSession(
                codec="PCMU",
                payload_type=0,
                telephone_event_pt=None,
                remote=WebPeer.address,
                sender=RtpSender(ssrc=0, initial_sequence=0, initial_timestamp=0),
            ),
            port=peer.transport,
            local_port=0,
            state=CallState.ANSWERED,
            joined_via="web",
            web_key=secrets.token_urlsafe(24),
        )
        calls.add(call)
        if not self._rooms.admit(call, match, name):  # locked between the check and now
            self._rooms.end(call, "locked")
            raise ConferenceLocked(match.conference_id)
        return WebJoined(call.leg_id, answer, call.web_key)

    def owns(self, leg_id: str, key: str) -> bool:
        """Whether ``key`` is the secret of this browser leg (still on the call)."""
        call = self._calls.for_leg(leg_id)
        return (
            call is not None
            and call.joined_via == "web"
            and hmac.compare_digest(call.web_key.encode(), key.encode())
        )

    def leave(self, leg_id: str) -> None:
        """The browser said goodbye (its page closed or the Leave button)."""
        call = self._calls.for_leg(leg_id)
        if call is not None and call.joined_via == "web":
            self._rooms.end(call, "hangup")

    def mute_self(self, leg_id: str, muted: bool) -> bool:
        """See :meth:`BridgeService.mute_self`."""
        call = self._web_call(leg_id)
        room = self._rooms.get(call.conference_id)
        if room is None:
            raise NotInProgress(leg_id)
        allowed = True
        if muted:
            room.conference.mute(leg_id, "self")
        else:
            allowed = room.conference.unmute(leg_id, "self")
        self._rooms.after_change(room)
        return allowed

    def _web_call(self, leg_id: str) -> Call:
        call = self._calls.for_leg(leg_id)
        if call is None or call.joined_via != "web" or call.state is not CallState.JOINED:
            raise NotInProgress(leg_id)
        return call
