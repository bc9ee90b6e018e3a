"""The administrator's portal: ``/admin`` (the account's people, settings, CRM webhook and
data), ``/admin/users/{id}`` (one person: details, edit, suspend or resume, remove, their
conference history and delegates) and ``/admin/audit`` (the account's audit log).

Plain HTML forms, each with the session's CSRF token; no script. Every action goes through
the same functions as the API (``api.users``, ``api.crm``), with the signed-in user as the
caller, so the rules (administrators of this account only, never yourself, never a
password shown) are the API's, enforced once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from html import escape
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from callroster.accounts.actor import Role
from callroster.api import account as account_api
from callroster.api import crm as crm_api
from callroster.api import users as users_api
from callroster.api.account import administered_account
from callroster.api.auth import store_of
from callroster.store.models import AuditEntry
from callroster.web.common import (
    ROLE_NAMES,
    Form,
    SignedIn,
    csrf_field,
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
# What a finished action says, by the code in its redirect (``?done=saved``). A page shows
# only these texts, never the query's: a link to ``/admin?done=<anything>`` puts no words of
# its maker's on the administrator's page. A failed action answers with the page and the
# reason at once, never through the URL (issue 12, finding 10).
ADMIN_DONE = {
    "settings-saved": "Settings saved.",
    "pin-lengths-saved": (
        "PIN lengths saved. They apply to PINs made from now on; existing PINs keep working."
    ),
    "srtp-saved": "Encryption setting saved. It applies from the next call.",
    "webhook-removed": "The CRM webhook was removed.",
    "contacts-deleted": "The contact list was deleted.",
}
PERSON_DONE = {
    "added": "{name} was added.",
    "saved": "Changes saved.",
    "suspended": "Suspended: they are signed out and their conferences take no calls.",
    "resumed": "Resumed.",
    "removed": "Removed: their details are erased.",
    "history-deleted": "The conference's call history was deleted.",
}


def _administrator(request: Request, here: str) -> SignedIn | Response:
    """The signed-in administrator, or where to send whoever this is instead."""
    signed = signed_in(request, here)
    if not isinstance(signed, SignedIn):
        return signed
    if signed.view.role != Role.ADMINISTRATOR:
        return page(
            "Administrators only",
            '<p role="alert">This page is for the account\'s administrators. '
            '<a href="/me">Back to your profile</a>.</p>',
            status_code=403,
            viewer=signed.viewer,
        )
    return signed


def _posted(request: Request, form: dict[str, str], here: str) -> SignedIn | Response:
    """The administrator behind a form carrying their session's CSRF token, or the answer."""
    signed = _administrator(request, here)
    if isinstance(signed, SignedIn) and form_refused(form, signed):
        return forbidden()
    return signed


def _status(suspended: bool, removed: bool) -> str:
    if removed:
        return "Removed"
    return '<span class="status-suspended">Suspended</span>' if suspended else "Active"


def _when(at: dt.datetime | None) -> str:
    return at.strftime("%d %b %Y %H:%M") if at else "never"


# What a refused field needs, in words (never the validator's own text).
FIELD_NEEDS = {
    "name": "a name of 1 to 120 characters",
    "email": "an email of 320 characters at most",
    "phone": "a phone number of 40 characters at most",
    "password": "a password of 12 characters or more",
    "role": "a role from the list",
    "guest": "a guest PIN length from the list",
    "host": "a host PIN length from the list",
}


def _validation(exc: ValidationError) -> str:
    refused = name_refusal(exc)
    if refused:
        return refused
    fields = dict.fromkeys(str(e["loc"][-1]) for e in exc.errors() if e.get("loc"))
    needs = [FIELD_NEEDS.get(field, f"a valid {field}") for field in fields]
    return "Please give " + " and ".join(needs) + "."


def _role_options(selected: str = "host") -> str:
    return "".join(
        f'<option value="{value}"{" selected" if value == selected else ""}>{label}</option>'
        for value, label in ROLE_NAMES.items()
    )


# -- the account ----------------------------------------------------------------------------
@router.get("/admin", response_class=HTMLResponse)
def portal(request: Request, done: str | None = None) -> Response:
    return _admin_page(request, done=ADMIN_DONE.get(done or ""))


