"""A browser join is on the roster only once its audio arrives (bridge/web_legs.py), without
a socket or a real clock: the bridge's rig with a fake WebRTC peer that "connects" when the
test makes it speak. What the roster shows is checked on a real Roster fed by the bus, as
every viewer's is."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable

import pytest
from tests.support.bridge_rig import CONFERENCE, GUEST, HOST, Rig, bridge_rig

from callroster.bridge.calls import CallState
from callroster.bridge.errors import ConferenceLocked, TooManyPendingJoins
from callroster.bridge.web_peer import WebPeerError
from callroster.bridge.web_pending import WebJoinLimits
from callroster.conference.events import LegJoined, LegLeft, LegMuted
from callroster.roster.roster import Roster
from callroster.rtp.packet import RtpSender
from callroster.store.conferences import PinMatch

LIMITS = WebJoinLimits(per_conference=10, per_address=5, connect_within=10.0)
SILENCE = b"\xff" * 160  # 20 ms of PCMU silence
SLOW = asyncio.Event()  # an offer "slow" is answered when this is set


class FakeTransport:
    def __init__(self, peer: FakePeer) -> None:
        self._peer = peer

    def sendto(self, data: bytes, address: object, /) -> None:
        pass

    def close(self) -> None:
        self._peer.close()


class FakePeer:
    """Answers any offer but ``"bad"``; :meth:`speak` is its first audio (ICE, DTLS and
    SRTP done, as far as the bridge can tell)."""

    def __init__(self, on_packet: Callable[[bytes], None], on_closed: Callable[[], None]) -> None:
        self._on_packet = on_packet
        self._on_closed = on_closed
        self.transport = FakeTransport(self)
        self.closed = False
        self._sender = RtpSender(ssrc=1, initial_sequence=0, initial_timestamp=0)

    async def answer(self, offer_sdp: str) -> str:
        if offer_sdp == "bad":
            raise WebPeerError("the offer has no audio")
        if offer_sdp == "slow":
            await SLOW.wait()
        return "v=0 (answer)"

    def speak(self, frames: int = 1) -> None:
        for _ in range(frames):
            self._on_packet(self._sender.next_packet(SILENCE, 160))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._on_closed()


class Peers:
    def __init__(self) -> None:
        self.made: list[FakePeer] = []

    def __call__(
        self, on_packet: Callable[[bytes], None], on_closed: Callable[[], None]
    ) -> FakePeer:
        self.made.append(FakePeer(on_packet, on_closed))
        return self.made[-1]


class World:
    def __init__(self, rig: Rig, peers: Peers) -> None:
        self.rig = rig
        self.peers = peers
        self.roster = Roster()
        rig.bus.subscribe(lambda event: self.roster.apply(event, dt.datetime.now(dt.UTC)))

    def shown(self, conference_id: str = CONFERENCE) -> list[str | None]:
        """The names on the conference's roster, as a viewer sees them."""
        roster = self.roster.get(conference_id)
        return sorted((leg.name for leg in roster.legs.values()), key=str) if roster else []


@pytest.fixture
async def world() -> AsyncIterator[World]:
    peers = Peers()
    async with bridge_rig(web_limits=LIMITS, web_peers=peers) as rig:
        yield World(rig, peers)


async def test_a_browser_is_on_the_roster_only_once_its_audio_arrives(world: World) -> None:
    bridge = world.rig.bridge
    joined = await bridge.join_web(GUEST, "Wendy Web", "offer", "192.0.2.10")
    assert joined.answer == "v=0 (answer)"
    [peer] = world.peers.made
    # Answered, waiting to connect: on no roster, in no conference, but it holds its key.
    world.rig.clock.advance(5.0)
    assert world.rig.events == [] and world.shown() == []
    assert bridge.conference(CONFERENCE) is None
    assert bridge.pending_web_joins() == 1 and bridge.call_count() == 1
    assert bridge.owns_web_leg(joined.leg_id, joined.key)
    # Its first audio: it is admitted, and everyone sees it under its name.
    peer.speak()
    assert world.shown() == ["Wendy Web"]
    [event] = world.rig.events
    assert isinstance(event, LegJoined) and event.leg_id == joined.leg_id
    assert bridge.pending_web_joins() == 0
    [call_id] = bridge.call_states()
    assert bridge.call_history(call_id) == [CallState.ANSWERED, CallState.JOINED]
    # Past the time to connect, a connected leg stays: the limit is for pending ones only.
    world.rig.clock.advance(30.0)
    assert world.shown() == ["Wendy Web"] and not peer.closed


async def test_a_join_that_never_connects_is_dropped_and_leaves_no_trace(world: World) -> None:
    bridge = world.rig.bridge
    await bridge.join_web(GUEST, "Mallory", "offer", "192.0.2.66")
    [peer] = world.peers.made
    world.rig.clock.advance(9.9)
    assert bridge.call_count() == 1 and not peer.closed
    world.rig.clock.advance(0.2)  # 10 s after the answer, at the next media tick
    assert peer.closed and bridge.call_count() == 0 and bridge.pending_web_joins() == 0
    # Nothing was ever published: no join, no leave, no room.
    assert world.rig.events == [] and world.shown() == []
    assert bridge.conferences_in_progress() == []
    # Audio after the drop (a late packet) changes nothing.
    peer.speak()
    assert world.rig.events == [] and bridge.call_count() == 0


