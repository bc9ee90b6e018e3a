"""Calls we place: the host adding a guest by number, "we call you", and the two ends of a
click-to-call. The leg rings (``joining`` in the roster); answered, the callee hears who
invites them and joins by pressing 1 (or at once, for click-to-call). A call detail record
follows every attempt."""

from __future__ import annotations

import asyncio
import logging
import secrets

from callroster.bridge.admission import Admission
from callroster.bridge.caller_id import CallerId
from callroster.bridge.calls import Call, CallState, CallTrigger
from callroster.bridge.dial_target import (
    CERTIFICATE_REFUSED,
    MAX_CALL_SECONDS,
    DialTarget,
    dial_failure,
)
from callroster.bridge.directory import CallAttempt
from callroster.bridge.errors import TooManyCalls
from callroster.bridge.recorder import Recorder
from callroster.bridge.rtp_session import RtpSession
from callroster.bridge.shared import Shared
from callroster.conference.leg import Leg, LegRole
from callroster.media.speech import speak
from callroster.media.talk import TalkDetector
from callroster.rtp.packet import RtpSender
from callroster.sdp.crypto import MAX_KEY_MATERIAL
from callroster.sdp.offer_answer import accept_answer, make_offer
from callroster.sdp.session import SdpError, parse_sdp, serialise_sdp
from callroster.sip.endpoint import CallLimitReached
from callroster.sip.message import Response

log = logging.getLogger(__name__)

INVITATION = ("invited", "press_one", "press_one")
ACCEPT_SECONDS = 20.0  # after answering, time to press 1 (the prompt repeats meanwhile)
PROMPT_GRACE_SECONDS = 1.0  # the invitation's time is up mid-prompt: let it finish


