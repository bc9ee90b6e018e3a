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
<style>
body{{font-family:system-ui,sans-serif;max-width:40rem;margin:1.5rem auto;padding:0 1rem;
color:#111;background:#fff;line-height:1.5}}
h1{{font-size:1.4rem;margin:.2rem 0}} h2{{font-size:1.1rem}}
dt{{font-weight:600;margin-top:.5rem}} code{{font-size:1rem}}
[hidden]{{display:none !important}}
.banner{{padding:.4rem .7rem;border-radius:.3rem;font-weight:600;display:inline-block}}
#recording{{background:#b00020;color:#fff}} #locked{{background:#333;color:#fff}}
ul#legs{{list-style:none;padding:0}}
.leg{{border:1px solid #ccc;border-radius:.4rem;padding:.5rem .7rem;margin:.4rem 0;
transition:opacity .4s,transform .4s}}
.leg.joining,.leg.leaving{{opacity:0;transform:translateX(-1rem)}}
.who{{font-weight:600;font-size:1.05rem}} .number{{color:#444;font-size:.9rem}}
.speaking{{display:inline-block;width:.7rem;height:.7rem;border-radius:50%;background:#bbb;
margin-right:.4rem}}
.leg.talking .speaking{{background:#0a7d28;box-shadow:0 0 0 .25rem #0a7d2855}}
.badge{{font-size:.8rem;border-radius:.2rem;padding:0 .35rem;margin-right:.3rem;
background:#eee;color:#111}}
.badge.muted{{background:#6b2c00;color:#fff}} .badge.held{{background:#003f88;color:#fff}}
.badge.talk{{background:#0a7d28;color:#fff}} .badge.local{{background:#fff3c4}}
.badge.failed{{background:#8a1c1c;color:#fff}} .badge.ringing{{background:#fff3c4}}
.badge.media-problem{{background:#8a1c1c;color:#fff}}
.leg.not-joined{{border-color:#8a1c1c}}
button{{font:inherit;margin:.2rem .3rem 0 0;padding:.25rem .6rem}}
.rename{{display:flex;flex-wrap:wrap;align-items:center;gap:.3rem;font-weight:400;font-size:1rem}}
.rename label{{flex-basis:100%;font-size:.85rem;color:#444}}
.rename input{{font:inherit;flex:1 1 12rem;min-width:0;padding:.25rem .4rem}}
.rename button{{margin:0}}
:focus-visible{{outline:3px solid #1a5fb4;outline-offset:2px}}
</style></head>
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
