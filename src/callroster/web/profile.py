"""``/me``: a signed-in user's own page. Who they are; their profile (name, phone); for a
host, their conferences with the dial-in details, PIN (and a PIN reset) and the personal
room link, and the delegates they authorise; for a delegate, the conferences they manage;
for an administrator, the way to the portal. Sign out and the second factor from here.

Plain CSRF-checked forms calling the API's own functions (``api.users``, ``api.routes``),
so a delegate can never reach a host's profile from here either. A host (or their delegate,
for the host) creates more named conferences here, renames and deletes them.
"""

from __future__ import annotations

import asyncio
from html import escape
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from callroster.accounts.actor import Role
from callroster.api import routes as routes_api
from callroster.api import users as users_api
from callroster.api.auth import store_of
from callroster.config import Settings
from callroster.store.conferences import ConferenceView
from callroster.store.store import Store
from callroster.web import public_profile
from callroster.web.common import (
    ROLE_NAMES,
    Form,
    SignedIn,
    copy_button,
    csrf_field,
    dial_in,
    field_error,
    forbidden,
    form_refused,
    http_detail,
    message,
    name_refusal,
    notice,
    page,
    redirect,
    signed_in,
)

router = APIRouter(include_in_schema=False)


# What a finished action says, by the code in its redirect (``/me?done=saved``): the page
# shows only these texts, never the query's, and a failed action answers with the page and
# the reason at once (issue 12, finding 10). The new PIN is on the page itself, not in a URL.
DONE = {
    "profile-saved": "Profile saved.",
    "public-profile-saved": "Public profile saved. It is not shown to anyone.",
    "public-profile-shown": (
        "Public profile saved. It is shown beside your name on the calls you join from a browser."
    ),
    "public-profile-withdrawn": (
        "Public profile no longer shown: it is gone from every call you are on."
    ),
    "new-pin": (
        "The conference has a new PIN, shown below. The old one no longer works: send your "
        "guests the new one."
    ),
    "delegate-authorised": "Delegate authorised.",
    "delegation-withdrawn": "Delegation withdrawn.",
    "conference-created": "Conference created: its PIN, host PIN and room link are below.",
    "conference-renamed": "Conference renamed.",
    "conference-deleted": (
        "Conference deleted. Its PINs and room link no longer work, and its PINs are not "
        "given to anyone else for a long while."
    ),
}


def _done(code: str) -> Response:
    return redirect(f"/me?done={quote(code)}")


def _failed(request: Request, error: str, field: str | None = None) -> Response:
    """The page again with ``error`` beside ``field`` (an input's id), or at the top."""
    return _me_page(request, error=error, error_field=field, status_code=400)


def _conference(view: ConferenceView, settings: Settings, csrf: str, resettable: bool) -> str:
    sip_host = settings.sip_hostport
    link = f"{settings.web_base_url}/c/{view.web_link}"
    numbers = "".join(f"<li>{dial_in(n, sip_host)}</li>" for n in view.dial_in_numbers)
    host_pin = (
        f'<dt>Your host PIN</dt><dd class="copy-row"><span class="host-pin">'
        f"{escape(view.host_pin)}</span>{copy_button(view.host_pin, 'Copy host PIN')}</dd>"
        if view.host_pin
        else ""
    )
    # A new PIN breaks every invitation sent: asked for twice, and never the main button.
    reset = (
        f"""<details class="new-pin"><summary>Change the PIN…</summary>
<form method="post" action="/me/conferences/{view.id}/pin" class="confirm">{csrf_field(csrf)}
<p>Guests who have the old PIN can no longer join with it: every invitation you sent
needs the new one.</p>
<p class="check"><input id="confirm-pin-{view.id}" name="confirm" type="checkbox" value="yes"
 required><label for="confirm-pin-{view.id}">Yes, the old PIN stops working</label></p>
<p><button type="submit" class="danger">Give it a new PIN</button></p></form></details>"""
        if resettable
        else ""
    )
    sip = f"sip:{view.pin}@{sip_host}"
    return f"""<article class="conference" aria-label="{escape(view.title)}">
<h3>{escape(view.title)}</h3>
<p><a class="live button" href="/c/{escape(view.web_link)}">Open Live Call Status</a></p>
<p><a class="invite" href="/me/conferences/{view.id}/invitation">Invite people: text,
 calendar file, email</a></p>
<dl><dt>Dial in</dt><dd><ul class="dial-ins">{numbers or "<li>none</li>"}</ul></dd>
<dt>PIN</dt><dd class="copy-row"><span class="pin">{escape(view.pin)}</span>
{copy_button(view.pin, "Copy PIN")}</dd>{host_pin}
<dt>From a SIP phone or app</dt><dd class="copy-row"><code>{escape(sip)}</code>
{copy_button(sip, "Copy address")}</dd>
<dt>Room link for guests</dt><dd class="copy-row"><a class="room-link"
 href="{escape(link)}">{escape(link)}</a>{copy_button(link, "Copy link")}</dd>
</dl>
{reset}{_manage(view, csrf)}</article>"""