class Outbound:
    def __init__(self, shared: Shared, recorder: Recorder) -> None:
        self._calls = shared.calls
        self._rooms = shared.rooms
        self._signalling = shared.signalling
        self._network = shared.network
        self._clock = shared.clock
        self._inlet = shared.inlet
        self._advertised = shared.advertised[shared.default_family]
        self._recorder = recorder
        # Each ringing call's time limit once on the call (its target's max_seconds).
        self._time_limits: dict[str, float] = {}

    async def dial_out(
        self,
        match: Admission,
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
        """Call someone into a conference; see :meth:`BridgeService.dial_out`.

        Raises:
            TooManyCalls: too many calls in progress.
        """
        # Who invites them, spoken for this callee alone (a recorded prompt if it cannot be).
        invitation = (
            await asyncio.to_thread(speak, f"{inviter} invites you to join a conference call.")
            if inviter
            else None
        )
        if not stored:
            self._recorder.unstored(match.conference_id)
        leg_id = secrets.token_hex(8)
        port, local_port = await self._network.open_rtp(*self._inlet(leg_id))
        srtp = target.srtp_mode
        offer = make_offer(
            local_address=self._advertised,
            local_port=local_port,
            session_id=local_port,
            session_version=1,
            srtp_key=None if srtp == "off" else secrets.token_bytes(MAX_KEY_MATERIAL),
            srtp_mandatory=srtp == "require",
        )
        reachable, failure = await self._connect(target)
        now = self._clock.time()
        if reachable:
            try:
                call_id = self._signalling.dial(target, serialise_sdp(offer).encode())
            except CallLimitReached as exc:
                port.close()
                raise TooManyCalls(str(exc)) from exc
            except Exception:
                port.close()
                raise
        else:
            call_id = f"unreachable-{secrets.token_hex(8)}"
        call = Call(
            call_id=call_id,
            leg_id=leg_id,
            caller=CallerId(number=target.number, withheld=False, verified=True),  # we dialled it
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
                sending=False,  # nothing to send to before the answer says where
            ),
            port=port,
            local_port=local_port,
            state=CallState.DIALLING,
            conference_id=match.conference_id,
            account_id=match.account_id,
            joined_via="dial_out",
            offer=offer,
            press_to_accept=press_to_accept,
            invitation=invitation,
            talk=TalkDetector(sensitivity=match.talk_sensitivity),
            deadline=now + ring_seconds,
            transport=target.transport,  # tls: a trunk whose certificate was verified
        )
        self._calls.add(call)
        self._time_limits = {c: s for c, s in self._time_limits.items() if c in self._calls}
        self._time_limits[call_id] = target.max_seconds
        room = self._rooms.open(match)
        leg = Leg(
            id=leg_id,
            role=LegRole.GUEST,
            joined_via="dial_out",
            number=target.number,
            withheld=False,
            number_verified=True,
            name=name,
            name_source=name_source if name else None,
        )
        room.conference.invite(leg, now)
        self._recorder.call_started(
            CallAttempt(
                match.account_id,
                match.conference_id if stored else None,
                leg_id,
                target.number,
                target.trunk_id,
                requested_by,
                self._clock.wall(),
            )
        )
        self._rooms.after_change(room)
        if not reachable:
            self._rooms.end(call, failure)
        self._signalling.pump()
        return leg_id

    async def _connect(self, target: DialTarget) -> tuple[bool, str]:
        """A connection to the trunk when its transport needs one: TCP, or TLS with the
        carrier's certificate and name verified (a wrong one is one log line naming the
        trunk and why, and nothing at all is sent to it). Returns whether the INVITE can go,
        and the leg's reason if not."""
        address = (target.host, target.port)
        if target.transport == "tcp":
            return await self._network.connect_sip(address), "failed"
        if target.transport != "tls":
            return True, "failed"
        failure = await self._network.connect_sip_tls(address, target.host)
        if failure is None:
            return True, "failed"
        trunk = target.trunk_name or target.trunk_id or "(none)"
        if failure.certificate:
            log.warning(
                "trunk %s (%s:%s): TLS certificate refused, call not placed: %s",
                trunk,
                *address,
                failure.detail,
            )
            return False, CERTIFICATE_REFUSED
        log.warning("trunk %s (%s:%s): %s", trunk, *address, failure.detail)
        return False, "failed"

    # -- what the far end does ------------------------------------------------------------
    def progressed(self, call_id: str) -> None:
        call = self._calls.get(call_id)
        if call is not None and call.state is CallState.DIALLING:
            call.fire(CallTrigger.PROGRESS, deadline=call.deadline)

    def answered(self, call_id: str, response: Response) -> None:
        call = self._calls.get(call_id)
        if call is None or call.offer is None or not call.ringing:
            return
        try:
            negotiated = accept_answer(call.offer, parse_sdp(response.body))
        except SdpError as exc:
            log.info("[%s] unusable answer: %s", call_id, exc.reason)
            self._rooms.hang_up(call, "failed")
            return
        call.rtp.follow(negotiated)
        call.fire(CallTrigger.ANSWER, deadline=self._clock.time() + ACCEPT_SECONDS)
        self._recorder.call_answered(call.leg_id, self._clock.wall())
        if call.press_to_accept and call.invitation:
            call.prompts.play(call.invitation)
            call.prompts.say(INVITATION[1:])
        elif call.press_to_accept:
            call.prompts.say(INVITATION)
        else:
            self._admit(call)

    def failed(self, call_id: str, status: int) -> None:
        call = self._calls.get(call_id)
        if call is None:
            return
        call.sip_status = status
        # No answer at all from the trunk (our own time-out) is a failure, not a phone left
        # ringing.
        silent = status == 408 and not call.rang
        self._rooms.end(call, "failed" if silent else dial_failure(status))

    def digit(self, call: Call, digit: str) -> None:
        """A key pressed while asked to press 1."""
        if call.state is CallState.INVITED and digit == "1":
            self._admit(call)

    def _admit(self, call: Call) -> None:
        """Onto the call, with the time limit as the joined state's deadline."""
        self._rooms.accept(call)
        limit = self._time_limits.pop(call.call_id, MAX_CALL_SECONDS)
        if call.state is CallState.JOINED:
            call.deadline = self._clock.time() + limit

    def deadline(self, call: Call, now: float) -> None:
        """The media tick's turn for a call we placed: nobody answered in time (CANCEL), or
        answered and never pressed 1 (BYE), an answering machine most likely; or on the call
        for its time limit (BYE, ``time_limit``)."""
        if call.deadline is None or now < call.deadline:
            return
        if call.state is CallState.JOINED and call.joined_via == "dial_out":
            log.info("[%s] on the call for its time limit: hanging up", call.call_id)
            self._rooms.hang_up(call, "time_limit")
            return
        if not call.ringing:
            return
        if call.state is CallState.INVITED and call.prompts.playing:
            call.deadline = now + PROMPT_GRACE_SECONDS  # let the prompt finish first
            return
        self._rooms.hang_up(call, "no_answer")
