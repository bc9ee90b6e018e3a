"""The bridge at run time: a small facade over parts with one concept each.

Where an INVITE becomes a roster event, in one walk::

    io/bridge_network.py   bytes from a socket
    signalling.py          SipEndpoint (pure) -> IncomingCall, pumped, one timer re-armed
    service.py             _on_sip_event dispatches each SIP event to the part it concerns
    inbound.py             route: PIN look-up, SDP answer, media socket, 200 OK; PIN entry
    rooms.py               admit: Conference.admit (pure) -> LegJoined, published on the bus
    recorder.py            (bus subscriber) the leg's row, written off the media path
    roster/, io/roster_feed.py  (bus subscribers) Live Call Status to every watcher

Beside them: ``calls.py`` (each call's record and its state table), ``outbound.py``
(dialling out), ``web_legs.py`` (browsers), ``media_tick.py`` (the 20 ms clock, mixing,
prompts). The parts share the call table and the rooms, never each other's private state.
Time comes from one injected :class:`~callroster.clock.Clock`, the network from one
injected :class:`~callroster.bridge.ports.Network`: tests run all of it on a fake clock
and in-memory sockets (``tests/bridge/test_service.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from callroster.bridge.admission import Admission
from callroster.bridge.call_limits import CallLimits
from callroster.bridge.caller_id import NOBODY, TrustedPeers
from callroster.bridge.calls import Call, CallState, CallTable, KeyMethod, add_media_figures
from callroster.bridge.dial_target import DialTarget
from callroster.bridge.directory import ConferenceDirectory
from callroster.bridge.dtmf_info import digit_from_info
from callroster.bridge.errors import NotInProgress
from callroster.bridge.inbound import Inbound
from callroster.bridge.media_tick import MediaTick, TickStats, count_send_failure
from callroster.bridge.outbound import Outbound
from callroster.bridge.pin_guard import PinGuard
from callroster.bridge.ports import Network, OnError, Receive, family_of
from callroster.bridge.recorder import Recorder
from callroster.bridge.restart import RestartLedger, keep_beating
from callroster.bridge.rooms import Room, Rooms
from callroster.bridge.rtp_session import RtpCounters
from callroster.bridge.shared import Shared
from callroster.bridge.signalling import Signalling
from callroster.bridge.web_legs import PeerFactory, WebJoined, WebLegs
from callroster.bridge.web_peer import WebPeer
from callroster.bridge.web_pending import WebJoinLimits
from callroster.bus import EventBus
from callroster.clock import Clock
from callroster.conference.conference import Conference
from callroster.conference.pin_entry import PinState
from callroster.io.bridge_network import AsyncioNetwork
from callroster.io.clock import LoopClock
from callroster.io.sip_tls import SipTls
from callroster.io.tasks import BackgroundTasks
from callroster.rtp.jitter import JitterStats
from callroster.sip import events as sip_events
from callroster.sip.endpoint import SipEndpoint
from callroster.sip.message import Request
from callroster.sip.snapshot import DialogSnapshot

log = logging.getLogger(__name__)

LEG_ACTIONS = {
    "mute": "mute",
    "unmute": "unmute",
    "hold": "hold",
    "unhold": "unhold",
    "drop": "drop",
}

__all__ = ["BridgeService", "WebJoined"]

#: What callers hear when the service stops gracefully (SIGTERM), before their BYE.
STOPPING_PROMPT = "service_restarting"
# Calls that hear nothing before their BYE or CANCEL: not answered yet, or no media yet.
_NOT_LISTENING = frozenset({CallState.DIALLING, CallState.RINGING, CallState.OFFERED})


@dataclass(frozen=True)
class _Parts:
    """The parts, made when the bridge starts (SIP needs the port it listens on)."""

    signalling: Signalling
    rooms: Rooms
    inbound: Inbound
    outbound: Outbound
    web: WebLegs
    media: MediaTick


class BridgeService:
    def __init__(
        self,
        directory: ConferenceDirectory,
        bus: EventBus,
        *,
        media_addresses: Sequence[str],
        advertised_address: str | None = None,
        clock: Clock | None = None,
        network: Network | None = None,
        pin_guard: PinGuard | None = None,
        call_limits: CallLimits | None = None,
        trusted_peers: TrustedPeers = NOBODY,
        web_limits: WebJoinLimits | None = None,
        web_peers: PeerFactory | None = None,
        ledger: RestartLedger | None = None,
        sip_tls: SipTls | None = None,
    ) -> None:
        """``media_addresses``: one address, or an IPv4 and an IPv6 one, to open media
        sockets on (the first is the default family). ``advertised_address``: what to tell
        the other end instead of the first (a public address, or a name). ``trusted_peers``:
        whose P-Asserted-Identity is believed (bridge/caller_id.py). ``web_limits``: how
        many browser joins may wait to connect, and for how long (bridge/web_pending.py);
        ``web_peers``: makes each browser's WebRTC peer (a fake in socket-free tests).
        ``ledger``: where each call's dialog is kept for a BYE after a crash (restart.py).
        ``sip_tls``: the TLS contexts of SIP (io/sip_tls.py): the TLS port's, and the one
        sips: trunks are checked with."""
        self._directory = directory
        self._bus = bus
        # The address we tell the other end for each media family we have.
        self._advertised = {family_of(address): address for address in media_addresses}
        if advertised_address is not None:
            self._advertised[family_of(media_addresses[0])] = advertised_address
        self._clock = clock
        self._network = network or AsyncioNetwork(media_addresses, sip_tls)
        self._sip_tls = sip_tls
        self._calls = CallTable()
        self._recorder = Recorder(directory, bus, ledger)
        self._ledger = ledger
        self._stopping = False  # a graceful stop under way: new calls are refused
        self._all_gone = asyncio.Event()  # ...and every call has ended
        self._tasks = BackgroundTasks("bridge")
        self._started: _Parts | None = None
        self.pin_guard = pin_guard or PinGuard()  # paces PIN checks (bridge/pin_guard.py)
        self.call_limits = call_limits or CallLimits()  # bounds floods (bridge/call_limits.py)
        self.trusted_peers = trusted_peers
        self.web_limits = web_limits or WebJoinLimits()
        self._web_peers: PeerFactory = web_peers or WebPeer

    # -- life cycle -----------------------------------------------------------------------
    async def start(
        self,
        sip_sockets: Sequence[tuple[socket.socket, socket.socket]] = (),
        *,
        sip_port: int | None = None,
        tls_sockets: Sequence[socket.socket] = (),
        tls_port: int | None = None,
    ) -> None:
        """Listen for SIP on each (UDP, TCP) pair of sockets, and over TLS on each of
        ``tls_sockets`` (or, with an injected network, take SIP through :meth:`on_sip` as
        ``sip_port`` and ``tls_port``) and start the media clock.

        With a ledger, first close what a killed process left open, and once SIP is bound
        send its calls their BYE; then keep the heartbeat (bridge/restart.py)."""
        orphans = await asyncio.to_thread(self._ledger.recover) if self._ledger else []
        clock = self._clock = self._clock or LoopClock(asyncio.get_running_loop())
        if sip_sockets:
            sip_port = int(sip_sockets[0][0].getsockname()[1])
        assert sip_port is not None, "a SIP socket or port"
        if tls_sockets:
            tls_port = int(tls_sockets[0].getsockname()[1])
        signalling = Signalling(
            self._network,
            clock,
            self._on_sip_event,
            advertised_host=next(iter(self._advertised.values())),
            port=sip_port,
            other_hosts=list(self._advertised.values())[1:],
            trusted_peer=self.trusted_peers.trusts,
            tls_port=tls_port,
        )
        rooms = Rooms(self._calls, signalling, self._bus, self._recorder, clock)
        shared = Shared(
            self._calls,
            rooms,
            signalling,
            self._network,
            clock,
            self._tasks,
            self._inlet,
            self._advertised,
        )
        media = MediaTick(self._calls, rooms, clock, self._after_tick, signalling.pump)
        self._started = _Parts(
            signalling,
            rooms,
            Inbound(shared, self._directory, self.pin_guard, self.call_limits, self.trusted_peers),
            Outbound(shared, self._recorder),
            WebLegs(self._calls, rooms, clock, self.web_limits, self._web_peers),
            media,
        )
        if isinstance(self._network, AsyncioNetwork):
            await self._network.listen(
                sip_sockets, self.on_sip, signalling.connection_closed, tls_sockets
            )
            if self._sip_tls is not None and tls_sockets:  # renewals, without a restart
                self._tasks.spawn(self._sip_tls.watch())
        self._recorder.start()
        media.start()
        log.info(
            "bridge listening for SIP on port %s%s",
            sip_port,
            "" if tls_port is None else f", over TLS on port {tls_port}",
        )
        if self._ledger is not None:
            self.end_orphans(orphans)
            self._tasks.spawn(keep_beating(self._ledger))

    def end_orphans(self, snapshots: Iterable[DialogSnapshot]) -> int:
        """Send BYE in each dialog a killed process left open (bridge/restart.py), now the
        SIP sockets are bound; returns how many. Over UDP at once; over TCP the connection
        died with the process, so a new one is opened to the phone first (in the background;
        a phone that takes none, e.g. behind a NAT, is not reached)."""
        parts = self._parts
        count = 0
        for snapshot in snapshots:
            if snapshot.transport == "tls":
                # The phone's TLS connection died with the process, and we cannot open one
                # to a phone (it has no certificate to check); its session timer ends it.
                log.info("restart: a call a crash left open was over TLS; no BYE")
                continue
            if snapshot.transport == "tcp":
                self._tasks.spawn(self._end_orphan_over_tcp(snapshot))
            else:
                parts.signalling.endpoint.end_orphan(snapshot, self._now())
            count += 1
        parts.signalling.pump()
        if count:
            log.warning("restart: ending %d calls a crash left open", count)
        return count

    async def _end_orphan_over_tcp(self, snapshot: DialogSnapshot) -> None:
        if not await self._network.connect_sip(snapshot.destination):
            log.info("restart: no TCP connection to a call a crash left open; no BYE")
            return
        signalling = self._parts.signalling
        signalling.endpoint.end_orphan(snapshot, self._now())
        signalling.pump()

    async def stop(self, grace: float = 0.0) -> None:
        """Hang up every call (BYE), stop the clock, finish the store writes.

        With ``grace``, a graceful stop (SIGTERM): new calls are refused (503), every caller
        first hears that the service is restarting, and is hung up as their prompt ends, or
        when ``grace`` seconds are up, whichever comes first."""
        if self._started is not None and grace > 0:
            await self._say_goodbye(grace)
        if self._started is not None:
            for call in self._calls:
                self._started.rooms.hang_up(call, "shutdown")
            self._started.signalling.pump()
            self._started.signalling.stop()
            self._started.media.stop()
        await self._tasks.cancel_all()
        if isinstance(self._network, AsyncioNetwork):
            await self._network.close()
        await self._recorder.drain_and_stop()

    async def _say_goodbye(self, grace: float) -> None:
        parts = self._parts
        self._stopping = True
        for call in self._calls:
            if call.state in _NOT_LISTENING:
                parts.rooms.hang_up(call, "shutdown")
            elif call.state is not CallState.ENDED:
                call.prompts.interrupt()
                call.prompts.say((STOPPING_PROMPT,))
                parts.rooms.farewell(call)  # out of the mix; BYE once the prompt is over
                call.leaving_reason = "shutdown"
        parts.signalling.pump()
        clock = self._clock
        started = clock.time() if clock is not None else 0.0
        if self._calls:
            self._all_gone.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_gone.wait(), grace)
        took = clock.time() - started if clock is not None else 0.0
        log.info(
            "graceful stop: %d calls still up after %.1f s (of %.1f s allowed)",
            len(self._calls),
            took,
            grace,
        )

    # -- the parts, once started ----------------------------------------------------------
    @property
    def _parts(self) -> _Parts:
        assert self._started is not None, "the bridge is not started"
        return self._started

    @property
    def endpoint(self) -> SipEndpoint:
        return self._parts.signalling.endpoint

    @property
    def stats(self) -> TickStats:
        return self._parts.media.stats

    # -- bytes in -------------------------------------------------------------------------
    def on_sip(self, data: bytes, source: tuple[str, int], transport: str) -> None:
        self._parts.signalling.receive(data, source, transport)

    def _inlet(self, leg_id: str) -> tuple[Receive, OnError]:
        """The receiver of one leg's media socket, and of the errors it reports. The
        receiver runs for every packet of every leg, so it is one closure over what it needs
        and nothing more."""
        by_leg = self._calls.by_leg
        on_digit = self._on_digit
        assert self._clock is not None
        time = self._clock.time

        def receive(data: bytes, source: tuple[str | int, ...]) -> None:
            call = by_leg.get(leg_id)
            if call is None:
                return
            digit = call.rtp.receive(data, source, time())
            if digit is not None:
                on_digit(call, digit, KeyMethod.RFC4733)

        def error(exc: Exception) -> None:
            call = by_leg.get(leg_id)
            if call is not None:
                count_send_failure(call, exc)

        return receive, error

    def _on_sip_event(self, event: sip_events.Event) -> None:
        parts = self._parts
        inbound, outbound = parts.inbound, parts.outbound
        if isinstance(event, sip_events.IncomingCall) and self._stopping:
            parts.signalling.answer(
                event.call_id,
                503,
                "Service Unavailable",
                extra_headers=[("Retry-After", "30")],
            )
        elif isinstance(event, sip_events.IncomingCall):
            request, certified = event.request, True
            if event.transport == "tls" and self._network.peer_certified(event.source) is False:
                # No client certificate the client CA verified: an ordinary caller, whatever
                # its address (no verified caller ID, no exemption from the per-source bound).
                request, certified = _without_assertion(request), False
            inbound.incoming(
                event.call_id, request, event.source[0], event.transport, certified=certified
            )
        elif isinstance(event, sip_events.CallEnded | sip_events.CallCancelled):
            call = self._calls.get(event.call_id)
            if call is not None:
                parts.rooms.end(call, "hangup")
            else:
                inbound.abandoned(event.call_id)  # gave up while we were looking it up
        elif isinstance(event, sip_events.CallAcknowledged):
            inbound.acknowledged(event.call_id, event.body)
        elif isinstance(event, sip_events.CallAnswered):
            outbound.answered(event.call_id, event.response)
        elif isinstance(event, sip_events.CallFailed):
            outbound.failed(event.call_id, event.status)
        elif isinstance(event, sip_events.CallProgressed):
            outbound.progressed(event.call_id)
        elif isinstance(event, sip_events.ReInvite):
            inbound.reinvite(event.call_id, event.request)
        elif isinstance(event, sip_events.InfoReceived):
            call = self._calls.get(event.call_id)
            digit = digit_from_info(event.request)
            if call is not None and digit is not None:
                self._on_digit(call, digit, KeyMethod.INFO)

    def _on_digit(self, call: Call, digit: str, method: KeyMethod) -> None:
        """A key press (RFC 4733 or INFO), to whichever part the call's state belongs."""
        if not call.takes_key(method):
            return  # the same press, also sent the other way
        parts = self._parts
        if call.state is CallState.INVITED:
            parts.outbound.digit(call, digit)
        elif call.state is CallState.PIN:
            parts.inbound.digit(call, digit)
        elif call.state is CallState.JOINED:
            room = parts.rooms.get(call.conference_id)
            if room is not None:
                room.conference.keypad(call.leg_id, digit, self._now())
                parts.rooms.after_change(room)

    def _after_tick(self, now: float) -> None:
        """The calls' own timers, once per media tick, in one pass over the calls."""
        parts = self._parts
        if self.pin_guard.pending:
            parts.inbound.run_due_checks(now)
        if parts.web.pending:
            parts.web.expire(now)
        for call in self._calls:
            if call.state is CallState.LEAVING:
                parts.rooms.hang_up_when_told(call)
            elif call.state is CallState.PIN:
                parts.inbound.pin_timer(call, now)
            elif call.deadline is not None:
                parts.outbound.deadline(call, now)
        if self._stopping and not self._calls:
            self._all_gone.set()  # the last caller heard why: the stop goes on at once

    def _now(self) -> float:
        assert self._clock is not None
        return self._clock.time()

    # -- host controls --------------------------------------------------------------------
    def _room(self, conference_id: str) -> Room:
        room = self._parts.rooms.get(conference_id)
        if room is None:
            raise NotInProgress(conference_id)
        return room

    def control(self, conference_id: str, action: str, leg_id: str | None = None) -> None:
        """Carry out a host command on a conference in progress, as the host's API will.

        Raises:
            NotInProgress: the conference is not in progress on this node (a KeyError).
            ConferenceError: the leg is unknown, or the move is illegal.
            ValueError: an unknown action.
        """
        room = self._room(conference_id)
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
        self._parts.rooms.after_change(room)
        self._parts.signalling.pump()

    def rename(self, conference_id: str, leg_id: str, name: str | None, source: str) -> None:
        """Name a leg for everyone on the call (the host publishing a name).

        Raises:
            NotInProgress: the conference is not in progress on this node (a KeyError).
            ConferenceError: no such leg.
        """
        room = self._room(conference_id)
        room.conference.rename(leg_id, name, source if name else None)
        self._parts.rooms.after_change(room)

    # -- browsers -------------------------------------------------------------------------
    def is_locked(self, match: Admission) -> bool:
        """Whether the conference is locked now (or, not in progress, locked by default)."""
        return self._parts.web.is_locked(match)

    async def join_web(
        self,
        match: Admission,
        name: str,
        offer_sdp: str,
        source: str = "unknown",
        *,
        secure: bool = False,
        profile_url: str | None = None,
        user_id: str = "",
        profile_version: str | None = None,
    ) -> WebJoined:
        """A browser joins a conference under the name it typed: answers its WebRTC offer;
        once the browser's first audio arrives, it is admitted as a leg (``joined_via:
        web``) and shows on the roster. Until then it is pending (see bridge/web_legs.py),
        and dropped if it does not connect within ``web_limits.connect_within`` seconds.
        ``source``: the request's address, whose pending joins are capped; ``secure``:
        the offer came over HTTPS (with the media's DTLS-SRTP, the leg is encrypted);
        ``profile_url``: a public profile its person consented to show (checked), shown
        beside their name once they are on the call; ``user_id``: the signed-in user who
        joins, if one does (their consent withdrawn hides it: :meth:`set_profiles_of`);
        ``profile_version``: the version of their stored profile read for this join (see
        :meth:`web_profile_versions`).

        Raises:
            ConferenceLocked: the conference is locked and the browser is not a host's.
            TooManyPendingJoins: too many joins of the conference, or from ``source``, are
                still connecting; nothing was created.
            WebPeerError: the offer cannot be answered.
        """
        return await self._parts.web.join(
            match,
            name,
            offer_sdp,
            source,
            secure=secure,
            profile_url=profile_url,
            user_id=user_id,
            profile_version=profile_version,
        )

    def owns_web_leg(self, leg_id: str, key: str) -> bool:
        """Whether ``key`` is the secret of this browser leg (still on the call)."""
        return self._parts.web.owns(leg_id, key)

    def pending_web_joins(self) -> int:
        """Browser joins answered and not yet connected (on no roster)."""
        return len(self._parts.web.pending)

    def leave_web(self, leg_id: str) -> None:
        """The browser said goodbye (its page closed or the Leave button)."""
        self._parts.web.leave(leg_id)

    def mute_self(self, leg_id: str, muted: bool) -> bool:
        """A browser leg mutes or unmutes itself (as ``*6`` does for a phone). Returns False
        when it may not unmute because the host muted it.

        Raises:
            NotInProgress: no such browser leg on this node (a KeyError).
        """
        return self._parts.web.mute_self(leg_id, muted)

    def set_own_profile(self, leg_id: str, url: str | None) -> None:
        """A browser leg shows a link to its person's public profile (``url``, checked by
        privacy/profile_url.py, with their consent), or hides it (None): every roster of
        the call changes at once.

        Raises:
            NotInProgress: no such browser leg on this node (a KeyError).
            ConferenceError: the leg has left.
        """
        self._parts.web.set_profile(leg_id, url)

    def account_of_leg(self, leg_id: str) -> str | None:
        """The account whose conference a leg is on (for the audit), if it is on one."""
        call = self._calls.for_leg(leg_id)
        return call.account_id or None if call is not None else None

    def set_profiles_of(self, user_id: str, url: str | None, version: str | None = None) -> int:
        """A signed-in user consented on /me to show ``url`` (checked), or withdrew their
        consent (None): every call they are on from a browser as themselves shows it, or
        no longer does, on every roster at once. ``version``: the version of the stored
        profile this reflects (see :meth:`web_profile_versions`). Returns how many legs
        changed."""
        return self._parts.web.set_profiles_of(user_id, url, version)

    def web_profile_versions(self) -> dict[str, str]:
        """For each signed-in user with a browser leg here, the version of their stored
        profile (store/public_profiles.py) their legs reflect; one that differs from the
        store's was changed elsewhere (another node: io/profile_watch.py follows it)."""
        return self._parts.web.profile_versions()

    # -- dial-out -------------------------------------------------------------------------
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
        """Call someone into a conference (the host adding a guest by number). The leg shows
        as ``joining`` while it rings; answered, the callee hears who invites them and joins
        by pressing 1. Returns the leg's id at once; the outcome comes as conference events
        (joined, or left with busy, no_answer, declined or failed).

        With ``press_to_accept`` False the callee is on the call as soon as it answers (the
        two ends of a click-to-call). ``stored`` False: the room is not a conference of the
        store (click-to-call), so no leg rows are written, only the call detail record.

        Raises:
            TooManyCalls: too many calls in progress.
        """
        return await self._parts.outbound.dial_out(
            match,
            target,
            name,
            ring_seconds,
            requested_by,
            name_source,
            press_to_accept=press_to_accept,
            stored=stored,
            inviter=inviter,
        )

    # -- what is going on (for tests, the benchmark and, later, health) ------------------
    def call_count(self) -> int:
        return len(self._calls)

    def is_listening(self) -> bool:
        """Whether the bridge takes calls: started (SIP bound, the media clock running) and
        not stopping (a graceful stop refuses new calls)."""
        return self._started is not None and not self._stopping

    def media_totals(self) -> Counter[str]:
        """Every call's RTP counters and jitter buffer drops since the start, summed: those
        that ended and those in progress (for the metrics; ``RtpCounters``' names, with
        ``late`` and ``duplicates``)."""
        totals = Counter(self._calls.retired)
        for call in self._calls:
            add_media_figures(totals, call.rtp)
        return totals

    def calls_refused(self) -> dict[str, int]:
        """Calls refused before any PIN was looked at, by reason (``pin_guessing``,
        ``per_source``, ``pin_prompt_full``, ``pin_prompt_evicted``, ``pin_time_limit``)."""
        return dict(self._parts.inbound.refused) if self._started is not None else {}

    def pin_guessing_alarm(self) -> bool:
        """Whether the system-wide PIN guessing alarm is up now (bridge/pin_guard.py)."""
        return self._clock is not None and self.pin_guard.alarmed(self._clock.time())

    def call_states(self) -> dict[str, CallState]:
        """Each call's state, by SIP call id."""
        return {call.call_id: call.state for call in self._calls}

    def call_history(self, call_id: str) -> list[CallState] | None:
        call = self._calls.get(call_id)
        return list(call.history) if call is not None else None

    def media_counters(self) -> list[RtpCounters]:
        """Each call's RTP counters (a copy)."""
        return [RtpCounters(**vars(call.rtp.counters)) for call in self._calls]

    def media_reports(self) -> list[tuple[RtpCounters, JitterStats]]:
        """Each call's RTP counters and jitter buffer figures (copies), for the benchmark."""
        return [
            (RtpCounters(**vars(call.rtp.counters)), call.rtp.jitter.stats())
            for call in self._calls
        ]

    def media_ports(self) -> list[int]:
        """The media port each call was told (0 for a browser)."""
        return [call.local_port for call in self._calls]

    def signalling_of(self, leg_id: str) -> str | None:
        """How a phone leg's SIP travels (``udp``, ``tcp`` or ``tls``: only ``tls`` is
        encrypted), or None for a leg not on a call here; what Live Call Status's padlock
        needs beside the media's own encryption."""
        for call in self._calls:
            if call.leg_id == leg_id:
                return call.transport
        return None

    def media_encrypted_of(self, leg_id: str) -> bool | None:
        """Whether a phone leg's media is SRTP (its ``RtpSession.encrypted``), or None for a
        leg not on a call here. With :meth:`signalling_of` == ``"tls"``: the padlock."""
        for call in self._calls:
            if call.leg_id == leg_id:
                return call.rtp.encrypted
        return None

    def conferences_in_progress(self) -> list[str]:
        return self._started.rooms.ids() if self._started is not None else []

    def conference(self, conference_id: str) -> Conference | None:
        """A conference in progress, to read (tests, the benchmark); it changes only
        through :meth:`control` and the calls themselves."""
        room = self._started.rooms.get(conference_id) if self._started is not None else None
        return room.conference if room is not None else None

    def pin_entry_state(self, call_id: str) -> PinState | None:
        call = self._calls.get(call_id)
        return call.pin.state if call and call.pin else None


def _without_assertion(request: Request) -> Request:
    """``request`` without P-Asserted-Identity: from a TLS connection that showed no client
    certificate our client CA verified (``sip_tls_client_ca_file`` set), so nothing it
    asserts is believed, whatever its address (the number is then its From, unverified)."""
    headers = [(n, v) for n, v in request.headers if n.lower() != "p-asserted-identity"]
    return dataclasses.replace(request, headers=headers)