def _manage(view: ConferenceView, csrf: str) -> str:
    """Rename or delete a conference: folded away, and deleting asked for twice."""
    title, key = escape(view.title), escape(view.id)
    return f"""<details class="manage"><summary>Rename or delete…</summary>
<form method="post" action="/me/conferences/{key}/rename">{csrf_field(csrf)}
<p><label for="title-{key}">Name</label><input id="title-{key}" name="title" required
 maxlength="120" value="{title}"></p>
<p><button type="submit" class="secondary">Rename</button></p></form>
<form method="post" action="/me/conferences/{key}/delete" class="confirm">{csrf_field(csrf)}
<p>Deleting ends its PIN, host PIN and room link for good, and forgets who was on its
calls.</p>
<p class="check"><input id="confirm-delete-{key}" name="confirm" type="checkbox" value="yes"
 required><label for="confirm-delete-{key}">Yes, delete {title}</label></p>
<p><button type="submit" class="danger">Delete this conference</button></p></form></details>"""


def _new_conference(csrf: str, hosts: list[tuple[str, str]], at: tuple[str, str]) -> str:
    """The form creating a named conference; ``hosts`` (id, name) for a delegate to choose
    whose (none: the user's own)."""
    attrs, error = at
    whose = ""
    if hosts:
        options = "".join(f'<option value="{escape(i)}">{escape(n)}</option>' for i, n in hosts)
        whose = (
            '<p><label for="new-host">For</label>'
            f'<select id="new-host" name="host_id">{options}</select></p>'
        )
    return f"""<form method="post" action="/me/conferences" class="new-conference">
{csrf_field(csrf)}<h3>New conference</h3>{whose}
<p><label for="new-title">Its name</label><input id="new-title" name="title" required
 maxlength="120"{attrs}>{error}</p>
<p><button type="submit">Create conference</button></p></form>"""


def _conferences(store: Store, signed: SignedIn, settings: Settings, host_ids: list[str]) -> str:
    actor = signed.caller.actor
    views = [
        store.conferences.get_conference(actor, conference_id)
        for host_id in host_ids
        for conference_id in store.conferences.conferences_of_host(host_id)
    ]
    return "".join(_conference(v, settings, signed.csrf, True) for v in views)


@router.get("/me", response_class=HTMLResponse)
def me_page(request: Request, done: str | None = None) -> Response:
    return _me_page(request, done=DONE.get(done or ""))


