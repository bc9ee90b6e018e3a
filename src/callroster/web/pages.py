"""The conference page: Live Call Status (who is on the call, live) and how to join.

Everyone with the link sees the roster; the host opens the same page with their token in
the URL fragment (``#token=…``) and gets the controls. The page's script is
``web/static/roster.js``; joining from the browser (WebRTC) is ``web/static/join.js``.
"""

from __future__ import annotations

from html import escape

import phonenumbers
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse

from callroster.accounts.actor import Actor, Role
from callroster.api.auth import store_of
from callroster.privacy.consent import Category
from callroster.store.conferences import ConferenceView
from callroster.web import consent_state
from callroster.web import numbers as dial_ins
from callroster.web.common import copy_button, page, viewer_of

router = APIRouter()


def _countries(default: str = "GB") -> str:
    """The country picker for a national number: every region phonenumbers knows."""
    options = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        code = phonenumbers.country_code_for_region(region)
        selected = " selected" if region == default else ""
        options.append(f'<option value="{region}"{selected}>{region} (+{code})</option>')
    return "".join(options)


COUNTRIES = _countries()

BODY = """<p class="signed-in-as" id="signed-in-as" hidden></p>
<div class="room-state"><span id="locked" class="banner" hidden>Locked: nobody new can join</span>
<span id="unlocked" class="banner" hidden>Open: anyone with the PIN or link can join</span>
<span id="recording" class="banner" hidden>Recording</span>
<span id="encryption" class="banner" hidden></span></div>
<section aria-labelledby="on-call">
<h2 id="on-call">On the call: <span id="count">0</span></h2>
<div id="host-controls" role="group" aria-label="Controls for the whole call" hidden>
<button type="button" id="lock" class="secondary">Lock the call</button>
<button type="button" id="mute-all" class="secondary">Mute everyone but hosts</button>
<span id="host-feedback" aria-live="polite"></span></div>
<p id="empty-room" class="empty-room" hidden>Nobody is on the call yet. People appear here
the moment they join, by phone or from a browser.</p>
<ul id="legs" aria-live="polite"></ul>
<p id="status" role="status">Connecting…</p>
</section>
<section aria-labelledby="join"><h2 id="join">Join by phone</h2>
<dl>
{numbers}
<dt>PIN</dt><dd class="copy-row"><span><code id="pin">{pin}</code> then <kbd>#</kbd></span>
{copy_pin}</dd>
<dt>From a SIP phone or app</dt><dd class="copy-row"><code id="direct">{direct}</code>
{copy_direct}</dd>
</dl></section>
<section aria-labelledby="web-join"><h2 id="web-join">Join from this browser</h2>
<form id="join-form"><p><label for="join-name">Your name, as everyone on the call will see
it</label><input id="join-name" name="name" autocomplete="name" required maxlength="80"></p>
<p><label for="join-profile">Public profile (https://…), optional</label><input
id="join-profile" name="profile" type="url" inputmode="url" maxlength="300"
placeholder="https://" autocomplete="url" aria-describedby="join-profile-note"></p>
<p><input type="checkbox" id="join-profile-consent" name="show_profile"> <label
for="join-profile-consent">Show this link to others on this call</label></p>
<p id="join-profile-note" class="note">Only if you tick the box is the link sent, and shown
beside your name to everyone on this call until you stop it or leave. It is not kept after
the call.</p>
<p><button type="submit" id="join-button">Join with my microphone</button></p></form>
<p id="in-call" hidden><button type="button" id="mic" aria-pressed="false">Mute me</button>
<button type="button" id="profile-hide" class="secondary" hidden>Stop showing my
profile</button><button type="button" id="profile-show" class="secondary" hidden>Show my
profile</button>
<button type="button" id="leave" class="danger">Leave the call</button></p>
<p id="join-status" role="status"></p><audio id="call-audio" autoplay></audio></section>
<section aria-labelledby="call-me"><h2 id="call-me">Have the call phone you</h2>
<form id="call-form"><p><label for="call-name" id="call-name-label">Your name, as everyone on
the call will see it</label><input id="call-name" autocomplete="name" maxlength="80"></p>
<div class="row"><p><label for="call-country">Country</label>
<select id="call-country">{countries}</select></p>
<p><label for="call-number">Phone number</label><input id="call-number" type="tel"
autocomplete="tel" required maxlength="40"></p></div>
<p><button type="submit" id="call-button">Call me</button></p></form>
<p id="call-status" role="status"></p></section>
<section aria-labelledby="book"><h2 id="book">Your own names for callers</h2>
<p><label for="vcard">Import your address book (a vCard file). It stays on this device: it
is never sent anywhere.</label><input type="file" id="vcard" accept=".vcf,text/vcard"></p>
</section>
"""


