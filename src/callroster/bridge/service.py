"""The bridge at run time: SIP and RTP sockets, the 20 ms media clock, and the calls.

This is the asyncio adapter around pure parts: ``SipEndpoint`` (transactions, dialogs),
``RtpSession`` (media per call), ``PinEntry``, ``Conference`` (the one owner of call state)
and ``Mixer``. It moves bytes and time between them and carries out their effects; it
decides nothing about SIP, media or who may do what.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import logging
import math
import secrets
import socket
import time
from collections import deque
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from callroster.bridge.caller_id import CallerId, caller_id
from callroster.bridge.dial_target import DialTarget, dial_failure
from callroster.bridge.directory import CallAttempt, ConferenceDirectory, LegRecord
from callroster.bridge.dtmf_info import digit_from_info
from callroster.bridge.rtp_session import RtpSession
from callroster.bridge.store_writer import StoreWriter
from callroster.bridge.web_peer import WebPeer
from callroster.bus import EventBus
from callroster.conference.conference import Conference
from callroster.conference.events import (
    Event,
    HangUp,
    LegHeld,
    LegLeft,
    LegRenamed,
    LegResumed,
    PlayPrompt,
    PlayTone,
)
from callroster.conference.leg import Leg, LegRole, LegStatus
from callroster.conference.pin_entry import CheckPin, GiveUp, PinEntry, PinState, Say
from callroster.media.mixer import Mixer
from callroster.media.prompt_library import PromptPlayer
from callroster.media.speech import speak
from callroster.media.talk import TalkDetector, level_from_power
from callroster.media.tones import hold_music, join_tone, leave_tone
from callroster.rtp import g711
from callroster.rtp.packet import RtpSender
from callroster.sdp.offer_answer import Negotiated, accept_answer, answer_offer, make_offer
from callroster.sdp.session import SdpError, SessionDescription, parse_sdp, serialise_sdp
from callroster.sip import events as sip_events
from callroster.sip.endpoint import SipEndpoint
from callroster.sip.message import Request, Response
from callroster.sip.uri import parse_uri
from callroster.store.conferences import PinMatch

log = logging.getLogger(__name__)

TICK = 0.020
LEG_ACTIONS = {
    "mute": "mute",
    "unmute": "unmute",
    "hold": "hold",
    "unhold": "unhold",
    "drop": "drop",
}
SILENT_PCM = np.zeros(160, dtype=np.int16)
FRAME_SAMPLES = 160
# A leg's frame this tick, from RtpSession.next_audio: a payload, a concealment, or nothing.
Audio = bytes | NDArray[np.int16] | None
_PROMPT_CACHE_FRAMES = 20_000  # about 6 minutes of prompts per codec; cleared when full
INVITATION = ("invited", "press_one", "press_one")
CALL_OUTCOMES = frozenset({"answered", "busy", "no_answer", "declined", "failed", "cancelled"})
TCP_CONNECT_SECONDS = 5.0
ACCEPT_SECONDS = 20.0  # after answering, time to press 1 (the prompt repeats meanwhile)


class _Unreachable(Exception):
    pass


def wall_clock() -> dt.datetime:
    """The time of day, for records people read (the media clock is the loop's)."""
    return dt.datetime.now(dt.UTC)


class ConferenceLocked(Exception):
    """The conference is locked: only its hosts may join."""


@dataclass(frozen=True)
class WebJoined:
    leg_id: str
    answer: str  # SDP
    key: str  # the browser's secret for acting as its leg (mute itself, leave)


class Phase(StrEnum):
    INVITED = "invited"  # dial-out: ringing, then asked to press 1
    PIN = "pin"
    JOINED = "joined"
    LEAVING = "leaving"  # out of the conference, hearing its last prompt before BYE
    ENDED = "ended"


@dataclass
class Call:
    call_id: str
    leg_id: str
    caller: CallerId
    rtp: RtpSession
    rtp_transport: asyncio.DatagramTransport
    local_port: int
    phase: Phase = Phase.PIN
    pin: PinEntry | None = None
    conference_id: str | None = None
    role: LegRole = LegRole.GUEST
    prompts: PromptPlayer = field(default_factory=PromptPlayer)
    talk: TalkDetector = field(default_factory=TalkDetector)
    hang_up_after_prompts: bool = False
    sdp_version: int = 1
    # False while the phone holds us (it said sendonly/inactive): RFC 3264 forbids sending.
    sending: bool = True
    joined_via: str = "dial_in"  # dial_in | web
    web_key: str = ""  # a browser leg's secret: only the browser that joined may act as it
    offer: SessionDescription | None = None  # ours, when we dialled (dial-out)
    deadline: float | None = None  # dial-out: ring time, then the time to press 1
    answered: bool = False
    progressed: bool = False  # dial-out: a provisional response came (it rings)
    press_to_accept: bool = True  # dial-out: the callee joins by pressing 1
    invitation: tuple[NDArray[np.int16], ...] | None = None  # "<host> invites you...", spoken
    sip_status: int | None = None  # dial-out: the final failure status, if one came


@dataclass
class Room:
    """A conference in progress on this node, with its mixer and sounds."""

    conference: Conference
    mixer: Mixer = field(default_factory=Mixer)
    music: Iterator[NDArray[np.int16]] = field(default_factory=hold_music)
    tones: deque[NDArray[np.int16]] = field(default_factory=deque)


class TickStats:
    """How late each media tick ran (seconds), for the benchmark and the health endpoint.

    The loop's clock (libuv's under uvloop) counts whole milliseconds, too coarse for a
    lateness that should stay well under one. :meth:`precise` maps ``time.perf_counter()``
    onto the loop's clock instead: the loop's reading is never ahead of the true time, so the
    smallest ``perf_counter() - loop.time()`` seen so far is the offset between the two,
    accurate to microseconds after a few ticks.
    """

    def __init__(self, keep: int = 30_000) -> None:
        self.lateness: deque[float] = deque(maxlen=keep)
        self.ticks = 0
        self.skipped = 0  # ticks never run because the clock jumped (catch-up after a stall)
        self._offset = math.inf

    def precise(self, loop_now: float) -> float:
        """The current time on the loop's clock, to the precision of ``perf_counter``."""
        counter = time.perf_counter()
        self._offset = min(self._offset, counter - loop_now)
        return counter - self._offset

    def record(self, lateness: float) -> None:
        self.ticks += 1
        self.lateness.append(lateness)


class _RtpProtocol(asyncio.DatagramProtocol):
    def __init__(self, bridge: BridgeService, call_id: str) -> None:
        self._bridge = bridge
        self._call_id = call_id  # set after the socket opens when we dial (dial-out)
        self._calls = bridge.calls
        self._time = asyncio.get_running_loop().time

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        # BridgeService.on_rtp, inlined: this runs for every packet of every leg. The loop
        # gives the address as (host str, port int, ...), which RtpSession.receive compares.
        call = self._calls.get(self._call_id)
        if call is None:
            return
        digit = call.rtp.receive(data, addr, self._time())
        if digit is not None:
            self._bridge.on_digit(call, digit)


class _SipUdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, bridge: BridgeService) -> None:
        self._bridge = bridge

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self._bridge.on_sip(data, (str(addr[0]), int(addr[1])), "udp")