def _admin_page(
    request: Request, *, error: str | None = None, done: str | None = None, status_code: int = 200
) -> Response:
    signed = _administrator(request, "/admin")
    if not isinstance(signed, SignedIn):
        return signed
    store = store_of(request)
    account_id = administered_account(signed.caller)
    account = store.accounts.get_account(signed.caller.actor, account_id)
    people = store.users.list_users(signed.caller.actor, account_id)
    rows = "".join(
        f'<tr><td><a href="/admin/users/{p.id}">{escape(p.name)}</a></td>'
        f"<td>{escape(p.email or '')}</td><td>{ROLE_NAMES[p.role.value]}</td>"
        f"<td>{_status(p.suspended, p.removed)}</td></tr>"
        for p in people
    )
    settings = account.settings
    show = " checked" if settings.get("show_numbers_to_guests", False) else ""
    record = " checked" if settings.get("recording_allowed", True) else ""
    lengths = store.accounts.pin_lengths(signed.caller.actor, account_id)
    guest_options = _length_options(range(6, 13), lengths.guest)
    host_options = _length_options(range(8, 13), lengths.host)
    srtp = store.accounts.srtp_policy(signed.caller.actor, account_id)
    srtp_options = "".join(
        f'<option value="{value}"{" selected" if value == srtp else ""}>{label}</option>'
        for value, label in SRTP_CHOICES
    )
    webhook = store.accounts.crm_webhook(signed.caller.actor, account_id)
    webhook_url = escape(webhook.url) if webhook else ""
    csrf = csrf_field(signed.csrf)
    region = escape(account.home_region.replace("-", " ").title())
    body = f"""<nav class="local" aria-label="Administration">
<a href="/admin/audit">Audit log</a></nav>
{message(error)}{notice(done)}
<p>Account: <strong id="account-name">{escape(account.name)}</strong>.
Home region: <span id="home-region">{region}</span> (set by the operator).</p>
<section aria-labelledby="people"><h2 id="people">People</h2>
<div class="table-wrap" role="region" aria-labelledby="people" tabindex="0">
<table id="users"><thead><tr><th scope="col">Name</th><th scope="col">Email</th>
<th scope="col">Role</th><th scope="col">Status</th></tr></thead><tbody>{rows}</tbody></table>
</div>
</section>
<section aria-labelledby="add"><h2 id="add">Add a person</h2>
<form method="post" action="/admin/users">{csrf}
<p><label for="add-role">Role</label>
<select id="add-role" name="role">{_role_options()}</select></p>
<p><label for="add-name">Name</label><input id="add-name" name="name" required maxlength="120"></p>
<p><label for="add-email">Email (they sign in with it)</label>
<input id="add-email" name="email" type="email" maxlength="320"></p>
<p><label for="add-phone">Phone</label><input id="add-phone" name="phone" inputmode="tel"
 maxlength="40"></p>
<p><label for="add-password">First password (12 characters or more; never shown again)</label>
<input id="add-password" name="password" type="password" autocomplete="new-password"
 maxlength="1024"></p>
<p><button type="submit">Add</button></p></form></section>
<section aria-labelledby="settings"><h2 id="settings">Account settings</h2>
<form method="post" action="/admin/settings">{csrf}
<p class="check"><input id="show-numbers" name="show_numbers_to_guests" type="checkbox"
 value="on"{show}> <label for="show-numbers">Show callers' numbers to guests in Live Call
 Status</label></p>
<p class="check"><input id="recording" name="recording_allowed" type="checkbox"
 value="on"{record}> <label for="recording">Hosts may record their conferences</label></p>
<p><button type="submit">Save settings</button></p></form></section>
<section aria-labelledby="pins"><h2 id="pins">PIN lengths</h2>
<p class="note">For PINs made from now on (new conferences, a PIN reset); existing PINs keep
working. A host PIN is longer than a guest PIN.</p>
<form method="post" action="/admin/pin-lengths">{csrf}
<p><label for="guest-pin-length">Guest PIN digits</label>
<select id="guest-pin-length" name="guest">{guest_options}</select></p>
<p><label for="host-pin-length">Host PIN digits</label>
<select id="host-pin-length" name="host">{host_options}</select></p>
<p><button type="submit">Save PIN lengths</button></p></form></section>
<section aria-labelledby="encryption"><h2 id="encryption">Phone call encryption</h2>
<p class="note">Phones that call over TLS (sips:) and offer SRTP always get encrypted audio.
With "required", callers whose call is not encrypted cannot join this account's
conferences.</p>
<form method="post" action="/admin/srtp">{csrf}
<p><label for="srtp-policy">Encrypted calls (SRTP)</label>
<select id="srtp-policy" name="srtp">{srtp_options}</select></p>
<p><button type="submit">Save encryption setting</button></p></form></section>
<section aria-labelledby="crm"><h2 id="crm">CRM webhook (click-to-call logs)</h2>
<form method="post" action="/admin/crm-webhook">{csrf}
<p><label for="crm-url">Webhook URL (https)</label>
<input id="crm-url" name="url" type="url" maxlength="2000" value="{webhook_url}"></p>
<p><button type="submit">Save webhook</button></p></form></section>
<section aria-labelledby="contacts"><h2 id="contacts">Contact list</h2>
<p class="note">Callers whose number is on the account's contact list are shown by that name
on the account's conferences (never on another account's).</p>
<form id="contacts-form"><p><label for="contacts-file">Import a contact list (CSV with
name,phone[,email], or vCard; up to 2 MiB)</label>
<input id="contacts-file" name="file" type="file" accept=".csv,.vcf,text/csv,text/vcard"></p>
<p><button type="submit">Import</button></p></form>
<p id="contacts-status" role="status"></p></section>
<section aria-labelledby="data"><h2 id="data">The account's data</h2>
<form method="post" action="/admin/contacts/delete">{csrf}
<p class="check"><input id="confirm-contacts" name="confirm" type="checkbox" value="yes" required>
<label for="confirm-contacts">Yes, delete the whole contact list</label></p>
<p><button type="submit" class="danger">Delete the contact list</button></p></form>
<p class="note">People are removed one by one, from their own page.</p></section>"""
    return page(
        "Administration",
        body,
        csrf=signed.csrf,
        wide=True,
        scripts=("/static/contacts.js",),
        status_code=status_code,
        viewer=signed.viewer,
        here="/admin",
    )


