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

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Callroster</title>
<link rel="stylesheet" href="/static/conference.css">
</head>
<body><main data-conference="{conference_id}" data-link="{link}">
<h1>{title}</h1>
<p><span id="recording" class="banner" hidden>Recording</span>
<span id="locked" class="banner" hidden>Locked</span></p>
<section aria-labelledby="on-call">
<h2 id="on-call">On the call (<span id="count">0</span>)</h2>
<div id="host-controls" hidden>
<button type="button" id="lock">Lock</button>
<button type="button" id="mute-all">Mute all but host</button></div>
<ul id="legs" aria-live="polite"></ul>
<p id="status" role="status">Connecting…</p>
<p><label>Your own address book (stays on this device):
<input type="file" id="vcard" accept=".vcf,text/vcard"></label></p>
</section>
<section aria-labelledby="web-join"><h2 id="web-join">Join from this browser</h2>
<form id="join-form"><p><label for="join-name">Your name, as everyone on the call will see
it</label><br><input id="join-name" name="name" autocomplete="name" required maxlength="80">
<button type="submit" id="join-button">Join with my microphone</button></p></form>
<p id="in-call" hidden><button type="button" id="mic" aria-pressed="false">Mute me</button>
<button type="button" id="leave">Leave the call</button></p>
<p id="join-status" role="status"></p><audio id="call-audio" autoplay></audio></section>
<section aria-labelledby="call-me"><h2 id="call-me">Have the call phone you</h2>
<form id="call-form"><p><label for="call-name" id="call-name-label">Your name, as everyone on
the call will see it</label><br><input id="call-name" autocomplete="name" maxlength="80"></p>
<p><label for="call-country">Country</label> <select id="call-country">{countries}</select>
<label for="call-number">Phone number</label> <input id="call-number" type="tel"
autocomplete="tel" required maxlength="40"></p>
<p><button type="submit" id="call-button">Call me</button></p></form>
<p id="call-status" role="status"></p></section>
<section aria-labelledby="join"><h2 id="join">Join by phone</h2>
<dl>
{numbers}
<dt>PIN</dt><dd><code id="pin">{pin}</code> then <kbd>#</kbd></dd>
<dt>Direct SIP address</dt><dd><code id="direct">{direct}</code></dd>
</dl></section>
</main>
<script src="/static/roster.js" defer></script>
<script src="/static/join.js" defer></script>
<script src="/static/call_me.js" defer></script>
</body></html>
"""


@router.get("/c/{link}", response_class=HTMLResponse, include_in_schema=False)
def conference_page(link: str, request: Request) -> HTMLResponse:
    store = store_of(request)
    settings = request.app.state.settings
    target = store.conferences.find_by_web_link(link) if len(link) <= 64 else None
    if target is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no conference at this link")
    conference_id, account_id = target
    source = request.client.host if request.client else "unknown"
    # Holding the link makes a guest of that conference's account; the read is audit-logged.
    guest = Actor(f"link:{link[:6]}", Role.GUEST, account_id, source, "open conference page")
    view = store.conferences.get_conference(guest, conference_id)
    sip_host = settings.sip_hostport
    numbers = "\n".join(
        f'<dt>Dial in</dt><dd><code class="dial-in">sip:{escape(n)}@{escape(sip_host)}</code></dd>'
        for n in view.dial_in_numbers
    )
    return HTMLResponse(
        PAGE.format(
            conference_id=escape(conference_id),
            link=escape(link),
            title=escape(view.title),
            numbers=numbers,
            pin=escape(view.pin),
            direct=escape(f"sip:{view.pin}@{sip_host}"),
            countries=COUNTRIES,
        )
    )
