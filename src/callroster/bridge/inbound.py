"""Calls that come in: an INVITE routed to a conference (by the PIN in its URI, or to the
PIN prompt of an access number), answered with our SDP (SRTP over TLS, bridge/srtp_policy.py),
PIN entry, re-INVITEs (hold, a moved stream, session refresh, new SRTP keys) and the caller's
name looked up once they are in."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import Counter
from collections.abc import Collection

from callroster.bridge.access_numbers import AccessNumbers
from callroster.bridge.admission import Admission
from callroster.bridge.call_limits import CallLimits
from callroster.bridge.caller_id import NOBODY, TrustedPeers, caller_id
from callroster.bridge.calls import Call, CallState, CallTrigger
from callroster.bridge.directory import ConferenceDirectory
from callroster.bridge.pin_guard import PinGuard, network_of, source_key
from callroster.bridge.ports import RtpPort, family_of
from callroster.bridge.rtp_session import RtpSession
from callroster.bridge.shared import Shared
from callroster.bridge.srtp_policy import REFUSED_SPOKEN, SrtpNeedsTls, SrtpRequired, is_secure
from callroster.conference.pin_entry import CheckPin, GiveUp, PinEntry, PinState, Say
from callroster.media.speech import speak
from callroster.rtp.packet import RtpSender
from callroster.sdp.crypto import MAX_KEY_MATERIAL
from callroster.sdp.offer_answer import (
    Negotiated,
    accept_answer,
    answer_offer,
    check_media_address,
    make_offer,
    offers_srtp,
)
from callroster.sdp.session import SdpError, SessionDescription, parse_sdp, serialise_sdp
from callroster.sip.message import Request
from callroster.sip.uri import parse_uri

log = logging.getLogger(__name__)


class Inbound:
    def __init__(
        self,
        shared: Shared,
        directory: ConferenceDirectory,
        guard: PinGuard,
        limits: CallLimits,
        trusted_peers: TrustedPeers = NOBODY,
    ) -> None:
        self._calls = shared.calls
        self._rooms = shared.rooms
        self._signalling = shared.signalling
        self._network = shared.network
        self._clock = shared.clock
        self._tasks = shared.tasks
        self._inlet = shared.inlet
        self._advertised = shared.advertised
        self._default_family = shared.default_family
        self._directory = directory
        self._guard = guard
        self._limits = limits
        self._access_numbers = AccessNumbers()  # routed without a database trip (flood)
        self._trusted_peers = trusted_peers  # whose P-Asserted-Identity is believed
        self._routing_from: Counter[str] = Counter()  # calls being routed, by source key
        self._pin_limit = (-1.0, limits.pin_time_limit)  # (tick, seconds), see pin_timer
        self.refused: Counter[str] = Counter()  # calls refused, by reason (a metric)
        # call id -> the digits its queued check will try, and the source it came from
        self._queued: dict[str, tuple[str, str]] = {}
        # INVITEs being looked up, not yet answered: call id -> (since when, whether to an
        # access number seen lately: a caller who will wait at the prompt, so one that may
        # make room for a newer call when the prompt's share is full)
        self._routing: dict[str, tuple[float, bool]] = {}
        self._abandoned: set[str] = set()  # ...of which the caller gave up, or was made room of

    # -- a new call -----------------------------------------------------------------------
    def incoming(
        self,
        call_id: str,
        request: Request,
        source: str,
        transport: str = "udp",
        *,
        certified: bool = True,
    ) -> None:
        """A new INVITE from host ``source``, over ``transport`` (``udp``, ``tcp``, ``tls``);
        not ``certified``: over TLS without a verified client certificate when one is asked
        for, so an ordinary caller whatever its address (bridge/service.py)."""
        if self._guard.blocked(source, self._clock.time()):
            # Guessing PINs from there: refused whatever it dialled, so no oracle either.
            log.info("[%s] refused: its source is blocked for PIN guessing", call_id)
            self.refused["pin_guessing"] += 1
            self._refuse(call_id, 403, "Forbidden")
            return
        key = source_key(source)
        from_source = self._calls.count_from(source) + self._routing_from[key]
        refusal = self._limits.refuse(source, from_source, self._at_pin(), certified=certified)
        if refusal == "pin_prompt_full" and self._make_room_at_pin():
            refusal = None
        if refusal is not None:  # a flood: cheap to refuse, before anything is opened
            self.refused[refusal] += 1
            if self.refused[refusal] in (1, 10, 100, 1000, 10_000):
                log.warning(
                    "calls refused (%s): %d so far; %d being routed, %d at the prompt",
                    refusal,
                    self.refused[refusal],
                    self._being_routed(),
                    sum(1 for call in self._calls if call.state is CallState.PIN),
                )
            self._signalling.answer(
                call_id, 503, "Service Unavailable", extra_headers=[("Retry-After", "30")]
            )
            self._signalling.pump()
            return
        self._routing_from[key] += 1
        try:
            user = parse_uri(request.uri).user or ""
        except ValueError:
            user = ""
        now = self._clock.time()
        to_access = self._access_numbers.srtp_required(user, now) is not None
        self._routing[call_id] = (now, to_access)
        self._tasks.spawn(self._route(call_id, request, user, source, transport))

    def _make_room_at_pin(self) -> bool:
        """The PIN prompt is full: end the call longest there still keying (not one whose
        PIN is being checked: a caller who dialled the right PIN is about to join), if it
        has been there long enough (bridge/call_limits.py); True if there is room now."""
        now = self._clock.time()
        waiting = [
            c
            for c in self._calls
            if c.state is CallState.PIN
            and c.pin_since is not None
            and c.pin is not None
            and c.pin.state is PinState.COLLECTING
        ]
        if waiting:
            oldest = min(waiting, key=lambda call: call.pin_since or now)
            if now - (oldest.pin_since or now) >= self._limits.evict_after:
                self.refused["pin_prompt_evicted"] += 1
                self._rooms.hang_up(oldest, "failed")
                return True
        return self._make_room_in_routing(now)

    def _make_room_in_routing(self, now: float) -> bool:
        """Nobody at the prompt can make room: refuse the call longest still being routed
        to an access number (503 now; its routing stops at its next step), if it has been
        at it long enough. Under load a flood's calls wait longest here, and a call still
        being routed could never make room. A call that may have dialled a PIN directly is
        never the one to go."""
        routing = [
            (since, call_id)
            for call_id, (since, to_access) in self._routing.items()
            if to_access and call_id not in self._abandoned
        ]
        if not routing:
            return False
        since, call_id = min(routing)
        if now - since < self._limits.evict_after:
            return False
        self.refused["pin_prompt_evicted"] += 1
        self._abandoned.add(call_id)
        self._signalling.answer(
            call_id, 503, "Service Unavailable", extra_headers=[("Retry-After", "30")]
        )
        self._signalling.pump()
        return True

    def _at_pin(self) -> int:
        """Callers who have not given a right PIN yet (at the prompt, or being routed)."""
        return self._being_routed() + sum(1 for c in self._calls if c.state is CallState.PIN)

    def _being_routed(self) -> int:
        """INVITEs still being looked up whose caller is still there to be answered."""
        return sum(1 for call_id in self._routing if call_id not in self._abandoned)

    def abandoned(self, call_id: str) -> None:
        """CANCEL (or a time-out) for a call that may still be being looked up."""
        if call_id in self._routing:
            self._abandoned.add(call_id)

    async def _route(
        self, call_id: str, request: Request, user: str, source: str, transport: str
    ) -> None:
        """Decide where an INVITE goes (``user``: its request URI's), open its media, answer
        it."""
        try:
            await self._route_call(call_id, request, user, source, transport)
        finally:
            self._routing.pop(call_id, None)
            self._abandoned.discard(call_id)
            key = source_key(source)
            self._routing_from[key] -= 1
            if self._routing_from[key] <= 0:
                del self._routing_from[key]

    def _refuse(self, call_id: str, status: int, reason: str) -> None:
        self._signalling.answer(call_id, status, reason)
        self._signalling.pump()

    def _refuse_sdp(self, call_id: str, error: SdpError) -> None:
        """400 or 488 for a session description, with a ``Warning`` saying why (RFC 3261
        20.43), never echoing what the peer sent."""
        host = self._advertised[self._default_family]
        warning = f'{error.warning} {host} "{error.warning_text}"'
        log.info("[%s] refused the session description: %s", call_id, type(error).__name__)
        self._signalling.answer(
            call_id, error.code, error.reason, extra_headers=[("Warning", warning)]
        )

    async def _route_call(
        self, call_id: str, request: Request, user: str, source: str, transport: str
    ) -> None:
        srtp_on_number = self._access_numbers.srtp_required(user, self._clock.time())
        is_dial_in = srtp_on_number is not None
        if not is_dial_in and user:  # not an access number seen lately: ask the directory
            is_dial_in = await asyncio.to_thread(self._directory.is_dial_in_number, user)
            if is_dial_in:
                srtp_on_number = await asyncio.to_thread(self._directory.srtp_required_on, user)
                self._access_numbers.found(user, srtp_on_number, self._clock.time())
                if call_id in self._routing:  # a caller who will wait at the prompt
                    self._routing[call_id] = (self._routing[call_id][0], True)
            if call_id in self._abandoned:  # gave up, or made room, while we looked
                return
        # A PIN dialled directly is not looked up here: right or wrong, the call is answered
        # the same way and the PIN checked afterwards, as if keyed (so the answer to the
        # INVITE tells a guesser nothing; bridge/pin_guard.py paces the checks).
        dialled = user if not is_dial_in and user.isdigit() else None
        access = user if is_dial_in else None
        if not is_dial_in and dialled is None:
            self._refuse(call_id, 404, "Not Found")
            return
        offer: SessionDescription | None = None  # none: a delayed offer (RFC 3261 13.2.1)
        try:
            if request.body.strip():
                offer = parse_sdp(request.body)
        except SdpError as exc:
            self._refuse_sdp(call_id, exc)
            self._signalling.pump()
            return
        family = self._default_family
        # Fresh keys for every call that may have SRTP: signalled over TLS (srtp_policy.py).
        srtp_key = secrets.token_bytes(MAX_KEY_MATERIAL) if is_secure(transport) else None
        encrypted = srtp_key is not None  # a delayed offer over TLS gets our SRTP offer
        if offer is not None:
            try:  # settled before a socket is opened: refused, the offer costs none
                family, encrypted = self._family_for(offer, srtp_key)
            except SdpError as exc:
                needs_tls = srtp_key is None and offers_srtp(offer)
                self._refuse_sdp(call_id, SrtpNeedsTls() if needs_tls else exc)
                self._signalling.pump()
                return
        if not encrypted and access is not None and srtp_on_number:
            log.info("[%s] refused: clear-text call to a line that requires SRTP", call_id)
            self.refused["srtp_required"] += 1
            self._refuse_sdp(call_id, SrtpRequired())
            self._signalling.pump()
            return
        leg_id = secrets.token_hex(8)
        port, local_port = await self._network.open_rtp(*self._inlet(leg_id), family)
        if call_id in self._abandoned:  # the caller gave up while we opened the socket
            port.close()
            return
        if offer is None:
            self._offer(
                call_id, request, leg_id, port, local_port, dialled, access, source, transport
            )
            return
        negotiated = self._negotiate(offer, local_port, 1, family, srtp_key=srtp_key)
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
            sending=not negotiated.on_hold,
            ptime=negotiated.ptime,
        )
        rtp.follow(negotiated)  # (the SRTP keys, if any)
        call = Call(
            call_id=call_id,
            leg_id=leg_id,
            caller=caller_id(request, source, self._trusted_peers),
            rtp=rtp,
            port=port,
            local_port=local_port,
            state=CallState.PIN,
            family=family,
            dialled_pin=dialled,
            access_number=access,
            source=source,
            transport=transport,
        )
        self._calls.add(call)
        self._answer_with(call_id, negotiated.answer)
        self._signalling.pump()
        self._ask_for_pin(call)

    def _ask_for_pin(self, call: Call) -> None:
        """Into PIN entry: check the dialled PIN, or prompt for one."""
        call.pin_since = self._clock.time()
        call.pin = PinEntry(
            call.pin_since, pin_lengths=self._directory.pin_lengths(), dialled=call.dialled_pin
        )
        self._apply_pin_effects(call)

    def _offer(
        self,
        call_id: str,
        request: Request,
        leg_id: str,
        port: RtpPort,
        local_port: int,
        dialled: str | None,
        access: str | None,
        source: str,
        transport: str,
    ) -> None:
        """An INVITE without SDP: our 200 carries the offer (SRTP over TLS); nothing is
        sent, and nobody is admitted or prompted, until the ACK brings the answer
        (:meth:`acknowledged`)."""
        ours = make_offer(
            local_address=self._advertised[self._default_family],
            local_port=local_port,
            session_id=local_port,
            session_version=1,
            srtp_key=secrets.token_bytes(MAX_KEY_MATERIAL) if is_secure(transport) else None,
        )
        call = Call(
            call_id=call_id,
            leg_id=leg_id,
            caller=caller_id(request, source, self._trusted_peers),
            rtp=RtpSession(
                codec="PCMU",
                payload_type=0,
                telephone_event_pt=None,
                remote=("0.0.0.0", 0),
                sender=RtpSender(
                    ssrc=secrets.randbits(32),
                    initial_sequence=secrets.randbits(16),
                    initial_timestamp=secrets.randbits(32),
                ),
                sending=False,  # nowhere to send before the answer says where
            ),
            port=port,
            local_port=local_port,
            state=CallState.OFFERED,
            family=self._default_family,
            offer=ours,
            dialled_pin=dialled,
            access_number=access,
            source=source,
            transport=transport,
        )
        self._calls.add(call)
        self._answer_with(call_id, ours)
        self._signalling.pump()

    def acknowledged(self, call_id: str, body: bytes) -> None:
        """The ACK to our 200 came. After a delayed offer it carries the answer: the call's
        media is set from it, then the caller is admitted or asked for the PIN. No answer,
        or one the bridge cannot use, ends the call (BYE)."""
        call = self._calls.get(call_id)
        if call is None or call.state is not CallState.OFFERED or call.offer is None:
            return
        try:
            negotiated = accept_answer(call.offer, parse_sdp(body))
            if not negotiated.on_hold:
                check_media_address(negotiated.remote_address, {call.family})
        except SdpError as exc:
            log.info("[%s] unusable answer in the ACK: %s", call_id, type(exc).__name__)
            self._rooms.hang_up(call, "failed")
            return
        call.rtp.follow(negotiated)
        call.fire(CallTrigger.PROMPT)
        self._ask_for_pin(call)

    def _answer_with(self, call_id: str, sdp: SessionDescription) -> None:
        """200 OK carrying our SDP (an answer, or the offer of a session refresh)."""
        self._signalling.answer(
            call_id, 200, "OK", body=serialise_sdp(sdp).encode(), content_type="application/sdp"
        )

    def _family_for(self, offer: SessionDescription, srtp_key: bytes | None) -> tuple[str, bool]:
        """The media family a new call's offer needs (its address's, when the bridge has
        media in that family; the default for an offer that holds), and whether its media
        will be SRTP.

        Raises:
            SdpError: the offer is unusable, or its address is of no family we serve.
        """
        # (the port is a placeholder: this answer is only looked at, never sent)
        probe = self._negotiate(
            offer, 9, 1, self._default_family, families=self._advertised, srtp_key=srtp_key
        )
        encrypted = probe.srtp is not None
        if probe.on_hold:
            return self._default_family, encrypted
        return family_of(probe.remote_address), encrypted

    def _negotiate(
        self,
        offer: SessionDescription,
        local_port: int,
        version: int,
        family: str,
        *,
        families: Collection[str] | None = None,
        srtp_key: bytes | None = None,
    ) -> Negotiated:
        """Our answer from a socket of ``family`` (keyed with ``srtp_key`` if SRTP is
        offered), refused (SdpError) unless the offer's address is of ``families`` (default:
        ``family`` alone)."""
        negotiated = answer_offer(
            offer,
            local_address=self._advertised[family],
            local_port=local_port,
            session_id=local_port,
            session_version=version,
            srtp_key=srtp_key,
        )
        if not negotiated.on_hold:  # 0.0.0.0 (hold) sends nothing anywhere
            check_media_address(negotiated.remote_address, families or {family})
        return negotiated

    # -- re-INVITE ------------------------------------------------------------------------
    def reinvite(self, call_id: str, request: Request) -> None:
        call = self._calls.get(call_id)
        if call is None:
            self._signalling.answer(call_id, 481, "Call/Transaction Does Not Exist")
            return
        call.sdp_version += 1
        if not request.body.strip():
            # An offerless re-INVITE (a session refresh, typically): we make the offer, the
            # same media as now. The answer comes in the ACK; a change of media made there
            # is not applied (not supported yet), the call carries on as it was.
            # An SRTP call offers its current suite and key, so nothing is re-keyed.
            srtp = call.rtp.srtp
            offer = make_offer(
                local_address=self._advertised[call.family],
                local_port=call.local_port,
                session_id=call.local_port,
                session_version=call.sdp_version,
                codecs=(call.rtp.codec,),
                telephone_event_pt=call.rtp.telephone_event_pt,
                srtp_key=None if srtp is None else srtp.keys.local_key,
                suites=() if srtp is None else (srtp.suite,),
            )
            self._answer_with(call_id, offer)
            return
        try:
            negotiated = self._renegotiate(call, parse_sdp(request.body))
        except SdpError as exc:
            self._refuse_sdp(call_id, exc)
            return
        call.rtp.follow(negotiated)
        self._answer_with(call_id, negotiated.answer)
        room = self._rooms.get(call.conference_id)
        if room is not None and call.state is CallState.JOINED:
            if negotiated.on_hold:
                room.conference.hold(call.leg_id, "phone")
            else:
                room.conference.unhold(call.leg_id, "phone")
            self._rooms.after_change(room)

    def _renegotiate(self, call: Call, offer: SessionDescription) -> Negotiated:
        """The answer to a re-INVITE's offer. SRTP keys: when the far end's key is the one
        it had, ours stays too; when it sent a new one, so do we (both directions re-key).
        An SRTP call stays SRTP: an offer of plain RTP is refused.

        Raises:
            SdpError: as :meth:`_negotiate`, or the re-INVITE would drop SRTP.
        """
        current = call.rtp.srtp
        secure = is_secure(call.transport)
        fresh = secrets.token_bytes(MAX_KEY_MATERIAL) if secure else None
        version = call.sdp_version
        try:
            negotiated = self._negotiate(
                offer, call.local_port, version, call.family, srtp_key=fresh
            )
        except SdpError:
            if fresh is None and offers_srtp(offer):
                raise SrtpNeedsTls() from None
            raise
        if current is None:
            return negotiated
        if negotiated.srtp is None:
            raise SdpError("a re-INVITE may not turn SRTP off", warning=305)
        if (
            negotiated.srtp.suite == current.suite
            and negotiated.srtp.remote_key == current.keys.remote_key
        ):
            # The same key from them: answer with ours as it was, nothing changes.
            ours = current.keys.local_key + bytes(MAX_KEY_MATERIAL - len(current.keys.local_key))
            negotiated = self._negotiate(
                offer, call.local_port, version, call.family, srtp_key=ours
            )
        return negotiated

    # -- PIN entry ------------------------------------------------------------------------
    def digit(self, call: Call, digit: str) -> None:
        """A key pressed while keying the PIN."""
        if call.state is CallState.PIN and call.pin is not None:
            call.pin.digit(digit, self._clock.time())
            self._apply_pin_effects(call)

    def pin_timer(self, call: Call, now: float) -> None:
        """The media tick's turn for a call keying its PIN (re-prompts, time-outs, and the
        time limit at the prompt, shorter while the prompt is busy)."""
        if call.state is not CallState.PIN or call.pin is None:
            return
        tick, limit = self._pin_limit
        if tick != now:  # once a tick, not once a call
            limit = self._limits.pin_deadline(self._at_pin())
            self._pin_limit = (now, limit)
        if call.pin_since is not None and now - call.pin_since > limit:
            log.info("[%s] too long at the PIN prompt", call.call_id)
            self.refused["pin_time_limit"] += 1
            call.prompts.interrupt()
            call.prompts.say(("goodbye",))
            self._rooms.farewell(call)
            return
        call.pin.handle_timer(now)
        self._apply_pin_effects(call)

    def _apply_pin_effects(self, call: Call) -> None:
        assert call.pin is not None
        for effect in call.pin.effects():
            if isinstance(effect, Say):
                call.prompts.interrupt()
                call.prompts.say(effect.prompts)
            elif isinstance(effect, CheckPin):
                self._check_when_allowed(call, effect.digits)
            elif isinstance(effect, GiveUp):
                self._rooms.farewell(call)

    def _check_when_allowed(self, call: Call, digits: str) -> None:
        """The PIN check, queued with the guard: it runs when the guard says (at once,
        unless this source or the whole system is guessing); meanwhile the caller hears
        nothing new."""
        self._queued[call.call_id] = (digits, call.source)
        self._guard.request(call.source, call.call_id, self._clock.time())
        self.run_due_checks(self._clock.time())

    def run_due_checks(self, now: float) -> None:
        """The queued PIN checks whose turn it is (called each tick while any are queued),
        and the calls whose source was blocked while they waited (hung up, unchecked)."""
        due = self._guard.due(now)
        for ticket in due.run:
            queued = self._queued.pop(str(ticket), None)
            call = self._calls.get(str(ticket))
            if queued is not None and call is not None:
                self._tasks.spawn(self._check_pin(call, queued[0]))
            elif queued is not None:
                self._guard.abandoned(queued[1])  # hung up while it waited
        for ticket in due.refuse:
            self._queued.pop(str(ticket), None)
            call = self._calls.get(str(ticket))
            if call is not None and call.state is CallState.PIN:
                self._rooms.hang_up(call, "failed")

    async def _check_pin(self, call: Call, digits: str) -> None:
        if call.state is not CallState.PIN or call.pin is None:
            self._guard.abandoned(call.source)  # gone (or hung up) while waiting its turn
            return
        # Through the access number dialled: one the conference's account may not use opens
        # nothing, just as a wrong PIN does.
        match = await asyncio.to_thread(self._directory.open_with_pin, digits, call.access_number)
        now = self._clock.time()
        self._guard.outcome(call.source, match is not None, now)
        self._report_guard_events()
        if call.state is not CallState.PIN or call.pin is None:
            return
        if (
            match is not None
            and not self._encrypted(call)
            and await asyncio.to_thread(self._directory.srtp_required, match.account_id)
        ):
            await self._refuse_clear(call)
            return
        call.pin.result(match is not None, now)
        if match is not None:
            self._join(call, match)
        else:
            self._apply_pin_effects(call)

    @staticmethod
    def _encrypted(call: Call) -> bool:
        """Signalling over TLS and media over SRTP."""
        return is_secure(call.transport) and call.rtp.encrypted

    async def _refuse_clear(self, call: Call) -> None:
        """A right PIN for an account that requires SRTP, from a clear-text call: told why
        (spoken, or the goodbye prompt when it cannot be), then hung up; never joins."""
        log.info(
            "[%s] refused after the PIN: clear-text call, the account requires SRTP", call.call_id
        )
        self.refused["srtp_required"] += 1
        spoken = await asyncio.to_thread(speak, REFUSED_SPOKEN)
        if call.state is not CallState.PIN:
            return  # hung up meanwhile
        call.prompts.interrupt()
        if spoken:
            call.prompts.play(spoken)
        else:
            call.prompts.say(("goodbye",))
        self._rooms.farewell(call)

    def _report_guard_events(self) -> None:
        """Blocks and alarms: logged, and written to the audit log (in a thread)."""
        events, self._guard.events = self._guard.events, []
        for event in events:
            log.warning(
                "PIN guessing: %s (%d failures)%s",
                event.kind,
                event.failures,
                "" if event.source is None else f" from {network_of(event.source)}",
            )
            self._tasks.spawn(asyncio.to_thread(self._directory.security_event, event))

    # -- joining --------------------------------------------------------------------------
    def _join(self, call: Call, match: Admission) -> None:
        caller = call.caller
        # A name only for a number a trusted peer asserted: anyone can write any number into
        # From, and a name found for it would vouch for the claim (docs/architecture.md,
        # "Threats").
        if self._rooms.admit(call, match) and caller.number and caller.verified:
            self._tasks.spawn(self._resolve_name(call, match.account_id, caller.number))

    async def _resolve_name(self, call: Call, account_id: str, number: str) -> None:
        found = await asyncio.to_thread(self._directory.resolve_name, account_id, number)
        room = self._rooms.get(call.conference_id)
        if found is None or room is None or call.state is not CallState.JOINED:
            return
        leg = room.conference.leg(call.leg_id)
        if leg.name is None:  # a name typed or given by the host wins
            room.conference.rename(call.leg_id, *found)
            self._rooms.after_change(room)