def _done(path: str, code: str) -> Response:
    """Back to the page, saying what was done by its code (Post/Redirect/Get)."""
    return redirect(f"{path}?done={quote(code)}")


def _failed(request: Request, path: str, error: str) -> Response:
    """The page again, with why the action failed: answered at once (400), not redirected,
    so the reason never travels in a URL."""
    if path == "/admin":
        return _admin_page(request, error=error, status_code=400)
    return _person_page(path.removeprefix("/admin/users/"), request, error=error, status_code=400)


@router.post("/admin/users")
def add_person(request: Request, form: Form) -> Response:
    signed = _posted(request, form, "/admin")
    if not isinstance(signed, SignedIn):
        return signed
    try:
        body = users_api.UserIn(
            role=form.get("role", "host"),  # type: ignore[arg-type]
            name=form.get("name", "").strip(),
            email=form.get("email") or None,
            phone=form.get("phone") or None,
            password=form.get("password") or None,
        )
        added = users_api.add_user(body, signed.caller, request)
    except ValidationError as exc:
        return _failed(request, "/admin", _validation(exc))
    except HTTPException as exc:
        return _failed(request, "/admin", http_detail(exc))
    return _done(f"/admin/users/{added.id}", "added")


@router.post("/admin/settings")
def save_settings(request: Request, form: Form) -> Response:
    signed = _posted(request, form, "/admin")
    if not isinstance(signed, SignedIn):
        return signed
    store_of(request).accounts.update_settings(
        signed.caller.actor,
        administered_account(signed.caller),
        show_numbers_to_guests=form.get("show_numbers_to_guests") == "on",
        recording_allowed=form.get("recording_allowed") == "on",
    )
    return _done("/admin", "settings-saved")


@router.post("/admin/pin-lengths")
def save_pin_lengths(request: Request, form: Form) -> Response:
    signed = _posted(request, form, "/admin")
    if not isinstance(signed, SignedIn):
        return signed
    try:
        body = account_api.PinLengthsIn(
            guest=form.get("guest", ""),  # type: ignore[arg-type]
            host=form.get("host", ""),  # type: ignore[arg-type]
        )
        account_api.set_pin_lengths(body, signed.caller, request)
    except ValidationError as exc:
        return _failed(request, "/admin", _validation(exc))
    except HTTPException as exc:
        return _failed(request, "/admin", http_detail(exc))
    return _done("/admin", "pin-lengths-saved")


