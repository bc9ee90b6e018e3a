"""Profiles of browser legs in the bridge, without a socket or a real clock (the rig and the
fake WebRTC peer of tests/bridge/test_web_legs.py): a consent given while still connecting
is shown once the leg is on the call, withdrawn while connecting is never shown; a user's
withdrawal hides their profile on every call they are on, and no one else's."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.bridge.test_web_legs import LIMITS, Peers, World
from tests.support.bridge_rig import CONFERENCE, GUEST, bridge_rig

from callroster.conference.events import LegProfileHidden, LegProfileShown
from callroster.store.conferences import PinMatch

URL = "https://social.example/in/wendy"
OTHER = "https://social.example/in/otto"


@pytest.fixture(name="world")
async def _world() -> AsyncIterator[World]:
    peers = Peers()
    async with bridge_rig(web_limits=LIMITS, web_peers=peers) as rig:
        yield World(rig, peers)


def _profiles(world: World, conference_id: str = CONFERENCE) -> dict[str | None, str | None]:
    roster = world.roster.get(conference_id)
    assert roster is not None
    return {leg.name: leg.profile_url for leg in roster.legs.values()}


async def test_consent_while_connecting_counts_from_the_first_audio(world: World) -> None:
    bridge = world.rig.bridge
    shown = await bridge.join_web(GUEST, "Wendy", "offer", "192.0.2.10", profile_url=URL)
    hidden = await bridge.join_web(GUEST, "Hugo", "offer", "192.0.2.11", profile_url=OTHER)
    bridge.set_own_profile(hidden.leg_id, None)  # withdrawn before it was ever on the call
    for peer in world.peers.made:
        peer.speak()
    assert _profiles(world) == {"Wendy": URL, "Hugo": None}
    assert [e for e in world.rig.events if isinstance(e, LegProfileShown)] == [
        LegProfileShown(CONFERENCE, shown.leg_id, URL)
    ]
    bridge.set_own_profile(shown.leg_id, None)
    assert _profiles(world) == {"Wendy": None, "Hugo": None}


async def test_a_user_s_withdrawal_hides_it_on_every_call_of_theirs_only(world: World) -> None:
    bridge = world.rig.bridge
    elsewhere = PinMatch("conf-2", "acct-1", as_host=False, locked=False)
    await bridge.join_web(GUEST, "Uma", "offer", "192.0.2.20", profile_url=URL, user_id="u1")
    await bridge.join_web(elsewhere, "Uma", "offer", "192.0.2.21", profile_url=URL, user_id="u1")
    await bridge.join_web(GUEST, "Otto", "offer", "192.0.2.22", profile_url=OTHER, user_id="u2")
    for peer in world.peers.made:
        peer.speak()
    assert _profiles(world) == {"Uma": URL, "Otto": OTHER}
    assert _profiles(world, "conf-2") == {"Uma": URL}
    assert bridge.set_profiles_of("u1", None) == 2
    assert _profiles(world) == {"Uma": None, "Otto": OTHER}
    assert _profiles(world, "conf-2") == {"Uma": None}
    hidden = [e for e in world.rig.events if isinstance(e, LegProfileHidden)]
    assert len(hidden) == 2
    assert bridge.set_profiles_of("u1", None) == 0 and bridge.set_profiles_of("", None) == 0
    # Consent given again on /me (a new address): shown on both calls at once; a join still
    # connecting gets it from its first audio.
    await bridge.join_web(GUEST, "Uma 2", "offer", "192.0.2.23", user_id="u1")
    assert bridge.set_profiles_of("u1", OTHER) == 2
    world.peers.made[-1].speak()
    assert _profiles(world) == {"Uma": OTHER, "Otto": OTHER, "Uma 2": OTHER}
    assert _profiles(world, "conf-2") == {"Uma": OTHER}


async def test_the_version_of_each_user_s_profile_their_legs_reflect(world: World) -> None:
    """What io/profile_watch.py compares with the store: read at join, moved by every change
    given with a version, not by a leg's own hide; unknown ("") when two joins read
    different ones; forgotten once the user has no browser leg left."""
    bridge = world.rig.bridge
    elsewhere = PinMatch("conf-2", "acct-1", as_host=False, locked=False)
    first = await bridge.join_web(
        GUEST, "Uma", "offer", "192.0.2.30", profile_url=URL, user_id="u1", profile_version="v1"
    )
    second = await bridge.join_web(
        elsewhere, "Uma", "offer", "192.0.2.31", profile_url=URL, user_id="u1", profile_version="v1"
    )
    await bridge.join_web(GUEST, "Gus", "offer", "192.0.2.32")  # a guest: nothing to follow
    for peer in world.peers.made:
        peer.speak()
    assert bridge.web_profile_versions() == {"u1": "v1"}
    bridge.set_own_profile(first.leg_id, None)  # "Stop showing my profile" on one call
    assert bridge.web_profile_versions() == {"u1": "v1"}
    assert _profiles(world) == {"Uma": None, "Gus": None}
    assert bridge.set_profiles_of("u1", OTHER, "v2") == 2
    assert bridge.web_profile_versions() == {"u1": "v2"}
    assert bridge.set_profiles_of("u9", None, "v9") == 0  # no leg of theirs: nothing kept
    assert bridge.web_profile_versions() == {"u1": "v2"}
    third = await bridge.join_web(
        GUEST, "Uma 3", "offer", "192.0.2.33", user_id="u1", profile_version="v3"
    )
    assert bridge.web_profile_versions() == {"u1": ""}  # read differently: the poll settles it
    for leg in (first, second, third):
        bridge.leave_web(leg.leg_id)
    assert bridge.web_profile_versions() == {}
