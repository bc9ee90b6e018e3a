"""A change to a user's public profile on /me (or their removal) reaches their browser legs
on every node sharing the database within ``key_watch_seconds``: the node where it was made
tells its own bridge at once (web/public_profile.py, api/users.py); the others see it here.

Every ``every`` seconds, only while this node's bridge has browser legs of signed-in users:
one query for the versions of those users' stored profiles (store/public_profiles.py: a hash
of the ciphertext and consent time, nothing decrypted). For each that differs from the
version the bridge's legs reflect, the profile is read for the bridge (audit-logged) and
applied to all their legs, with its version. A leg's own "Stop showing my profile" stays as
it is while the version does not change. The bus is in-process, so a poll it is (as in
io/key_watch.py).
"""

from __future__ import annotations

import asyncio
import logging

from callroster.bridge.service import BridgeService
from callroster.store.store import Store

log = logging.getLogger(__name__)


async def follow_profiles_once(store: Store, bridge: BridgeService) -> int:
    """Bring the bridge's browser legs up to the store's profiles. Returns how many users'
    profiles were applied (changed elsewhere since the bridge last knew)."""
    held = bridge.web_profile_versions()
    if not held:
        return 0
    stored = await asyncio.to_thread(store.public_profiles.versions, list(held))
    applied = 0
    for user_id, version in stored.items():
        if version == held[user_id]:
            continue
        url, read = await asyncio.to_thread(store.public_profiles.read_for_calls, user_id)
        # Back on the loop: a change pushed here meanwhile (a /me save on this node) wins.
        if bridge.web_profile_versions().get(user_id) != held[user_id]:
            continue
        bridge.set_profiles_of(user_id, url, read)
        applied += 1
    return applied


async def watch_profiles(store: Store, bridge: BridgeService, every: float) -> None:
    """Every ``every`` seconds, follow the profile changes made on other nodes."""
    while True:
        await asyncio.sleep(every)
        try:
            applied = await follow_profiles_once(store, bridge)
        except Exception as exc:  # noqa: BLE001 - the database may be away a moment; try again
            log.warning("cannot check for public profile changes: %s", type(exc).__name__)
            continue
        if applied:
            log.info("public profiles changed elsewhere: %d user(s) followed", applied)