SRTP_CHOICES = (
    ("offered", "Offered: encrypted when the phone can, plain otherwise"),
    ("required", "Required: only encrypted calls may join"),
)


@router.post("/admin/srtp")
def save_srtp_policy(request: Request, form: Form) -> Response:
    signed = _posted(request, form, "/admin")
    if not isinstance(signed, SignedIn):
        return signed
    try:
        body = account_api.SrtpPolicyIn(srtp=form.get("srtp", ""))  # type: ignore[arg-type]
        account_api.set_srtp_policy(body, signed.caller, request)
    except ValidationError as exc:
        return _failed(request, "/admin", _validation(exc))
    return _done("/admin", "srtp-saved")


def _length_options(lengths: range, chosen: int) -> str:
    return "".join(
        f'<option value="{n}"{" selected" if n == chosen else ""}>{n}</option>' for n in lengths
    )


@router.post("/admin/crm-webhook", response_class=HTMLResponse)
def save_webhook(request: Request, form: Form) -> Response:
    signed = _posted(request, form, "/admin")
    if not isinstance(signed, SignedIn):
        return signed
    account_id = administered_account(signed.caller)
    url = form.get("url", "").strip()
    store = store_of(request)
    if not url:
        store.accounts.set_crm_webhook(signed.caller.actor, account_id, None, None)
        return _done("/admin", "webhook-removed")
    try:
        secret = crm_api.set_webhook(signed.caller, request, url, None)
    except HTTPException as exc:
        return _failed(request, "/admin", http_detail(exc))
    shown = (
        f"<p>Give your CRM this signing secret. It is shown this once:</p>"
        f'<p><code class="secret" id="crm-secret">{escape(secret)}</code></p>'
        if secret
        else ""
    )
    return page(
        "CRM webhook saved",
        f"{notice('Click-to-call logs will be posted, signed, to ' + url + '.')}{shown}"
        '<p><a href="/admin">Back to administration</a></p>',
        wide=True,
        viewer=signed.viewer,
    )


@router.post("/admin/contacts/delete")
def delete_contacts(request: Request, form: Form) -> Response:
    signed = _posted(request, form, "/admin")
    if not isinstance(signed, SignedIn):
        return signed
    if form.get("confirm") != "yes":
        return _failed(request, "/admin", "Tick the box to confirm the deletion.")
    users_api.delete_contacts(signed.caller, request)
    return _done("/admin", "contacts-deleted")


# -- one person ----------------------------------------------------------------------------
@router.get("/admin/users/{user_id}", response_class=HTMLResponse)
def person(user_id: str, request: Request, done: str | None = None) -> Response:
    return _person_page(user_id, request, done=done)