def _me_page(
    request: Request,
    *,
    error: str | None = None,
    error_field: str | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> Response:
    signed = signed_in(request, "/me")
    if not isinstance(signed, SignedIn):
        return signed
    store = store_of(request)
    settings: Settings = request.app.state.settings
    view, actor = signed.view, signed.caller.actor
    user = store.accounts.get_user(actor, view.user_id)
    account = store.accounts.get_account(actor, view.account_id)
    csrf = csrf_field(signed.csrf)
    until = (
        "You stay signed in until " + view.expires_at.strftime("%d %b %Y %H:%M UTC") + "."
        if view.stay_signed_in
        else "You are signed out after 15 minutes without activity, or when you close the browser."
    )
    email = f'<dt>Email</dt><dd id="email">{escape(user.email)}</dd>' if user.email else ""
    factor = ""
    if view.second_factor_enrolled:
        factor = '<p><a href="/account/second-factor">Second factor</a>: set up</p>'
    elif view.role != Role.ADMINISTRATOR:
        factor = '<p><a href="/account/second-factor">Set up a second factor</a></p>'
    admin = (
        '<p><a href="/admin">Administration</a> (people, settings, audit log)</p>'
        if view.role == Role.ADMINISTRATOR
        else ""
    )
    admin += '<p><a href="/invite-a-friend" id="invite-a-friend">Invite a friend</a></p>'

    def at(field: str) -> tuple[str, str]:
        """(the input's attributes, the error after it) when ``error`` is about ``field``."""
        return field_error(error if error_field == field else None, field)

    name_attrs, name_error = at("profile-name")
    phone_attrs, phone_error = at("profile-phone")
    email_attrs, email_error = at("delegate-email")
    public = public_profile.section(
        store.public_profiles.get(actor, view.user_id), csrf, *at("profile-url")
    )
    # The conferences first (the page is "My conferences"); the profile form comes last.
    sections = [
        f"""<section aria-labelledby="profile"><h2 id="profile">Your profile</h2>
<form method="post" action="/me/profile">{csrf}
<p><label for="profile-name">Name</label><input id="profile-name" name="name" required
 maxlength="120" value="{escape(user.name)}"{name_attrs}>{name_error}</p>
<p><label for="profile-phone">Your phone (click-to-call rings it first)</label>
<input id="profile-phone" name="phone" inputmode="tel" maxlength="40"
 value="{escape(user.phone or "")}"{phone_attrs}>{phone_error}</p>
<p><button type="submit" class="secondary">Save profile</button></p></form></section>"""
        + public
    ]
    if view.role in (Role.HOST, Role.ADMINISTRATOR):
        own = _conferences(store, signed, settings, [view.user_id])
        sections.append(
            '<section aria-labelledby="yours"><h2 id="yours">Your conferences</h2>'
            f"{own or '<p>You have no conference yet.</p>'}"
            f"{_new_conference(signed.csrf, [], at('new-title'))}</section>"
        )
        delegates = store.users.delegates_of(actor, view.user_id)
        rows = "".join(
            f'<li>{escape(d.name)} <form class="inline" method="post" '
            f'action="/me/delegates/{d.id}/remove">{csrf}<button type="submit" class="link">'
            f"Withdraw</button></form></li>"
            for d in delegates
        )
        sections.append(
            f"""<section aria-labelledby="delegates"><h2 id="delegates">Your delegates</h2>
<p class="note">A delegate manages your conferences and uses the host controls on your
calls; they cannot change your profile.</p>
<ul id="delegate-list">{rows or "<li>None</li>"}</ul>
<form method="post" action="/me/delegates">{csrf}
<p><label for="delegate-email">Authorise a delegate by their email</label>
<input id="delegate-email" name="email" type="email" required maxlength="320"{email_attrs}>
{email_error}</p>
<p><button type="submit" class="secondary">Authorise</button></p></form></section>"""
        )
    if view.role == Role.DELEGATE:
        host_ids = store.accounts.hosts_delegated_to(view.user_id)
        managed = _conferences(store, signed, settings, host_ids)
        hosts = [(h, store.accounts.get_user(actor, h).name) for h in host_ids]
        create = _new_conference(signed.csrf, hosts, at("new-title")) if hosts else ""
        sections.append(
            '<section aria-labelledby="managed"><h2 id="managed">Conferences you manage</h2>'
            f"{managed or '<p>No host has authorised you yet.</p>'}{create}</section>"
        )
    body = f"""{message(None if error_field else error)}{notice(done)}<dl class="facts">
<dt>Name</dt><dd id="name">{escape(user.name)}</dd>
{email}
<dt>Role</dt><dd id="role">{escape(ROLE_NAMES.get(user.role.value, user.role.value))}</dd>
<dt>Account</dt><dd id="account">{escape(account.name)}</dd>
</dl>
{admin}{"".join(sections[1:] + sections[:1])}
<p class="note">{escape(until)}</p>
{factor}"""
    return page(
        "My conferences",
        body,
        csrf=signed.csrf,
        status_code=status_code,
        viewer=signed.viewer,
        here="/me",
        scripts=("/static/copy.js",),
    )


def _posted(request: Request, form: dict[str, str]) -> SignedIn | Response:
    signed = signed_in(request, "/me")
    if isinstance(signed, SignedIn) and form_refused(form, signed):
        return forbidden()
    return signed


@router.post("/me/public-profile")
async def save_public_profile(request: Request, form: Form) -> Response:
    """The public profile and the consent to show it (web/public_profile.py)."""
    signed = await asyncio.to_thread(_posted, request, form)
    if not isinstance(signed, SignedIn):
        return signed
    try:
        code = await public_profile.save(request, signed, form)
    except public_profile.Refused as exc:
        return await asyncio.to_thread(_failed, request, str(exc), "profile-url")
    return _done(code)


@router.post("/me/profile")
def save_profile(request: Request, form: Form) -> Response:
    signed = _posted(request, form)
    if not isinstance(signed, SignedIn):
        return signed
    try:
        patch = users_api.ProfilePatch(
            name=form.get("name", "").strip() or None, phone=form.get("phone", "")
        )
        users_api.edit_profile(patch, signed.caller, request)
    except ValidationError as exc:
        refused = name_refusal(exc)
        if refused:
            return _failed(request, refused, "profile-name")
        return _failed(request, "A name is 1 to 120 characters; a phone, 40 at most.")
    except HTTPException as exc:
        field = "profile-phone" if "phone" in http_detail(exc) else None
        return _failed(request, http_detail(exc), field)
    return _done("profile-saved")


@router.post("/me/conferences/{conference_id}/pin")
async def new_pin(conference_id: str, request: Request, form: Form) -> Response:
    signed = _posted(request, form)
    if not isinstance(signed, SignedIn):
        return signed
    if form.get("confirm") != "yes":
        return _failed(request, "Tick the box to confirm the new PIN: the old one stops working.")
    try:
        await users_api.reset_pin(conference_id, signed.caller, request)
    except HTTPException as exc:
        return _failed(request, http_detail(exc))
    return _done("new-pin")


@router.post("/me/delegates")
def authorise_delegate(request: Request, form: Form) -> Response:
    signed = _posted(request, form)
    if not isinstance(signed, SignedIn):
        return signed
    store = store_of(request)
    try:
        found = store.accounts.find_user_ids_by_email(form.get("email", ""))
    except ValueError:
        found = []
    if not found:
        return _failed(request, "Nobody in your account has that email.", "delegate-email")
    try:
        users_api.add_delegate(users_api.DelegateIn(user_id=found[0]), signed.caller, request)
    except HTTPException as exc:
        detail = http_detail(exc)
        if exc.status_code == 404:
            detail = "Nobody in your account has that email."
        return _failed(request, detail, "delegate-email")
    return _done("delegate-authorised")


@router.post("/me/delegates/{user_id}/remove")
def withdraw_delegate(user_id: str, request: Request, form: Form) -> Response:
    signed = _posted(request, form)
    if not isinstance(signed, SignedIn):
        return signed
    try:
        users_api.remove_delegate(user_id, signed.caller, request)
    except HTTPException as exc:
        return _failed(request, http_detail(exc))
    return _done("delegation-withdrawn")


@router.post("/me/conferences")
def create_conference(request: Request, form: Form) -> Response:
    signed = _posted(request, form)
    if not isinstance(signed, SignedIn):
        return signed
    try:
        body = routes_api.ConferenceIn(
            title=form.get("title", "").strip(), host_id=form.get("host_id") or None
        )
        routes_api.create_conference(body, signed.caller, request)
    except ValidationError:
        return _failed(request, "A conference's name is 1 to 120 characters.", "new-title")
    except HTTPException as exc:
        return _failed(request, http_detail(exc), "new-title")
    return _done("conference-created")


@router.post("/me/conferences/{conference_id}/rename")
def rename_conference(conference_id: str, request: Request, form: Form) -> Response:
    signed = _posted(request, form)
    if not isinstance(signed, SignedIn):
        return signed
    try:
        body = routes_api.ConferencePatch(title=form.get("title", "").strip())
        routes_api.rename_conference(conference_id, body, signed.caller, request)
    except ValidationError:
        return _failed(request, "A conference's name is 1 to 120 characters.")
    except HTTPException as exc:
        return _failed(request, http_detail(exc))
    return _done("conference-renamed")


@router.post("/me/conferences/{conference_id}/delete")
def delete_conference(conference_id: str, request: Request, form: Form) -> Response:
    signed = _posted(request, form)
    if not isinstance(signed, SignedIn):
        return signed
    if form.get("confirm") != "yes":
        return _failed(request, "Tick the box to confirm: a deleted conference is gone for good.")
    try:
        routes_api.delete_conference(conference_id, signed.caller, request)
    except HTTPException as exc:
        return _failed(request, http_detail(exc))
    return _done("conference-deleted")