async def test_pending_joins_are_capped_per_address_and_per_conference(world: World) -> None:
    bridge = world.rig.bridge
    for n in range(5):
        await bridge.join_web(GUEST, f"Flood {n}", "offer", "203.0.113.5")
    world.rig.clock.advance(2.0)
    with pytest.raises(TooManyPendingJoins) as refused:
        await bridge.join_web(GUEST, "Flood 5", "offer", "203.0.113.5")
    assert refused.value.reason == "per_address"
    assert 7.9 < refused.value.retry_after <= 8.0
    assert len(world.peers.made) == 5  # nothing was made for the refused one
    for n in range(5):
        await bridge.join_web(GUEST, f"Other {n}", "offer", "203.0.113.6")
    with pytest.raises(TooManyPendingJoins) as full:
        await bridge.join_web(GUEST, "Third address", "offer", "203.0.113.7")
    assert full.value.reason == "per_conference"
    # Another conference, from a third address, is not held back.
    elsewhere = PinMatch("conf-2", "acct-1", as_host=False, locked=False)
    await bridge.join_web(elsewhere, "Elsewhere", "offer", "203.0.113.7")
    assert bridge.pending_web_joins() == 11 and world.rig.events == []
    # One connects: it is on the roster, and its place is free for the next join.
    world.peers.made[0].speak()
    assert world.shown() == ["Flood 0"]
    await bridge.join_web(GUEST, "Real Person", "offer", "203.0.113.7")
    # When the rest time out, every place is free again and only the real one is shown.
    world.rig.clock.advance(10.5)
    assert bridge.pending_web_joins() == 0
    assert world.shown() == ["Flood 0"] and bridge.call_count() == 1
    await bridge.join_web(GUEST, "Flood again", "offer", "203.0.113.5")
    assert bridge.pending_web_joins() == 1


async def test_a_bad_offer_or_leaving_early_frees_the_place(world: World) -> None:
    bridge = world.rig.bridge
    with pytest.raises(WebPeerError):
        await bridge.join_web(GUEST, "Bad", "bad", "192.0.2.1")
    assert bridge.pending_web_joins() == 0 and bridge.call_count() == 0
    joined = await bridge.join_web(GUEST, "Quitter", "offer", "192.0.2.1")
    bridge.leave_web(joined.leg_id)
    assert world.peers.made[-1].closed
    assert bridge.pending_web_joins() == 0 and bridge.call_count() == 0
    assert world.rig.events == [] and world.shown() == []


async def test_muting_itself_before_it_connects_is_kept(world: World) -> None:
    bridge = world.rig.bridge
    joined = await bridge.join_web(GUEST, "Quiet Quentin", "offer", "192.0.2.2")
    assert bridge.mute_self(joined.leg_id, True)
    world.peers.made[0].speak()
    assert [type(e) for e in world.rig.events] == [LegJoined, LegMuted]
    roster = world.roster.get(CONFERENCE)
    assert roster is not None and roster.legs[joined.leg_id].muted


async def test_locked_while_connecting_the_guest_is_turned_away_unseen(world: World) -> None:
    bridge = world.rig.bridge
    host = await bridge.join_web(HOST, "Hannah Host", "offer", "192.0.2.3")
    world.peers.made[0].speak()
    guest = await bridge.join_web(GUEST, "Gus Guest", "offer", "192.0.2.4")
    bridge.control(CONFERENCE, "lock")
    with pytest.raises(ConferenceLocked):  # a new one is refused at once, as before
        await bridge.join_web(GUEST, "Late Guest", "offer", "192.0.2.5")
    world.peers.made[1].speak()
    assert world.peers.made[1].closed and world.shown() == ["Hannah Host"]
    assert [e.leg_id for e in world.rig.events if isinstance(e, LegJoined)] == [host.leg_id]
    assert not [e for e in world.rig.events if isinstance(e, LegLeft)]
    assert bridge.call_count() == 1 and guest.leg_id != host.leg_id


async def test_an_answer_slower_than_the_time_to_connect_leaves_nothing(world: World) -> None:
    bridge = world.rig.bridge
    SLOW.clear()
    joining = asyncio.ensure_future(bridge.join_web(GUEST, "Slow Sam", "slow", "192.0.2.6"))
    await asyncio.sleep(0)
    assert bridge.pending_web_joins() == 1
    world.rig.clock.advance(10.5)
    assert bridge.pending_web_joins() == 0
    SLOW.set()
    with pytest.raises(WebPeerError):
        await joining
    assert world.peers.made[0].closed and bridge.call_count() == 0 and world.rig.events == []