def _as_guest(request: Request, link: str, why: str) -> ConferenceView:
    """The conference a link opens, read as a guest of its account (audit-logged)."""
    store = store_of(request)
    target = store.conferences.find_by_web_link(link) if len(link) <= 64 else None
    if target is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no conference at this link")
    conference_id, account_id = target
    source = request.client.host if request.client else "unknown"
    # Holding the link makes a guest of that conference's account; the read is audit-logged.
    guest = Actor(f"link:{link[:6]}", Role.GUEST, account_id, source, why)
    return store.conferences.get_conference(guest, conference_id)


def _guest_country(request: Request, country: str | None) -> tuple[str | None, str | None]:
    """The guest's country (``?country=`` from the picker, else the one remembered, else the
    browser's language) and the choice to remember: with functionality consent the picker's
    choice is kept in ``callroster_region`` for a year; without it, it holds for this page
    (its URL) only, and nothing remembered is read."""
    remembers = consent_state.allows(Category.FUNCTIONALITY)
    remembered = request.cookies.get(dial_ins.REGION_COOKIE) if remembers else None
    chosen = dial_ins.guest_country(None, country) if country else None
    found = dial_ins.guest_country(request.headers.get("accept-language"), country or remembered)
    return found, chosen if remembers else None


def _remember(answer: HTMLResponse, chosen: str | None) -> HTMLResponse:
    if chosen is not None:
        answer.set_cookie(
            dial_ins.REGION_COOKIE,
            chosen,
            max_age=int(dial_ins.REGION_LIFETIME.total_seconds()),
            path="/c",
            secure=True,
            httponly=True,
            samesite="lax",
        )
    return answer


@router.get("/c/{link}", response_class=HTMLResponse, include_in_schema=False)
def conference_page(link: str, request: Request, country: str | None = None) -> HTMLResponse:
    settings = request.app.state.settings
    view = _as_guest(request, link, "open conference page")
    conference_id = view.id
    sip_host = settings.sip_hostport
    # The guest's own country's numbers first (?country= from the picker, else the one
    # remembered, else the browser's language), with the picker and a link to every number
    # (web/numbers.py).
    guest_country, chosen = _guest_country(request, country)
    numbers = dial_ins.dial_in_list(view.numbers, guest_country, sip_host, link)
    answer = page(
        view.title,
        BODY.format(
            numbers=numbers,
            pin=escape(view.pin),
            copy_pin=copy_button(view.pin, "Copy PIN"),
            direct=escape(f"sip:{view.pin}@{sip_host}"),
            copy_direct=copy_button(f"sip:{view.pin}@{sip_host}", "Copy address"),
            countries=COUNTRIES,
        ),
        viewer=viewer_of(request),
        main_data={"conference": conference_id, "link": link},
        scripts=(
            "/static/roster.js",
            "/static/join.js",
            "/static/call_me.js",
            "/static/copy.js",
        ),
    )
    return _remember(answer, chosen)


@router.get("/c/{link}/numbers", response_class=HTMLResponse, include_in_schema=False)
def numbers_page(link: str, request: Request, country: str | None = None) -> HTMLResponse:
    """Every access number of the conference, the guest's country's first."""
    view = _as_guest(request, link, "open access numbers")
    guest_country, chosen = _guest_country(request, country)
    body = dial_ins.full_list(
        view.numbers, guest_country, request.app.state.settings.sip_hostport, link
    )
    answer = page(f"Access numbers: {view.title}", body, viewer=viewer_of(request))
    return _remember(answer, chosen)