def _person_page(
    user_id: str,
    request: Request,
    *,
    error: str | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> Response:
    """One person's page; ``done`` is a code of ``PERSON_DONE``, ``error`` a reason."""
    here = f"/admin/users/{user_id}"
    signed = _administrator(request, here)
    if not isinstance(signed, SignedIn):
        return signed
    store = store_of(request)
    try:
        user = users_api.get_user(user_id, signed.caller, request)
        history = users_api.user_conferences(user_id, signed.caller, request)
    except HTTPException:
        return page(
            "Not found",
            "<p>No such person in this account.</p>",
            status_code=404,
            viewer=signed.viewer,
        )
    delegates = store.users.delegates_of(signed.caller.actor, user_id)
    csrf = csrf_field(signed.csrf)
    name = escape(user.name)
    conferences = "".join(
        f"<tr><td>{escape(c.title)}</td><td>{escape(c.pin or '')}</td>"
        f"<td>{c.created_at:%d %b %Y}</td><td>{c.legs}</td>"
        f"<td>{_when(c.last_joined_at)}</td><td>"
        + (
            f'<form method="post" action="/admin/conferences/{c.id}/history/delete">{csrf}'
            f'<input type="hidden" name="back" value="{escape(user_id)}">'
            f'<button type="submit" class="link">Delete its call history</button></form>'
            if c.legs
            else ""
        )
        + "</td></tr>"
        for c in history
    )
    delegate_list = "".join(f"<li>{escape(d.name)}</li>" for d in delegates) or "<li>None</li>"
    if user.removed:
        actions = "<p>This person was removed; their details are erased.</p>"
    else:
        toggle = "resume" if user.suspended else "suspend"
        toggle_label = f"Resume {name}" if user.suspended else f"Suspend {name}"
        actions = f"""<section aria-labelledby="edit"><h2 id="edit">Edit</h2>
<form method="post" action="{here}">{csrf}
<p><label for="edit-name">Name</label><input id="edit-name" name="name" required
 maxlength="120" value="{name}"></p>
<p><label for="edit-email">Email</label><input id="edit-email" name="email" type="email"
 maxlength="320" value="{escape(user.email or "")}"></p>
<p><label for="edit-phone">Phone</label><input id="edit-phone" name="phone" inputmode="tel"
 maxlength="40" value="{escape(user.phone or "")}"></p>
<p><label for="edit-role">Role</label><select id="edit-role" name="role">
{_role_options(user.role)}</select></p>
<p><label for="edit-password">New password (leave empty to keep theirs)</label>
<input id="edit-password" name="password" type="password" autocomplete="new-password"
 maxlength="1024"></p>
<p><button type="submit">Save changes</button></p></form></section>
<section aria-labelledby="access"><h2 id="access">Access</h2>
<form method="post" action="{here}/{toggle}">{csrf}
<p><button type="submit">{toggle_label}</button></p></form>
<form method="post" action="{here}/remove">{csrf}
<p class="check"><input id="confirm-remove" name="confirm" type="checkbox" value="yes" required>
<label for="confirm-remove">Yes, remove {name} and erase their details</label></p>
<p><button type="submit" class="danger">Remove</button></p></form></section>"""
    body = f"""<nav class="local" aria-label="Administration">
<a href="/admin">Back to administration</a></nav>
{message(error)}{notice(PERSON_DONE.get(done or "", "").format(name=user.name))}
<dl><dt>Role</dt><dd id="person-role">{ROLE_NAMES[user.role]}</dd>
<dt>Email</dt><dd id="person-email">{escape(user.email or "none")}</dd>
<dt>Phone</dt><dd id="person-phone">{escape(user.phone or "none")}</dd>
<dt>Status</dt><dd id="person-status">{_status(user.suspended, user.removed)}</dd></dl>
{actions}
<section aria-labelledby="history"><h2 id="history">Conference history</h2>
<div class="table-wrap" role="region" aria-labelledby="history" tabindex="0">
<table id="conferences"><thead><tr><th scope="col">Conference</th><th scope="col">PIN</th>
<th scope="col">Created</th><th scope="col">Legs joined</th><th scope="col">Last used</th>
<th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
<tbody>{conferences}</tbody></table></div></section>
<section aria-labelledby="delegates"><h2 id="delegates">Delegates</h2>
<ul id="delegate-list">{delegate_list}</ul></section>"""
    return page(
        user.name,
        body,
        csrf=signed.csrf,
        wide=True,
        status_code=status_code,
        viewer=signed.viewer,
    )


@router.post("/admin/users/{user_id}")
def edit_person(user_id: str, request: Request, form: Form) -> Response:
    here = f"/admin/users/{user_id}"
    signed = _posted(request, form, here)
    if not isinstance(signed, SignedIn):
        return signed
    try:
        patch = users_api.UserPatch(
            role=form.get("role") or None,  # type: ignore[arg-type]
            name=form.get("name", "").strip() or None,
            email=form.get("email", ""),
            phone=form.get("phone", ""),
            password=form.get("password") or None,
        )
        users_api.edit_user(user_id, patch, signed.caller, request)
    except ValidationError as exc:
        return _failed(request, here, _validation(exc))
    except HTTPException as exc:
        return _failed(request, here, http_detail(exc))
    return _done(here, "saved")


def _access(user_id: str, request: Request, form: dict[str, str], action: str) -> Response:
    here = f"/admin/users/{user_id}"
    signed = _posted(request, form, here)
    if not isinstance(signed, SignedIn):
        return signed
    try:
        if action == "suspend":
            users_api.suspend_user(user_id, signed.caller, request)
            done = "suspended"
        elif action == "resume":
            users_api.resume_user(user_id, signed.caller, request)
            done = "resumed"
        else:
            if form.get("confirm") != "yes":
                return _failed(request, here, "Tick the box to confirm the removal.")
            users_api.remove_user(user_id, signed.caller, request)
            done = "removed"
    except HTTPException as exc:
        return _failed(request, here, http_detail(exc))
    return _done(here, done)


@router.post("/admin/users/{user_id}/suspend")
def suspend_person(user_id: str, request: Request, form: Form) -> Response:
    return _access(user_id, request, form, "suspend")


@router.post("/admin/users/{user_id}/resume")
def resume_person(user_id: str, request: Request, form: Form) -> Response:
    return _access(user_id, request, form, "resume")


@router.post("/admin/users/{user_id}/remove")
def remove_person(user_id: str, request: Request, form: Form) -> Response:
    return _access(user_id, request, form, "remove")


@router.post("/admin/conferences/{conference_id}/history/delete")
def delete_history(conference_id: str, request: Request, form: Form) -> Response:
    person_id = form.get("back", "")
    safe = person_id and all(c.isascii() and (c.isalnum() or c == "-") for c in person_id)
    back = f"/admin/users/{person_id}" if safe else "/admin"
    signed = _posted(request, form, back)
    if not isinstance(signed, SignedIn):
        return signed
    try:
        users_api.delete_conference_history(conference_id, signed.caller, request)
    except HTTPException as exc:
        return _failed(request, back, http_detail(exc))
    return _done(back, "history-deleted")


# -- the audit log --------------------------------------------------------------------------
AUDIT_PAGE = 50
AUDIT_SCAN = 500  # entries read from the store at a time while filtering
READ_VERBS = {"read", "list", "match", "watch", "history"}
# The action's words; any other reads as its name ("conference.rename": "conference rename").
ACTION_WORDS = {
    "audit.read": "read the audit log",
    "user.read": "read the details of",
    "user.list": "listed the people",
    "user.create": "added",
    "user.update": "changed the details of",
    "user.remove": "removed",
    "user.password": "set the password of",
    "account.read": "read the settings of",
    "crm_webhook.read": "read the CRM webhook of",
    "delegation.list": "listed the delegates of",
    "signin": "signed in:",
    "signout": "signed out:",
    "second_factor.verify": "gave the second step:",
    "leg.left": "saw a caller leave:",
    "control.lock": "locked",
    "control.unlock": "unlocked",
    "control.mute": "muted a caller on",
    "control.unmute": "unmuted a caller on",
    "control.mute_all": "muted everyone but the hosts on",
    "control.hold": "put a caller on hold on",
    "control.unhold": "took a caller off hold on",
    "control.drop": "dropped a caller from",
    "account.settings": "changed the account's settings",
    "account.pin_lengths": "changed the PIN lengths",
    "account.srtp": "changed the phone call encryption setting",
    "conference.read": "opened",
    "conference.create": "created",
    "conference.rename": "renamed",
    "conference.delete": "deleted",
    "conference.pin_reset": "gave a new PIN to",
    "conference.history": "read the call history of",
    "legs.delete_all": "deleted the call history of",
    "roster.read": "read Live Call Status of",
    "roster.watch": "watched Live Call Status of",
    "delegation.create": "authorised a delegate for",
    "delegation.remove": "withdrew a delegate of",
    "contacts.delete_all": "deleted the contact list",
    "signin.failure": "failed to sign in as",
    "signin.lockout": "locked out signing in as",
    "second_factor.enrol": "set up a second factor for",
    "web.join": "joined from a browser:",
    "leg.rename": "renamed a caller on",
    "control.rename": "renamed a caller on",
    "control.dial_out": "phoned a guest for",
}


def is_read(action: str) -> bool:
    """A read of personal data (``user.read``, or a field decrypted: ``users.email``), not a
    change or a control on a call."""
    noun, _, verb = action.partition(".")
    return verb in READ_VERBS or (noun.endswith("s") and verb not in {"delete_all", "all"})


def _audit_filter(what: str, who: str, log_reads: bool, me: str) -> Callable[[AuditEntry], bool]:
    def wanted(entry: AuditEntry) -> bool:
        actor_id = entry.actor.partition(":")[2]
        if not log_reads and entry.action in {"audit.read", "user.list"} and actor_id == me:
            return False  # this page's own reading, unless asked for
        if who and actor_id != who:
            return False
        if what == "changes":
            return not is_read(entry.action)
        if what == "reads":
            return is_read(entry.action)
        return True

    return wanted


def _someone(label: str, names: dict[str, str]) -> str:
    """An actor or subject (``role:id`` or ``kind:id``) in words: a person's name where it is
    one of the account's people, else what kind of thing it is with the end of its id."""
    kind, _, ident = label.partition(":")
    if ident in names:
        return escape(names[ident])
    if kind == "link":
        return "a guest with the room link"
    if kind == "operator":
        return "the operator"
    if kind == "system":
        return "Callroster itself"
    if kind == "account":
        return "the account"
    tail = f" …{escape(ident[-6:])}" if ident else ""
    return f"{escape(kind.replace('_', ' '))}{tail}"


def _audit_item(entry: AuditEntry, names: dict[str, str]) -> str:
    words = ACTION_WORDS.get(entry.action, entry.action.replace(".", " ").replace("_", " "))
    subject = _someone(entry.subject, names) if entry.subject else ""
    return (
        f'<li><span class="when">{entry.at:%Y-%m-%d %H:%M:%S}</span> '
        f"<strong>{_someone(entry.actor, names)}</strong> {escape(words)} {subject}"
        f'<br><span class="detail">from {escape(entry.source)} · {escape(entry.reason)} · '
        f"#{entry.seq} <code>{escape(entry.action)}</code></span></li>"
    )


@router.get("/admin/audit", response_class=HTMLResponse)
def audit(
    request: Request,
    what: str = "all",
    who: str = "",
    log_reads: str = "",
    before: int | None = None,
) -> Response:
    signed = _administrator(request, "/admin/audit")
    if not isinstance(signed, SignedIn):
        return signed
    store = store_of(request)
    account_id = administered_account(signed.caller)
    people = store.users.list_users(signed.caller.actor, account_id)
    names = {p.id: p.name for p in people}
    what = what if what in {"all", "changes", "reads"} else "all"
    who = who if who in names else ""
    wanted = _audit_filter(what, who, log_reads == "on", signed.view.user_id)
    shown: list[AuditEntry] = []
    cursor = before
    more = False
    while len(shown) <= AUDIT_PAGE:
        batch = store.audit.entries(account_id, AUDIT_SCAN, before=cursor)
        shown.extend(e for e in batch if wanted(e))
        if len(batch) < AUDIT_SCAN:
            break
        cursor = batch[-1].seq
    if len(shown) > AUDIT_PAGE:
        shown, more = shown[:AUDIT_PAGE], True
    store.audit.log(signed.caller.actor, "audit.read", f"account:{account_id}", account_id)
    what_options = "".join(
        f'<option value="{value}"{" selected" if value == what else ""}>{label}</option>'
        for value, label in (
            ("all", "Everything"),
            ("changes", "Changes and call controls"),
            ("reads", "Reads of personal data"),
        )
    )
    who_options = '<option value="">Anyone</option>' + "".join(
        f'<option value="{p.id}"{" selected" if p.id == who else ""}>{escape(p.name)}</option>'
        for p in people
    )
    query = {"what": what, "who": who, "log_reads": log_reads}
    kept = "&amp;".join(f"{k}={quote(v)}" for k, v in query.items() if v)
    pager = []
    if before is not None:
        pager.append(f'<a href="/admin/audit?{kept}" id="audit-newest">Newest entries</a>')
    if more:
        pager.append(
            f'<a href="/admin/audit?{kept}&amp;before={shown[-1].seq}" id="audit-older">'
            "Older entries</a>"
        )
    items = "".join(_audit_item(e, names) for e in shown)
    checked = " checked" if log_reads == "on" else ""
    body = f"""<nav class="local" aria-label="Administration">
<a href="/admin">Back to administration</a></nav>
<p class="note">Every read or change of the account's personal data and every control on a
call, newest first. Each entry carries the hash of the one before, so an edited or deleted
entry is found by <code>callroster audit verify</code>.</p>
<form method="get" action="/admin/audit" class="filters" aria-label="Filter the log">
<p><label for="audit-what">What</label>
<select id="audit-what" name="what">{what_options}</select></p>
<p><label for="audit-who">Who</label><select id="audit-who" name="who">{who_options}</select></p>
<p class="check"><input id="audit-log-reads" name="log_reads" type="checkbox" value="on"{checked}>
<label for="audit-log-reads">Include my own viewing of this log</label></p>
<p><button type="submit" class="secondary">Show</button></p></form>
<ol class="audit" id="audit">{items or "<li>No entries match.</li>"}</ol>
<div class="pager">{"".join(pager)}</div>"""
    return page("Audit log", body, wide=True, viewer=signed.viewer)
