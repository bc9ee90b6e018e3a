"""``/unsubscribe/<token>``: a Tell a Friend email's one-click unsubscribe (RFC 8058).

**GET never unsubscribes.** Mail scanners and link previewers fetch every link of a message,
often several times; a GET only shows a page with an "Unsubscribe" button (a form that
POSTs to the same address) and changes nothing. **POST unsubscribes**: a mail client's
one-click POST (body ``List-Unsubscribe=One-Click``, as ``List-Unsubscribe-Post`` asks) or
the page's button. Whatever the body says, a POST to a link unsubscribes it: the token in
the path is the authority.

**No CSRF token, no cookie, no Origin check**, on purpose: a one-click POST comes from the
mail client's or provider's servers with none of them. The link's token (random, 256 bits,
kept only as SHA-256) is what proves the POST came from whoever received the email; a
forged POST from another site would have to know it, and could then only unsubscribe the
address it was sent to.

**No oracle.** An unknown, used or malformed token gets the same page and the same 200 as a
good one; unsubscribing twice is the same as once. A body is read up to ``BODY_LIMIT``
bytes (a one-click body is 26; more is answered 413), and each source address may POST
``PER_SOURCE`` times a minute.
"""

from __future__ import annotations

import asyncio
from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from callroster.api.auth import store_of
from callroster.api.rate_limit import SlidingWindow, take
from callroster.web.common import page
from callroster.web.common import reason as reason_of
from callroster.web.common import source as source_of

router = APIRouter(include_in_schema=False)
BODY_LIMIT = 1024
PER_SOURCE = 30  # POSTs a minute from one address
WINDOW = 60.0
TOKEN_LIMIT = 80
# Not from an email of ours: no referrer to the page a link points at.
HEADERS = {"Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


def _window(request: Request) -> SlidingWindow:
    state = request.app.state
    window = getattr(state, "unsubscribe_window", None)
    if window is None:
        window = state.unsubscribe_window = SlidingWindow(PER_SOURCE, WINDOW)
    assert isinstance(window, SlidingWindow)
    return window


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_page(token: str) -> HTMLResponse:
    """The page a GET shows: a button, and nothing changed."""
    action = f"/unsubscribe/{escape(token[:TOKEN_LIMIT])}"
    body = f"""<p>Unsubscribe this address from Callroster's Tell a Friend emails? No one will
be able to invite it again, and it will get no marketing from us. We keep only a keyed
fingerprint of the address to make sure of that; the address itself is deleted.</p>
<form method="post" action="{action}">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<p><button type="submit" id="unsubscribe">Unsubscribe</button></p></form>"""
    return page("Unsubscribe", body, headers=HEADERS)


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe(token: str, request: Request) -> Response:
    """Unsubscribe the address the link was sent to (see the module's docstring)."""
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > BODY_LIMIT:
            return page("Too large", "<p>This request is too large.</p>", status_code=413)
    source = source_of(request)
    wait = take([(_window(request), source)], request.app.state.monotonic())
    if wait > 0:
        return page(
            "Too many requests",
            "<p>Too many requests from your network; try again in a minute.</p>",
            status_code=429,
            headers={**HEADERS, "Retry-After": str(int(wait) + 1)},
        )
    store = store_of(request)
    await asyncio.to_thread(
        store.friend_invitations.unsubscribe,
        token,
        source=source,
        reason=reason_of(request),
    )
    return page(
        "Unsubscribed",
        '<p id="unsubscribed">You are unsubscribed. No one can invite this address through '
        "Callroster again, and it will get no marketing email from us.</p>",
        headers=HEADERS,
    )
