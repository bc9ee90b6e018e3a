"""``/me``'s "Public profile": a signed-in user's profile address and their consent to show
it beside their name on the calls they join from a browser (issue 16).

Saving checks the address (privacy/profile_url.py) and keeps it encrypted on the user
(store/public_profiles.py). It applies at once to every call they are on now from a browser
as themselves, as to the calls they join later: withdrawing consent (or removing the
address) hides it, giving it or changing the address shows the new one. A command to the
bridge, which tells each conference, whose event every open roster gets; the bridges of other
nodes on the same database follow within ``key_watch_seconds`` (io/profile_watch.py).
"""

from __future__ import annotations

import asyncio
import time
from html import escape

from fastapi import Request

from callroster.api.auth import store_of
from callroster.api.rate_limit import SlidingWindow, take
from callroster.bridge.service import BridgeService
from callroster.privacy.profile_url import MAX_LENGTH, ProfileUrlError, check_profile_url
from callroster.store.public_profiles import PublicProfile
from callroster.web.common import SignedIn

SAVES_PER_MINUTE = 10
MINUTE = 60.0


def section(profile: PublicProfile, csrf: str, attrs: str = "", error: str = "") -> str:
    """The form: the address, and a separate box for the consent, unticked unless given."""
    checked = " checked" if profile.consent_at is not None else ""
    since = (
        f" (since {profile.consent_at.strftime('%d %b %Y %H:%M UTC')})"
        if profile.consent_at is not None
        else ""
    )
    return f"""<section aria-labelledby="public-profile"><h2 id="public-profile">Public
profile</h2>
<form method="post" action="/me/public-profile">{csrf}
<p><label for="profile-url">Public profile (https://…), optional</label><input
id="profile-url" name="profile_url" type="url" inputmode="url" maxlength="{MAX_LENGTH}"
placeholder="https://" value="{escape(profile.url or "")}"{attrs}>{error}</p>
<p><input type="checkbox" id="profile-consent" name="show_profile"{checked}> <label
for="profile-consent">Show this link beside my name to others on the calls I join from a
browser{escape(since)}</label></p>
<p class="note">Without the tick nobody sees it. Untick it to stop showing it: it goes at
once from every call you are on.</p>
<p><button type="submit" class="secondary">Save public profile</button></p></form></section>"""


class Refused(Exception):
    """The form cannot be saved; ``str()`` says why, for the page."""


def checked(form: dict[str, str]) -> tuple[str | None, bool]:
    """The address (None: none) and the consent, from the posted form.

    Raises:
        Refused: the address is not acceptable.
    """
    typed = form.get("profile_url", "")
    if len(typed) > 2 * MAX_LENGTH:
        raise Refused(f"A public profile address is at most {MAX_LENGTH} characters.")
    if not typed.strip():
        return None, False
    try:
        return check_profile_url(typed), form.get("show_profile") == "on"
    except ProfileUrlError as exc:
        raise Refused(f"Public profile: {exc}.") from None


def allowed(request: Request, user_id: str) -> bool:
    """At most ``SAVES_PER_MINUTE`` saves a minute per user."""
    state = request.app.state
    window: SlidingWindow | None = getattr(state, "public_profile_window", None)
    if window is None:
        window = state.public_profile_window = SlidingWindow(SAVES_PER_MINUTE, MINUTE)
    return take([(window, user_id)], getattr(state, "monotonic", time.monotonic)()) == 0


async def save(request: Request, signed: SignedIn, form: dict[str, str]) -> str:
    """Save the form; on withdrawal, hide the profile on every call now. Returns the done
    code for the page.

    Raises:
        Refused: the address is not acceptable, or too many saves.
    """
    user_id = signed.view.user_id
    if not allowed(request, user_id):
        raise Refused("Too many changes to your public profile in the last minute.")
    url, consent = checked(form)
    store = store_of(request)
    change, version = await asyncio.to_thread(
        store.public_profiles.save_versioned, signed.caller.actor, user_id, url, consent
    )
    bridge = getattr(request.app.state, "bridge", None)
    if isinstance(bridge, BridgeService) and (consent or change == "withdrawn"):
        # On the bridge's loop (this route is async): the calls they are on now follow at
        # once, a new or changed address as a withdrawal does; those on other nodes within
        # a poll (io/profile_watch.py), by the version this save wrote.
        bridge.set_profiles_of(user_id, url if consent else None, version)
    if change == "withdrawn":
        return "public-profile-withdrawn"
    return "public-profile-shown" if consent else "public-profile-saved"
