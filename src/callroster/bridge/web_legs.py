"""Browsers on the call: a WebRTC offer answered and admitted as a leg under the name its
person typed (``joined_via: web``); the browser mutes itself and leaves by its own secret.

Answering an offer proves nothing: anyone with the conference link can post offers that
never connect. So an answered browser is *pending* (its call ``ANSWERED``, in no conference,
on no roster, in no mix) until its first audio arrives: that needs ICE to the answer's
credentials, a DTLS handshake with the certificate its offer named and SRTP keyed by it,
which only a WebRTC endpoint that took our answer can do. Then it is admitted like any
caller. Pending joins are capped per conference and per address, and dropped when they have
not connected in time (``bridge/web_pending.py``), leaving nothing on the roster.

A signed-in user's browser legs show the public profile they consented to on /me. For each
such user the bridge keeps the *version* of the stored profile its legs reflect (read at
join, and given with every change by :meth:`WebLegs.set_profiles_of`), so that a change made
on another node on the same database is seen and followed (io/profile_watch.py).
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from callroster.bridge.admission import Admission
from callroster.bridge.caller_id import CallerId
from callroster.bridge.calls import Call, CallState, CallTable
from callroster.bridge.errors import ConferenceLocked, NotInProgress, TooManyPendingJoins
from callroster.bridge.ports import RtpPort
from callroster.bridge.rooms import Rooms
from callroster.bridge.rtp_session import RtpSession
from callroster.bridge.web_peer import WebPeer, WebPeerError
from callroster.bridge.web_pending import PendingJoins, WebJoinLimits
from callroster.clock import Clock
from callroster.rtp.packet import RtpSender

log = logging.getLogger(__name__)


class Peer(Protocol):
    """A browser's connection as the bridge uses it (``bridge/web_peer.py``'s ``WebPeer``;
    a fake in the socket-free tests)."""

    @property
    def transport(self) -> RtpPort: ...

    async def answer(self, offer_sdp: str) -> str: ...

    def close(self) -> None: ...


# Makes a peer that hands each 20 ms of the browser's audio to the first callable (as an
# RTP packet) and calls the second once when the connection ends.
PeerFactory = Callable[[Callable[[bytes], None], Callable[[], None]], Peer]


@dataclass(frozen=True)
class WebJoined:
    leg_id: str
    answer: str  # SDP
    key: str  # the browser's secret for acting as its leg (mute itself, leave)


@dataclass
class _Waiting:
    """What a pending browser is admitted with once its audio comes."""

    match: Admission
    name: str
    answered_at: float
    muted: bool = False  # it muted itself before it was on the call
    # A public profile its person consented to show (privacy/profile_url.py checked it).
    profile_url: str | None = None
    user_id: str = ""  # the signed-in user who joins, if one does


class WebLegs:
    def __init__(
        self,
        calls: CallTable,
        rooms: Rooms,
        clock: Clock,
        limits: WebJoinLimits | None = None,
        peers: PeerFactory = WebPeer,
    ) -> None:
        self._calls = calls
        self._rooms = rooms
        self._clock = clock
        self._peers = peers
        self.pending = PendingJoins(limits or WebJoinLimits())
        self._waiting: dict[str, _Waiting] = {}  # by leg id, beside self.pending
        # user id -> the version of their stored profile their browser legs reflect; "": not
        # known (two joins read different versions), so the next poll reads it again.
        self._versions: dict[str, str] = {}

    def is_locked(self, match: Admission) -> bool:
        """Whether the conference is locked now (or, not in progress, locked by default)."""
        room = self._rooms.get(match.conference_id)
        return room.conference.locked if room is not None else match.locked

    async def join(
        self,
        match: Admission,
        name: str,
        offer_sdp: str,
        source: str,
        *,
        secure: bool = False,
        profile_url: str | None = None,
        user_id: str = "",
        profile_version: str | None = None,
    ) -> WebJoined:
        """See :meth:`BridgeService.join_web`."""
        if self.is_locked(match) and not match.as_host:
            raise ConferenceLocked(match.conference_id)
        call_id = f"web-{secrets.token_hex(8)}"
        leg_id = secrets.token_hex(8)
        calls, clock = self._calls, self._clock
        now = clock.time()
        # Counted in the same step as checked, before the offer is answered (an await).
        refused = self.pending.reserve(leg_id, match.conference_id, source, now)
        if refused is not None:
            raise TooManyPendingJoins(refused.reason, refused.retry_after)
        self._waiting[leg_id] = _Waiting(match, name, now, profile_url=profile_url, user_id=user_id)
        if user_id and profile_version is not None:
            held = self._versions.setdefault(user_id, profile_version)
            if held != profile_version:  # their legs may differ: the next poll settles it
                self._versions[user_id] = ""

        def on_packet(packet: bytes) -> None:
            call = calls.get(call_id)
            if call is None:
                return
            if call.state is CallState.ANSWERED and not self._connected(call):
                return
            # A browser never sends telephone-events: no digit comes of this.
            call.rtp.receive(packet, WebPeer.address, clock.time())

        def on_closed() -> None:
            self._forget(leg_id)
            call = calls.get(call_id)
            if call is not None:
                self._rooms.end(call, "hangup")

        try:
            peer = self._peers(on_packet, on_closed)
        except BaseException:
            self._forget(leg_id)
            raise
        try:
            answer = await peer.answer(offer_sdp)
            if leg_id not in self._waiting:  # its time to connect ran out while answering
                raise WebPeerError("the offer took too long to answer")
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
            transport="https" if secure else "http",
            web_key=secrets.token_urlsafe(24),
            user_id=user_id,
        )
        calls.add(call)
        return WebJoined(call.leg_id, answer, call.web_key)

    def _connected(self, call: Call) -> bool:
        """A pending browser's first audio: it is admitted now, and on the roster. Returns
        False when it is not on the call after all (locked meanwhile: it is hung up)."""
        waiting = self._forget(call.leg_id)
        if waiting is None:
            return False
        log.info(
            "web leg %s: first audio %.3f s after its answer",
            call.leg_id,
            self._clock.time() - waiting.answered_at,
        )
        if not self._rooms.admit(call, waiting.match, waiting.name):  # locked meanwhile
            self._rooms.end(call, "locked")
            return False
        room = self._rooms.get(call.conference_id)
        if room is not None and (waiting.muted or waiting.profile_url):
            if waiting.muted:
                room.conference.mute(call.leg_id, "self")
            if waiting.profile_url:
                room.conference.show_profile(call.leg_id, waiting.profile_url)
            self._rooms.after_change(room)
        return True

    def _forget(self, leg_id: str) -> _Waiting | None:
        self.pending.discard(leg_id)
        return self._waiting.pop(leg_id, None)

    def expire(self, now: float) -> None:
        """Drop the pending browsers whose time to connect is over (every media tick): they
        were never on the roster, and leave nothing there."""
        for leg_id in self.pending.overdue(now):
            self._forget(leg_id)
            call = self._calls.for_leg(leg_id)
            if call is not None:
                log.info("web leg %s: no audio within its time to connect; dropped", leg_id)
                self._rooms.end(call, "timeout")

    def owns(self, leg_id: str, key: str) -> bool:
        """Whether ``key`` is the secret of this browser leg (on the call, or connecting)."""
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
        waiting = self._waiting.get(leg_id)
        if waiting is not None:  # not on the call yet: it will be, as it asks
            waiting.muted = muted
            return True
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

    def set_profile(self, leg_id: str, url: str | None) -> None:
        """See :meth:`BridgeService.set_own_profile`."""
        waiting = self._waiting.get(leg_id)
        if waiting is not None:  # not on the call yet: it will be, as it asks
            waiting.profile_url = url
            return
        call = self._web_call(leg_id)
        room = self._rooms.get(call.conference_id)
        if room is None:
            raise NotInProgress(leg_id)
        if url is None:
            room.conference.hide_profile(leg_id)
        else:
            room.conference.show_profile(leg_id, url)
        self._rooms.after_change(room)

    def set_profiles_of(self, user_id: str, url: str | None, version: str | None = None) -> int:
        """See :meth:`BridgeService.set_profiles_of`."""
        if not user_id:
            return 0
        if version is not None and user_id in self._users_on_calls():
            self._versions[user_id] = version
        for waiting in self._waiting.values():
            if waiting.user_id == user_id:
                waiting.profile_url = url
        changed = 0
        for call in self._calls:
            if call.user_id != user_id or call.joined_via != "web":
                continue
            room = self._rooms.get(call.conference_id)
            present = {leg.id: leg for leg in room.conference.present()} if room else {}
            leg = present.get(call.leg_id)
            if room is None or leg is None or leg.profile_url == url:
                continue
            if url is None:
                room.conference.hide_profile(call.leg_id)
            else:
                room.conference.show_profile(call.leg_id, url)
            self._rooms.after_change(room)
            changed += 1
        return changed

    def profile_versions(self) -> dict[str, str]:
        """See :meth:`BridgeService.web_profile_versions`."""
        users = self._users_on_calls()
        for user_id in [u for u in self._versions if u not in users]:
            del self._versions[user_id]  # no browser leg of theirs is left
        return dict(self._versions)

    def _users_on_calls(self) -> set[str]:
        """The signed-in users with a browser leg, on a call or still connecting."""
        users = {waiting.user_id for waiting in self._waiting.values()}
        users.update(call.user_id for call in self._calls if call.joined_via == "web")
        users.discard("")
        return users

    def _web_call(self, leg_id: str) -> Call:
        call = self._calls.for_leg(leg_id)
        if call is None or call.joined_via != "web" or call.state is not CallState.JOINED:
            raise NotInProgress(leg_id)
        return call
