"""The way in: ``/`` (join a meeting by its room link or PIN; sign in), ``/live`` (the signed-in
user's Live Call Status: the one conference they run, or the list to choose from), and the
HTML page browsers get for an unknown address or a bad room link (``install``).

A PIN typed on the home page is never looked up. The page explains how to dial in with it
and nothing more: a lookup would answer "this PIN exists" as fast as the web serves pages,
where the phone's prompt takes seconds a try and the bridge locks a caller out after a few
wrong ones. A room link is a long random secret, so taking one to its page (which finds it
or answers 404, as ``/c/<link>`` always has) tells a guesser nothing they could use.
"""

from __future__ import annotations

import re
from html import escape
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from callroster.accounts.actor import Role
from callroster.api.auth import store_of
from callroster.config import Settings
from callroster.web.common import (
    Form,
    SignedIn,
    Viewer,
    page,
    redirect,
    signed_in,
    viewer_of,
)

router = APIRouter(include_in_schema=False)
LINK = re.compile(r"[A-Za-z0-9_-]{8,64}")
PIN = re.compile(r"[0-9]{4,16}")


def _home_body(viewer: Viewer | None, *, typed: str = "", error: str | None = None) -> str:
    invalid = ' aria-invalid="true" aria-describedby="room-error"' if error else ""
    field_error = f'<p class="field-error" id="room-error">{escape(error)}</p>' if error else ""
    if viewer is None:
        account = """<h2 id="hosts">Hosts and administrators</h2>
<p>Sign in to see your conferences, their dial-in details and Live Call Status.</p>
<p><a class="button" href="/login" id="home-sign-in">Sign in</a></p>"""
    else:
        account = """<h2 id="hosts">You are signed in</h2>
<p><a class="button" href="/me">My conferences</a></p>
<p><a href="/live">Live Call Status</a></p>"""
    return f"""<div class="choices">
<section class="card" aria-labelledby="join-title"><h2 id="join-title">Have an invitation?</h2>
<form method="post" action="/join" novalidate>
<p><label for="room">Room link or PIN</label>
<input id="room" name="room" autocomplete="off" autocapitalize="none" spellcheck="false"
 maxlength="300" value="{escape(typed)}"{invalid}>{field_error}</p>
<p class="note">Paste the room link from your invitation, or type the PIN you were given.</p>
<p><button type="submit">Join</button></p></form></section>
<section class="card" aria-labelledby="hosts">{account}</section>
</div>"""


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    viewer = viewer_of(request)
    return page("Join a meeting", _home_body(viewer), viewer=viewer, here="/")


def room_link(typed: str) -> str | None:
    """The room link in what was typed: a whole address (``https://…/c/<link>``), a path
    (``/c/<link>``) or the link alone; None if it is none of these."""
    text = typed.strip()
    path = urlsplit(text).path if "://" in text else text
    if "/c/" in path:
        path = path.rsplit("/c/", 1)[1]
    path = path.strip("/")
    return path if LINK.fullmatch(path) and not path.isdigit() else None


def _dial_in(settings: Settings, pin: str) -> str:
    sip = f"sip:{pin}@{settings.sip_hostport}"
    return f"""<p>A PIN is for joining by phone. Call the dial-in number in your invitation
and, when asked, key in <strong id="typed-pin">{escape(pin)}</strong> then <kbd>#</kbd>.</p>
<p>From a SIP phone or app, call <code id="pin-sip">{escape(sip)}</code> directly.</p>
<p class="note">To join from this browser you need the room link from the invitation (it
looks like <code>{escape(settings.web_base_url)}/c/…</code>). This page does not look PINs
up, so it cannot tell whether this one is right: the phone's prompt will.</p>
<p><a href="/">Back</a></p>"""


@router.post("/join")
def join(request: Request, form: Form) -> Response:
    typed = form.get("room", "")[:300]
    viewer = viewer_of(request)
    compact = re.sub(r"[\s#-]", "", typed)
    if PIN.fullmatch(compact):
        settings: Settings = request.app.state.settings
        return page("Join by phone", _dial_in(settings, compact), viewer=viewer)
    link = room_link(typed)
    if link is not None:
        return redirect(f"/c/{link}")
    error = (
        "Paste the room link or type the PIN from your invitation."
        if not typed.strip()
        else "That is neither a room link nor a PIN. A room link ends in /c/ and a code of "
        "letters and digits; a PIN is digits only."
    )
    return page(
        "Join a meeting",
        _home_body(viewer, typed=typed, error=error),
        viewer=viewer,
        here="/",
        status_code=status.HTTP_400_BAD_REQUEST,
    )


@router.get("/live", response_class=HTMLResponse)
def live(request: Request) -> Response:
    """The signed-in user's Live Call Status: straight to it when they run one conference."""
    signed = signed_in(request, "/live")
    if not isinstance(signed, SignedIn):
        return signed
    store = store_of(request)
    view = signed.view
    host_ids = (
        store.accounts.hosts_delegated_to(view.user_id)
        if view.role == Role.DELEGATE
        else [view.user_id]
    )
    conferences = [
        store.conferences.get_conference(signed.caller.actor, conference_id)
        for host_id in host_ids
        for conference_id in store.conferences.conferences_of_host(host_id)
    ]
    if len(conferences) == 1:
        return redirect(f"/c/{conferences[0].web_link}")
    items = "".join(
        f'<li><a href="/c/{escape(c.web_link)}">{escape(c.title)}</a></li>' for c in conferences
    )
    body = (
        f'<ul id="live-list">{items}</ul>'
        if items
        else '<p id="live-none">You run no conferences yet. <a href="/me">My conferences</a></p>'
    )
    return page(
        "Live Call Status",
        "<p>Choose a conference to see who is on the call.</p>" + body,
        viewer=signed.viewer,
        here="/live",
    )


# -- error pages for browsers ---------------------------------------------------------------
NOT_FOUND_PAGE = (
    "Page not found",
    "<p>There is no page at this address. If someone sent it to you, check that it was copied "
    'whole.</p><p><a href="/">Go to the home page</a> to join a meeting or sign in.</p>',
)
BAD_ROOM_PAGE = (
    "No meeting at this link",
    "<p>This room link does not open a meeting. It may have been mistyped or cut short, or "
    "the conference may have been deleted. Ask the host to send the link again, or join by "
    'phone with the PIN from the invitation.</p><p><a href="/">Join another meeting</a></p>',
)


def wants_html(request: Request) -> bool:
    """A browser navigating to a page (not ``/api/...``, not a script's fetch)."""
    path = request.url.path
    if path.startswith(("/api/", "/static/")):
        return False
    return "text/html" in request.headers.get("accept", "")


async def _error_page(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if not wants_html(request):
        return await http_exception_handler(request, exc)
    if exc.status_code == status.HTTP_404_NOT_FOUND:
        title, body = BAD_ROOM_PAGE if request.url.path.startswith("/c/") else NOT_FOUND_PAGE
    else:
        title = "That could not be done"
        detail = exc.detail if isinstance(exc.detail, str) else ""
        body = f"<p>{escape(detail.capitalize() or title)}.</p>" + '<p><a href="/">Home</a></p>'
    viewer = await run_in_threadpool(viewer_of, request)
    headers = dict(exc.headers or {})
    return page(title, body, status_code=exc.status_code, headers=headers, viewer=viewer)


def install(app: FastAPI) -> None:
    """Browsers get an HTML page in the site's layout for an HTTP error (404 above all);
    API clients keep FastAPI's JSON (``{"detail": ...}``)."""
    app.add_exception_handler(StarletteHTTPException, _error_page)