class BridgeService:
    def __init__(
        self,
        directory: ConferenceDirectory,
        bus: EventBus,
        *,
        media_address: str,
        advertised_address: str | None = None,
    ) -> None:
        self._directory = directory
        self._bus = bus
        self._media_address = media_address
        self._advertised = advertised_address or media_address
        self.calls: dict[str, Call] = {}
        self._calls_by_leg: dict[str, Call] = {}
        self._routing: set[str] = set()  # INVITEs being looked up, not yet answered
        self._abandoned: set[str] = set()  # ...of which the caller already gave up
        self.rooms: dict[str, Room] = {}
        self._unstored_rooms: set[str] = set()  # rooms that are no conference of the store
        self.stats = TickStats()
        self._endpoint: SipEndpoint | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp_server: asyncio.Server | None = None
        self._tcp: dict[tuple[str, int], asyncio.StreamWriter] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sip_timer: asyncio.TimerHandle | None = None
        self._tick_handle: asyncio.TimerHandle | None = None
        self._next_tick = 0.0
        self._writer = StoreWriter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._prompt_payloads: dict[tuple[int, str], tuple[NDArray[np.int16], bytes]] = {}

    # -- life cycle -----------------------------------------------------------------------
    async def start(self, udp_socket: socket.socket, tcp_socket: socket.socket) -> None:
        loop = self._loop = asyncio.get_running_loop()
        host, port = udp_socket.getsockname()[:2]
        self._endpoint = SipEndpoint(self._advertised, int(port), ids=lambda: secrets.token_hex(8))
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _SipUdpProtocol(self), sock=udp_socket
        )
        self._udp = transport
        self._tcp_server = await asyncio.start_server(self._serve_tcp, sock=tcp_socket)
        self._writer.start()
        self._next_tick = loop.time() + TICK
        self._tick_handle = loop.call_at(self._next_tick, self._tick)
        log.info("bridge listening for SIP on %s:%s", host, port)

    async def stop(self) -> None:
        """Hang up every call (BYE), stop the clock, finish the store writes."""
        now = self._now()
        for call in list(self.calls.values()):
            self._hang_up(call, now, "shutdown")
        self._pump()
        if self._tick_handle is not None:
            self._tick_handle.cancel()
        if self._sip_timer is not None:
            self._sip_timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._udp is not None:
            self._udp.close()
        if self._tcp_server is not None:
            self._tcp_server.close()
            for writer in self._tcp.values():
                writer.close()
            await self._tcp_server.wait_closed()
        await self._writer.drain_and_stop()

    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run a coroutine as a tracked task: kept, logged if it fails, cancelled on stop."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)

        def finished(done: asyncio.Task[None]) -> None:
            self._tasks.discard(done)
            if not done.cancelled() and done.exception() is not None:
                log.error("bridge task failed", exc_info=done.exception())

        task.add_done_callback(finished)

    # -- SIP ------------------------------------------------------------------------------
    @property
    def endpoint(self) -> SipEndpoint:
        assert self._endpoint is not None
        return self._endpoint

    def _answer(
        self,
        call_id: str,
        status: int,
        reason: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
    ) -> None:
        self.endpoint.answer(
            call_id, status, reason, body=body, content_type=content_type, now=self._now()
        )

    def on_sip(self, data: bytes, source: tuple[str, int], transport: str) -> None:
        self.endpoint.receive(data, source, transport, self._now())  # type: ignore[arg-type]
        self._pump()

    async def _serve_tcp(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        source: tuple[str, int] | None = None,
    ) -> None:
        if source is None:
            peer = writer.get_extra_info("peername")
            source = (str(peer[0]), int(peer[1]))
        self._tcp[source] = writer
        try:
            while chunk := await reader.read(65536):
                self.on_sip(chunk, source, "tcp")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tcp.pop(source, None)
            self.endpoint.connection_closed(source)
            writer.close()

    def _pump(self) -> None:
        """Send what the endpoint wants sent, act on its events, re-arm its timer."""
        endpoint = self.endpoint
        for _ in range(100):  # handling an event can produce more; bounded, never a loop
            for out in endpoint.datagrams():
                if out.transport == "tcp":
                    writer = self._tcp.get(out.destination)
                    if writer is not None:
                        writer.write(out.data)
                elif self._udp is not None:
                    self._udp.sendto(out.data, out.destination)
            events = endpoint.events()
            if not events:
                break
            for event in events:
                self._on_sip_event(event)
        if self._sip_timer is not None:
            self._sip_timer.cancel()
            self._sip_timer = None
        when = endpoint.next_timer()
        if when is not None and self._loop is not None:
            self._sip_timer = self._loop.call_at(when, self._on_sip_timer)

    def _on_sip_timer(self) -> None:
        self._sip_timer = None
        self.endpoint.handle_timer(self._now())
        self._pump()

    def _on_sip_event(self, event: object) -> None:
        if isinstance(event, sip_events.IncomingCall):
            self._spawn(self._route(event.call_id, event.request))
        elif isinstance(event, (sip_events.CallEnded, sip_events.CallCancelled)):
            call = self.calls.get(event.call_id)
            if call is not None:
                self._end(call, "hangup")
            elif event.call_id in self._routing:
                # CANCEL (or a time-out) while we were still looking the call up.
                self._abandoned.add(event.call_id)
        elif isinstance(event, sip_events.CallAnswered):
            self._dialled_answered(event.call_id, event.response)
        elif isinstance(event, sip_events.CallFailed):
            call = self.calls.get(event.call_id)
            if call is not None:
                call.sip_status = event.status
                # No answer at all from the trunk (our own time-out) is a failure, not a
                # phone left ringing.
                silent = event.status == 408 and not call.progressed
                self._end(call, "failed" if silent else dial_failure(event.status))
        elif isinstance(event, sip_events.CallProgressed):
            call = self.calls.get(event.call_id)
            if call is not None:
                call.progressed = True
        elif isinstance(event, sip_events.ReInvite):
            self._reinvite(event.call_id, event.request)
        elif isinstance(event, sip_events.InfoReceived):
            call = self.calls.get(event.call_id)
            digit = digit_from_info(event.request)
            if call is not None and digit is not None:
                self._digit(call, digit)

    # -- a new call -----------------------------------------------------------------------
    async def _route(self, call_id: str, request: Request) -> None:
        """Decide where an INVITE goes, open its media, answer it."""
        self._routing.add(call_id)
        try:
            await self._route_call(call_id, request)
        finally:
            self._routing.discard(call_id)
            self._abandoned.discard(call_id)

    async def _route_call(self, call_id: str, request: Request) -> None:
        try:
            user = parse_uri(request.uri).user or ""
        except ValueError:
            user = ""
        match: PinMatch | None = None
        is_dial_in = bool(user) and await asyncio.to_thread(self._is_dial_in, user)
        if is_dial_in:
            pass
        elif user.isdigit() and (
            match := await asyncio.to_thread(self._directory.open_with_pin, user)
        ):
            pass
        else:
            self._answer(call_id, 404, "Not Found")
            self._pump()
            return
        try:
            offer = parse_sdp(request.body)
        except SdpError as exc:
            self._answer(call_id, exc.code, exc.reason)
            self._pump()
            return
        assert self._loop is not None
        transport, _ = await self._loop.create_datagram_endpoint(
            lambda: _RtpProtocol(self, call_id), local_addr=(self._media_address, 0)
        )
        rtp_transport = transport
        if call_id in self._abandoned:  # the caller gave up while we opened the socket
            rtp_transport.close()
            return
        local_port = int(rtp_transport.get_extra_info("sockname")[1])
        try:
            negotiated = self._negotiate(offer, local_port, 1)
        except SdpError as exc:
            rtp_transport.close()
            self._answer(call_id, exc.code, exc.reason)
            self._pump()
            return
        rtp = RtpSession(
            codec=negotiated.codec,
            payload_type=negotiated.payload_type,
            telephone_event_pt=negotiated.telephone_event_pt,
            remote=(negotiated.remote_address, negotiated.remote_port),
            sender=RtpSender(
                ssrc=secrets.randbits(32),
                initial_sequence=secrets.randbits(16),
                initial_timestamp=secrets.randbits(32),
                payload_type=negotiated.payload_type,
            ),
        )
        call = Call(
            call_id=call_id,
            leg_id=secrets.token_hex(8),
            caller=caller_id(request),
            rtp=rtp,
            rtp_transport=rtp_transport,
            local_port=local_port,
            sending=not negotiated.on_hold,
        )
        self.calls[call_id] = call
        self._calls_by_leg[call.leg_id] = call
        self._answer(
            call_id,
            200,
            "OK",
            body=serialise_sdp(negotiated.answer).encode(),
            content_type="application/sdp",
        )
        self._pump()
        if match is not None:
            self._join(call, match)
        else:
            call.pin = PinEntry(self._now())
            self._apply_pin_effects(call)

    def _is_dial_in(self, user: str) -> bool:
        return self._directory.is_dial_in_number(user)

    def _negotiate(self, offer: SessionDescription, local_port: int, version: int) -> Negotiated:
        return answer_offer(
            offer,
            local_address=self._advertised,
            local_port=local_port,
            session_id=local_port,
            session_version=version,
        )

    def _reinvite(self, call_id: str, request: Request) -> None:
        call = self.calls.get(call_id)
        if call is None:
            self._answer(call_id, 481, "Call/Transaction Does Not Exist")
            return
        call.sdp_version += 1
        if not request.body.strip():
            # An offerless re-INVITE (a session refresh, typically): we make the offer, the
            # same media as now. The answer comes in the ACK; a change of media made there
            # is not applied (not supported yet), the call carries on as it was.
            offer = make_offer(
                local_address=self._advertised,
                local_port=call.local_port,
                session_id=call.local_port,
                session_version=call.sdp_version,
                codecs=(call.rtp.codec,),
                telephone_event_pt=call.rtp.telephone_event_pt,
            )
            self._answer(
                call_id,
                200,
                "OK",
                body=serialise_sdp(offer).encode(),
                content_type="application/sdp",
            )
            return
        try:
            negotiated = self._negotiate(parse_sdp(request.body), call.local_port, call.sdp_version)
        except SdpError as exc:
            self._answer(call_id, exc.code, exc.reason)
            return
        call.rtp.update_remote(
            (negotiated.remote_address, negotiated.remote_port),
            negotiated.codec,
            negotiated.payload_type,
            negotiated.telephone_event_pt,
        )
        call.sending = not negotiated.on_hold
        self._answer(
            call_id,
            200,
            "OK",
            body=serialise_sdp(negotiated.answer).encode(),
            content_type="application/sdp",
        )
        room = self.rooms.get(call.conference_id or "")
        if room is not None and call.phase == Phase.JOINED:
            if negotiated.on_hold:
                room.conference.hold(call.leg_id, "phone")
            else:
                room.conference.unhold(call.leg_id, "phone")
            self._after_conference_change(room)

    # -- PIN and joining ------------------------------------------------------------------
    def _digit(self, call: Call, digit: str) -> None:
        now = self._now()
        if call.phase == Phase.INVITED and call.answered:
            if digit == "1":
                self._accept_invitation(call, now)
        elif call.phase == Phase.PIN and call.pin is not None:
            call.pin.digit(digit, now)
            self._apply_pin_effects(call)
        elif call.phase == Phase.JOINED and call.conference_id in self.rooms:
            room = self.rooms[call.conference_id]
            room.conference.keypad(call.leg_id, digit, now)
            self._after_conference_change(room)

    def _apply_pin_effects(self, call: Call) -> None:
        assert call.pin is not None
        for effect in call.pin.effects():
            if isinstance(effect, Say):
                call.prompts.interrupt()
                call.prompts.say(effect.prompts)
            elif isinstance(effect, CheckPin):
                self._spawn(self._check_pin(call, effect.digits))
            elif isinstance(effect, GiveUp):
                call.hang_up_after_prompts = True

    async def _check_pin(self, call: Call, digits: str) -> None:
        match = await asyncio.to_thread(self._directory.open_with_pin, digits)
        if call.phase != Phase.PIN or call.pin is None:
            return
        call.pin.result(match is not None, self._now())
        if match is not None:
            self._join(call, match)
        else:
            self._apply_pin_effects(call)

    def _room(self, match: PinMatch) -> Room:
        room = self.rooms.get(match.conference_id)
        if room is None:
            room = Room(Conference(match.conference_id, locked=match.locked))
            self.rooms[match.conference_id] = room
        return room

    def _join(self, call: Call, match: PinMatch, name: str | None = None) -> None:
        room = self._room(match)
        call.role = LegRole.HOST if match.as_host else LegRole.GUEST
        call.talk = TalkDetector(sensitivity=match.talk_sensitivity)
        call.conference_id = match.conference_id
        call.prompts.interrupt()
        leg = Leg(
            id=call.leg_id,
            role=call.role,
            joined_via=call.joined_via,
            number=call.caller.number,
            withheld=call.caller.withheld,
            name=name,
            name_source="entered" if name else None,
        )
        if room.conference.admit(leg, self._now()):
            call.phase = Phase.JOINED
            room.mixer.add_leg(call.leg_id, call.rtp.codec)
            call.prompts.say(("joining",))
            if call.caller.number and not call.caller.withheld:
                self._spawn(self._resolve_name(call, match.account_id, call.caller.number))
            record = LegRecord(
                call.leg_id,
                match.conference_id,
                call.caller.number,
                call.caller.withheld,
                call.joined_via,
            )
            directory = self._directory
            self._writer.submit(lambda: directory.leg_joined(record))
            if name:
                self._writer.submit(partial(directory.leg_renamed, call.leg_id, name, "entered"))
        self._after_conference_change(room)

    async def _resolve_name(self, call: Call, account_id: str, number: str) -> None:
        found = await asyncio.to_thread(self._directory.resolve_name, account_id, number)
        room = self.rooms.get(call.conference_id or "")
        if found is None or room is None or call.phase != Phase.JOINED:
            return
        leg = room.conference.leg(call.leg_id)
        if leg.name is None:  # a name typed or given by the host wins
            room.conference.rename(call.leg_id, *found)
            self._after_conference_change(room)

    def _after_conference_change(self, room: Room) -> None:
        for effect in room.conference.effects():
            if isinstance(effect, PlayPrompt):
                target = self._call_for_leg(effect.leg_id)
                if target is not None:
                    target.prompts.say(effect.prompts)
            elif isinstance(effect, PlayTone):
                room.tones.extend(join_tone() if effect.tone == "join" else leave_tone())
            elif isinstance(effect, HangUp):
                target = self._call_for_leg(effect.leg_id)
                if target is not None:
                    target.hang_up_after_prompts = True
                    if target.phase == Phase.JOINED:
                        target.phase = Phase.LEAVING
                        room.mixer.remove_leg(target.leg_id)
        for event in room.conference.events():
            self._bus.publish(event)
            self._record(event)

    def _record(self, event: Event) -> None:
        """Write what changed about a leg to the store, off the media path."""
        if event.conference_id in self._unstored_rooms:
            return
        directory = self._directory
        if isinstance(event, LegHeld | LegResumed | LegLeft):
            status = {LegHeld: "on_hold", LegResumed: "connected", LegLeft: "left"}[type(event)]
            self._writer.submit(
                partial(directory.leg_status, event.leg_id, status, isinstance(event, LegLeft))
            )
        elif isinstance(event, LegRenamed):
            self._writer.submit(
                partial(directory.leg_renamed, event.leg_id, event.name, event.name_source)
            )

    # -- host controls --------------------------------------------------------------------
    def control(self, conference_id: str, action: str, leg_id: str | None = None) -> None:
        """Carry out a host command on a conference in progress, as the host's API will.

        Raises:
            KeyError: the conference is not in progress on this node.
            ConferenceError: the leg is unknown, or the move is illegal.
            ValueError: an unknown action.
        """
        room = self.rooms[conference_id]
        conference = room.conference
        if action in LEG_ACTIONS:
            if leg_id is None:
                raise ValueError(f"{action} needs a leg")
            getattr(conference, LEG_ACTIONS[action])(
                leg_id, *(() if action == "drop" else ("host",))
            )
        elif action == "lock":
            conference.lock("host")
        elif action == "unlock":
            conference.unlock("host")
        elif action == "mute_all":
            conference.mute_all("host")
        else:
            raise ValueError(f"unknown action {action!r}")
        self._after_conference_change(room)
        self._pump()

    def rename(self, conference_id: str, leg_id: str, name: str | None, source: str) -> None:
        """Name a leg for everyone on the call (the host publishing a name).

        Raises:
            KeyError: the conference is not in progress on this node.
            ConferenceError: no such leg.
        """
        room = self.rooms[conference_id]
        room.conference.rename(leg_id, name, source if name else None)
        self._after_conference_change(room)

    # -- browsers -------------------------------------------------------------------------
    def is_locked(self, match: PinMatch) -> bool:
        """Whether the conference is locked now (or, not in progress, locked by default)."""
        room = self.rooms.get(match.conference_id)
        return room.conference.locked if room is not None else match.locked

    async def join_web(self, match: PinMatch, name: str, offer_sdp: str) -> WebJoined:
        """A browser joins a conference under the name it typed: answers its WebRTC offer
        and admits it as a leg (``joined_via: web``).

        Raises:
            ConferenceLocked: the conference is locked and the browser is not a host's.
            WebPeerError: the offer cannot be answered.
        """
        if self.is_locked(match) and not match.as_host:
            raise ConferenceLocked(match.conference_id)
        call_id = f"web-{secrets.token_hex(8)}"
        calls = self.calls

        def on_packet(packet: bytes) -> None:
            self.on_rtp(call_id, packet, WebPeer.address)

        def on_closed() -> None:
            call = calls.get(call_id)
            if call is not None:
                self._end(call, "hangup")

        peer = WebPeer(on_packet, on_closed)
        try:
            answer = await peer.answer(offer_sdp)
        except BaseException:
            peer.close()
            raise
        call = Call(
            call_id=call_id,
            leg_id=secrets.token_hex(8),
            caller=CallerId(number=None, withheld=False),
            rtp=RtpSession(
                codec="PCMU",
                payload_type=0,
                telephone_event_pt=None,
                remote=WebPeer.address,
                sender=RtpSender(ssrc=0, initial_sequence=0, initial_timestamp=0),
            ),
            rtp_transport=peer.transport,
            local_port=0,
            joined_via="web",
            web_key=secrets.token_urlsafe(24),
        )
        calls[call_id] = call
        self._calls_by_leg[call.leg_id] = call
        self._join(call, match, name)
        if call.phase != Phase.JOINED:  # locked between the check and now
            self._end(call, "locked")
            raise ConferenceLocked(match.conference_id)
        return WebJoined(call.leg_id, answer, call.web_key)

    def owns_web_leg(self, leg_id: str, key: str) -> bool:
        """Whether ``key`` is the secret of this browser leg (still on the call)."""
        call = self._calls_by_leg.get(leg_id)
        return (
            call is not None
            and call.joined_via == "web"
            and hmac.compare_digest(call.web_key.encode(), key.encode())
        )

    def leave_web(self, leg_id: str) -> None:
        """The browser said goodbye (its page closed or the Leave button)."""
        call = self._calls_by_leg.get(leg_id)
        if call is not None and call.joined_via == "web":
            self._end(call, "hangup")

    def mute_self(self, leg_id: str, muted: bool) -> bool:
        """A browser leg mutes or unmutes itself (as ``*6`` does for a phone). Returns False
        when it may not unmute because the host muted it.

        Raises:
            KeyError: no such browser leg on this node.
        """
        call = self._calls_by_leg[leg_id]
        if call.joined_via != "web" or call.phase != Phase.JOINED:
            raise KeyError(leg_id)
        room = self.rooms[call.conference_id or ""]
        allowed = True
        if muted:
            room.conference.mute(leg_id, "self")
        else:
            allowed = room.conference.unmute(leg_id, "self")
        self._after_conference_change(room)
        return allowed

    # -- dial-out -------------------------------------------------------------------------
    async def dial_out(
        self,
        match: PinMatch,
        target: DialTarget,
        name: str | None,
        ring_seconds: float,
        requested_by: str = "guest",
        name_source: str = "host",
        *,
        press_to_accept: bool = True,
        stored: bool = True,
        inviter: str | None = None,
    ) -> str:
        """Call someone into a conference (the host adding a guest by number). The leg shows
        as ``joining`` while it rings; answered, the callee hears who invites them and joins
        by pressing 1. Returns the leg's id at once; the outcome comes as conference events
        (joined, or left with busy, no_answer, declined or failed).

        With ``press_to_accept`` False the callee is on the call as soon as it answers (the
        two ends of a click-to-call). ``stored`` False: the room is not a conference of the
        store (click-to-call), so no leg rows are written, only the call detail record.

        Raises:
            CallLimitReached: too many calls in progress.
        """
        assert self._loop is not None
        # Who invites them, spoken for this callee alone (a recorded prompt if it cannot be).
        invitation = (
            await asyncio.to_thread(speak, f"{inviter} invites you to join a conference call.")
            if inviter
            else None
        )
        if not stored:
            self._unstored_rooms.add(match.conference_id)
        protocol = _RtpProtocol(self, "")
        transport, _ = await self._loop.create_datagram_endpoint(
            lambda: protocol, local_addr=(self._media_address, 0)
        )
        local_port = int(transport.get_extra_info("sockname")[1])
        offer = make_offer(
            local_address=self._advertised,
            local_port=local_port,
            session_id=local_port,
            session_version=1,
        )
        unreachable = False
        if target.transport == "tcp" and (target.host, target.port) not in self._tcp:
            try:  # our own connection to the trunk; its responses come back on it
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(target.host, target.port), TCP_CONNECT_SECONDS
                )
            except (OSError, TimeoutError) as exc:
                log.warning("trunk %s:%s unreachable over TCP: %s", target.host, target.port, exc)
                unreachable = True
            else:
                self._spawn(self._serve_tcp(reader, writer, (target.host, target.port)))
        now = self._now()
        try:
            if unreachable:
                raise _Unreachable
            call_id = self.endpoint.dial(
                target.request_uri,
                (target.host, target.port),
                target.transport,
                now,
                from_user=target.caller_id or "callroster",
                body=serialise_sdp(offer).encode(),
                content_type="application/sdp",
                credentials=target.credentials,
            )
        except _Unreachable:
            call_id = f"unreachable-{secrets.token_hex(8)}"
        except Exception:
            transport.close()
            raise
        protocol._call_id = call_id
        call = Call(
            call_id=call_id,
            leg_id=secrets.token_hex(8),
            caller=CallerId(number=target.number, withheld=False),
            rtp=RtpSession(
                codec="PCMU",
                payload_type=0,
                telephone_event_pt=101,
                remote=("0.0.0.0", 0),
                sender=RtpSender(
                    ssrc=secrets.randbits(32),
                    initial_sequence=secrets.randbits(16),
                    initial_timestamp=secrets.randbits(32),
                ),
            ),
            rtp_transport=transport,
            local_port=local_port,
            phase=Phase.INVITED,
            conference_id=match.conference_id,
            sending=False,  # nothing to send to before the answer says where
            joined_via="dial_out",
            offer=offer,
            deadline=now + ring_seconds,
            press_to_accept=press_to_accept,
            invitation=invitation,
        )
        call.talk = TalkDetector(sensitivity=match.talk_sensitivity)
        self.calls[call_id] = call
        self._calls_by_leg[call.leg_id] = call
        room = self._room(match)
        leg = Leg(
            id=call.leg_id,
            role=LegRole.GUEST,
            joined_via="dial_out",
            number=target.number,
            withheld=False,
            name=name,
            name_source=name_source if name else None,
        )
        room.conference.invite(leg, now)
        record = LegRecord(
            call.leg_id, match.conference_id, target.number, False, "dial_out", "joining"
        )
        attempt = CallAttempt(
            match.account_id,
            match.conference_id if stored else None,
            call.leg_id,
            target.number,
            target.trunk_id,
            requested_by,
            wall_clock(),
        )
        directory = self._directory
        if stored:
            self._writer.submit(lambda: directory.leg_joined(record))
        self._writer.submit(lambda: directory.call_started(attempt))
        if name and stored:
            self._writer.submit(partial(directory.leg_renamed, call.leg_id, name, name_source))
        self._after_conference_change(room)
        if unreachable:
            self._end(call, "failed")
        self._pump()
        return call.leg_id

    def _dialled_answered(self, call_id: str, response: Response) -> None:
        call = self.calls.get(call_id)
        if call is None or call.offer is None:
            return
        try:
            negotiated = accept_answer(call.offer, parse_sdp(response.body))
        except SdpError as exc:
            log.info("[%s] unusable answer: %s", call_id, exc.reason)
            self._hang_up(call, self._now(), "failed")
            return
        call.rtp.update_remote(
            (negotiated.remote_address, negotiated.remote_port),
            negotiated.codec,
            negotiated.payload_type,
            negotiated.telephone_event_pt,
        )
        call.sending = not negotiated.on_hold
        call.answered = True
        call.deadline = self._now() + ACCEPT_SECONDS
        self._writer.submit(partial(self._directory.call_answered, call.leg_id, wall_clock()))
        if call.press_to_accept and call.invitation:
            call.prompts.play(call.invitation)
            call.prompts.say(INVITATION[1:])
        elif call.press_to_accept:
            call.prompts.say(INVITATION)
        else:
            self._accept_invitation(call, self._now())

    def _accept_invitation(self, call: Call, now: float) -> None:
        room = self.rooms.get(call.conference_id or "")
        if room is None:
            return
        call.phase = Phase.JOINED
        call.deadline = None
        call.prompts.interrupt()
        if call.press_to_accept:
            call.prompts.say(("joining",))
        room.conference.accept(call.leg_id, now)
        room.mixer.add_leg(call.leg_id, call.rtp.codec)
        if room.conference.id not in self._unstored_rooms:
            self._writer.submit(
                partial(self._directory.leg_status, call.leg_id, "connected", False)
            )
        self._after_conference_change(room)

    def _invitation_expired(self, call: Call, now: float) -> None:
        """Nobody answered in time (CANCEL), or answered and never pressed 1 (BYE): an
        answering machine, most likely."""
        call.deadline = None
        if call.phase == Phase.INVITED and call.answered and call.prompts.playing:
            call.deadline = now + 1.0  # let the prompt finish first
            return
        self._hang_up(call, now, "no_answer")

    def _call_for_leg(self, leg_id: str) -> Call | None:
        return self._calls_by_leg.get(leg_id)

    # -- ending ---------------------------------------------------------------------------
    def _hang_up(self, call: Call, now: float, reason: str) -> None:
        self.endpoint.hangup(call.call_id, now)
        self._end(call, reason)

    def _end(self, call: Call, reason: str) -> None:
        if call.phase == Phase.ENDED:
            return
        if call.phase == Phase.INVITED:
            # Never on the call: the invitation failed. Hanging up while asked to press 1 is
            # declining it.
            reason = "declined" if reason == "hangup" else reason
            room = self.rooms.get(call.conference_id or "")
            if room is not None and room.conference.leg(call.leg_id).status != LegStatus.LEFT:
                room.conference.leave(call.leg_id, reason)
            call.phase = Phase.JOINED  # so that the room is tidied below like any leg's
        if call.joined_via == "dial_out":
            outcome = "answered" if call.answered else reason
            self._writer.submit(
                partial(
                    self._directory.call_finished,
                    call.leg_id,
                    outcome if outcome in CALL_OUTCOMES else "failed",
                    200 if call.answered else call.sip_status,
                    wall_clock(),
                )
            )
        was_joined = call.phase in (Phase.JOINED, Phase.LEAVING)
        call.phase = Phase.ENDED
        call.rtp_transport.close()
        self.calls.pop(call.call_id, None)
        self._calls_by_leg.pop(call.leg_id, None)
        room = self.rooms.get(call.conference_id or "")
        if room is None or not was_joined:
            return
        if room.conference.leg(call.leg_id).status != LegStatus.LEFT:
            room.conference.leave(call.leg_id, reason)
        if call.leg_id in room.mixer.leg_ids:
            room.mixer.remove_leg(call.leg_id)
        self._after_conference_change(room)
        if not room.conference.present():
            del self.rooms[room.conference.id]
            self._unstored_rooms.discard(room.conference.id)

    # -- media ----------------------------------------------------------------------------
    def on_rtp(self, call_id: str, data: bytes, source: tuple[str, int]) -> None:
        call = self.calls.get(call_id)
        if call is None:
            return
        digit = call.rtp.receive(data, source, self._now())
        if digit is not None:
            self._digit(call, digit)

    def on_digit(self, call: Call, digit: str) -> None:
        """A key press arrived as an RFC 4733 telephone-event."""
        self._digit(call, digit)

    def _send(self, call: Call, payload: bytes) -> None:
        if call.sending:
            call.rtp_transport.sendto(call.rtp.packet(payload), call.rtp.remote)

    def _tick(self) -> None:
        """One 20 ms media tick, scheduled on an absolute grid so it never drifts."""
        now = self._now()
        self.stats.record(self.stats.precise(now) - self._next_tick)
        try:
            self._mix_rooms(now)
            self._play_to_callers_outside_rooms(now)
            self._hang_up_when_told(now)
            for call in list(self.calls.values()):
                if call.pin is not None and call.phase == Phase.PIN:
                    call.pin.handle_timer(now)
                    self._apply_pin_effects(call)
                elif call.deadline is not None and now >= call.deadline:
                    self._invitation_expired(call, now)
        except Exception:  # noqa: BLE001 - one bad tick must not stop the clock
            log.exception("media tick failed")
        self._pump()
        self._next_tick += TICK
        if self._next_tick < now - 5 * TICK:  # we were stopped (debugger, suspend): catch up
            self.stats.skipped += math.ceil((now - self._next_tick) / TICK)
            self._next_tick = now + TICK
        assert self._loop is not None
        self._tick_handle = self._loop.call_at(self._next_tick, self._tick)

    def _mix_rooms(self, now: float) -> None:
        # Two passes: first every leg's frame, then per room talk detection, mix and send.
        # Between them, the levels of all received frames of all rooms are computed in one
        # table lookup per codec (most rooms are small; per-room numpy calls would dominate).
        rooms: list[tuple[Room, list[tuple[Leg, Call]], list[Audio], list[float | None]]] = []
        pending: dict[str, tuple[list[list[float | None]], list[int], list[bytes]]] = {}
        calls_by_leg = self._calls_by_leg
        for room in list(self.rooms.values()):
            members: list[tuple[Leg, Call]] = []
            audio: list[Audio] = []
            levels: list[float | None] = []
            for leg in room.conference.present():
                call = calls_by_leg.get(leg.id)
                if call is None or call.phase is not Phase.JOINED:
                    continue  # (an invited leg rings or is asked to press 1: not in the mix)
                frame = call.rtp.next_audio(now)
                level: float | None = None
                # Not heard, or a gap filled by concealment (a quieter repeat, not the
                # caller's level): the talk detector is told nothing arrived (see _mix_room).
                # Were concealment measured, its fading level would drag the noise floor
                # down and plain line noise would then count as talk.
                if isinstance(frame, bytes) and leg.heard:
                    batch = pending.get(call.rtp.codec)
                    if batch is None:
                        batch = pending[call.rtp.codec] = ([], [], [])
                    batch[0].append(levels)
                    batch[1].append(len(levels))
                    batch[2].append(frame)
                members.append((leg, call))
                audio.append(frame)
                levels.append(level)
            rooms.append((room, members, audio, levels))
        for codec, (owners, indexes, payloads) in pending.items():
            sums = g711.sums_of_squares(codec, b"".join(payloads))
            for owner, index, total in zip(owners, indexes, sums, strict=True):
                owner[index] = level_from_power(total / FRAME_SAMPLES)
        for room, members, audio, levels in rooms:
            self._mix_room(room, members, audio, levels)

    def _mix_room(
        self,
        room: Room,
        members: list[tuple[Leg, Call]],
        audio: list[Audio],
        levels: list[float | None],
    ) -> None:
        conference = room.conference
        mixer = room.mixer
        inputs: dict[str, NDArray[np.int16] | None] = {}
        talking: list[str] = []
        for (leg, call), frame, level in zip(members, audio, levels, strict=True):
            # level is None for a leg that is not heard (see _mix_rooms).
            now_talking = call.talk.update_talking(level) and leg.heard
            if leg.talking != now_talking:
                conference.set_talking(leg.id, now_talking)
            if leg.talking:
                talking.append(leg.id)
                # Only talkers are mixed, so only their frames are decoded.
                inputs[leg.id] = call.rtp.last_pcm() if isinstance(frame, bytes) else frame
            mixer.set_flags(leg.id, muted=leg.muted, held=leg.held)
        extra = room.tones.popleft() if room.tones else None
        music = next(room.music)
        # Only held legs hear the music: without one, copying it into the output is waste.
        output = mixer.mix(
            inputs, hold_music=music if mixer.any_held else None, extra=extra, talking=talking
        )
        for leg, call in members:
            prompt = call.prompts.next_frame()
            payload = (
                self._encode_prompt(call.rtp.codec, prompt)
                if prompt is not None
                else output.encoded(leg.id)
            )
            self._send(call, payload)
        self._after_conference_change(room)

    def _encode_prompt(self, codec: str, frame: NDArray[np.int16]) -> bytes:
        """A prompt frame in a codec, encoded once: everyone who joins hears the same frames.

        Keyed by the frame's identity (prompt frames are loaded once and kept); the frame is
        kept in the entry so that its id cannot be reused by another array.
        """
        key = (id(frame), codec)
        entry = self._prompt_payloads.get(key)
        if entry is None or entry[0] is not frame:
            if len(self._prompt_payloads) >= _PROMPT_CACHE_FRAMES:
                self._prompt_payloads.clear()
            entry = self._prompt_payloads[key] = (frame, g711.encode(codec, frame))
        return entry[1]

    def _play_to_callers_outside_rooms(self, now: float) -> None:
        for call in list(self.calls.values()):
            if call.phase == Phase.JOINED:
                continue
            call.rtp.next_pcm(now)  # keep the jitter buffer moving while they key in
            prompt = call.prompts.next_frame()
            self._send(
                call,
                self._encode_prompt(call.rtp.codec, prompt if prompt is not None else SILENT_PCM),
            )

    def _hang_up_when_told(self, now: float) -> None:
        for call in list(self.calls.values()):
            if call.hang_up_after_prompts and not call.prompts.playing:
                joined = call.phase in (Phase.JOINED, Phase.LEAVING)
                invited = call.phase == Phase.INVITED  # the host cancelled the invitation
                self._hang_up(
                    call, now, "dropped" if joined else "cancelled" if invited else "failed"
                )

    def pin_entry_state(self, call_id: str) -> PinState | None:
        call = self.calls.get(call_id)
        return call.pin.state if call and call.pin else None
