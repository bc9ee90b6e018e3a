"""The operator's pages: ``/operator/login`` and ``/operator`` (customer accounts: list,
create with the administrator's set-up link shown once, suspend, resume, terminate after a
confirmation).

Signing in: the operator pastes a live operator token (``callroster operator-token create``)
once. It is checked and forgotten; the browser gets only an operator session's random token
in the ``callroster_operator`` cookie: ``HttpOnly``, ``Secure``, ``SameSite=Strict``,
``Path=/operator``, no ``Max-Age`` (gone when the browser closes). The server ends the
session after 15 minutes without a request, 8 hours after sign-in, or when the operator
token is revoked (``store.operator_sessions``). The sign-in form's CSRF token is tied to a
pre-session cookie, every other form's to the session (as ``web/signin.py``). No operator
password or second factor to keep: the operator token is already the operator's one
credential, made at the server's command line.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from html import escape
from typing import TypedDict

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from callroster.accounts.actor import Actor, Role
from callroster.api.auth import store_of
from callroster.api.operator_accounts import settings_of, setup_url
from callroster.config import REGIONS
from callroster.errors import DuplicateError, NotFoundError
from callroster.store.onboarding import (
    NAME_LIMIT,
    AccountAction,
    AccountStatus,
    AccountSummary,
    CreatedAccount,
)
from callroster.store.sessions import csrf_matches, csrf_token_for
from callroster.web.common import (
    Form,
    Viewer,
    csrf_field,
    forbidden,
    message,
    notice,
    page,
    redirect,
)
from callroster.web.common import reason as reason_of
from callroster.web.common import source as source_of

router = APIRouter(include_in_schema=False)

OPERATOR_COOKIE = "callroster_operator"
LOGIN_COOKIE = "callroster_operator_login"  # the pre-session cookie of the sign-in form
TOKEN_LIMIT = 200
_LOGIN_CSRF_CONTEXT = b"callroster operator sign-in form v1"
HOME = "/operator"
# What each button says and what a person is told it did.
ACTIONS = {
    AccountAction.SUSPEND: ("Suspend", "suspended"),
    AccountAction.RESUME: ("Resume", "resumed"),
    AccountAction.TERMINATE: ("Terminate", "terminated"),
}
ALLOWED = {
    AccountStatus.ACTIVE: (AccountAction.SUSPEND, AccountAction.TERMINATE),
    AccountStatus.SUSPENDED: (AccountAction.RESUME, AccountAction.TERMINATE),
    AccountStatus.TERMINATED: (),
}


def _login_csrf(pre_session: str) -> str:
    digest = hmac.new(pre_session.encode(), _LOGIN_CSRF_CONTEXT, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _operator(request: Request) -> tuple[str, Actor] | None:
    token = request.cookies.get(OPERATOR_COOKIE)
    if not token:
        return None
    actor = store_of(request).operator_sessions.authenticate(
        token, source_of(request), reason_of(request)
    )
    return (token, actor) if actor is not None else None


def _clear(response: Response) -> None:
    response.delete_cookie(
        OPERATOR_COOKIE, path=HOME, secure=True, httponly=True, samesite="strict"
    )


class _Layout(TypedDict):
    viewer: Viewer
    here: str


def _layout(csrf: str) -> _Layout:
    """The shared navigation, for the operator (its "Sign out" ends this session)."""
    return {"viewer": Viewer(Role.OPERATOR, csrf), "here": HOME}


# -- signing in ---------------------------------------------------------------------------
def _login_form(csrf: str, error: str | None = None) -> str:
    described = ' aria-describedby="message" aria-invalid="true"' if error else ""
    return f"""{message(error)}<p>Paste an operator token (made with
<code>callroster operator-token create</code> at the server). It is checked once; this
browser then keeps only a session, which ends after 15 minutes without activity.</p>
<form method="post" action="/operator/login">
{csrf_field(csrf)}
<p><label for="token">Operator token</label>
<input id="token" name="token" type="password" autocomplete="off" required
 maxlength="{TOKEN_LIMIT}"{described}></p>
<p><button type="submit">Sign in</button></p>
</form>"""


@router.get("/operator/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    if _operator(request) is not None:
        return redirect(HOME)
    pre_session = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)
    response = page("Operator sign-in", _login_form(_login_csrf(pre_session)))
    if request.cookies.get(LOGIN_COOKIE) != pre_session:
        response.set_cookie(
            LOGIN_COOKIE,
            pre_session,
            path="/operator/login",
            secure=True,
            httponly=True,
            samesite="strict",
        )
    return response


@router.post("/operator/login", response_class=HTMLResponse)
def login(request: Request, form: Form) -> Response:
    pre_session = request.cookies.get(LOGIN_COOKIE)
    if not pre_session or not hmac.compare_digest(
        _login_csrf(pre_session), form.get("csrf_token", "")
    ):
        return forbidden()
    store = store_of(request)
    source, reason = source_of(request), reason_of(request)
    actor = store.operator_tokens.authenticate(
        form.get("token", "").strip()[:TOKEN_LIMIT], source, reason
    )
    if actor is None:
        return page(
            "Operator sign-in",
            _login_form(_login_csrf(pre_session), "That is not a live operator token."),
            status_code=401,
        )
    session_token = store.operator_sessions.open(actor)
    response = redirect(HOME)
    response.set_cookie(
        OPERATOR_COOKIE, session_token, path=HOME, secure=True, httponly=True, samesite="strict"
    )
    response.delete_cookie(LOGIN_COOKIE, path="/operator/login", secure=True, httponly=True)
    return response


@router.post("/operator/logout")
def logout(request: Request, form: Form) -> Response:
    current = _operator(request)
    response = redirect("/operator/login")
    if current is not None:
        token, actor = current
        if not csrf_matches(token, form.get("csrf_token")):
            return forbidden()
        store_of(request).operator_sessions.end(actor, token)
    _clear(response)
    return response


# -- accounts -----------------------------------------------------------------------------
def _row(summary: AccountSummary, csrf: str) -> str:
    buttons = []
    for action in ALLOWED[summary.status]:
        label = ACTIONS[action][0]
        target = f"/operator/accounts/{escape(summary.id)}/{action.value}"
        if action == AccountAction.TERMINATE:  # asks first, on a page of its own
            buttons.append(f'<a href="{target}">{label}…</a>')
        else:
            buttons.append(
                f'<form method="post" action="{target}">{csrf_field(csrf)}'
                f'<button type="submit">{label}</button></form>'
            )
    if summary.status == AccountStatus.ACTIVE:
        buttons.append(
            f'<form method="post" action="/operator/accounts/{escape(summary.id)}/setup-link">'
            f'{csrf_field(csrf)}<button type="submit">New set-up link</button></form>'
        )
    name = escape(summary.name) if summary.name is not None else "<em>(shredded)</em>"
    return (
        f'<tr id="account-{escape(summary.id)}"><th scope="row">{name}</th>'
        f"<td>{escape(summary.region)}</td><td>{escape(summary.status.value)}</td>"
        f"<td>{summary.hosts}</td><td>{summary.conferences_this_month}</td>"
        f"<td>{' '.join(buttons)}</td></tr>"
    )


def _create_form(csrf: str, error: str | None, fields: dict[str, str]) -> str:
    options = "".join(
        f'<option value="{region}"{" selected" if fields.get("region") == region else ""}>'
        f"{region}</option>"
        for region in REGIONS
    )
    return f"""<h2>New account</h2>
{message(error)}<form method="post" action="/operator/accounts">
{csrf_field(csrf)}
<p><label for="name">Account name</label>
<input id="name" name="name" required maxlength="{NAME_LIMIT}"
 value="{escape(fields.get("name", ""))}"></p>
<p><label for="region">Region</label>
<select id="region" name="region">{options}</select></p>
<p><label for="admin_email">First administrator's email</label>
<input id="admin_email" name="admin_email" type="email" required maxlength="320"
 value="{escape(fields.get("admin_email", ""))}"></p>
<p><button type="submit">Create account</button></p>
</form>"""


def _home(
    request: Request,
    token: str,
    actor: Actor,
    *,
    done: str | None = None,
    error: str | None = None,
    fields: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    csrf = csrf_token_for(token)
    accounts = store_of(request).onboarding.list_accounts(actor)
    rows = "\n".join(_row(summary, csrf) for summary in accounts)
    table = (
        f"""<table id="accounts"><caption>Customer accounts</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Region</th><th scope="col">Status</th>
<th scope="col">Hosts</th><th scope="col">Conferences this month</th>
<th scope="col">Actions</th></tr></thead>
<tbody>
{rows}
</tbody></table>"""
        if accounts
        else '<p id="accounts">No customer accounts yet.</p>'
    )
    body = f"""{notice(done)}{table}
{_create_form(csrf, error, fields or {})}
<p><a href="/operator/consent" id="consent-link">Consent records: the signed export and its
public key</a></p>"""
    return page("Operator", body, csrf=csrf, status_code=status_code, wide=True, **_layout(csrf))


@router.get("/operator", response_class=HTMLResponse)
def home(request: Request, done: str | None = None) -> Response:
    current = _operator(request)
    if current is None:
        return redirect("/operator/login")
    said = next((f"Account {past}." for a, (_, past) in ACTIONS.items() if a.value == done), None)
    return _home(request, *current, done=said)


def _link_page(request: Request, token: str, created: CreatedAccount, done: str) -> Response:
    link = setup_url(settings_of(request), created.setup_token)
    body = f"""{notice(done)}
<p>Send this link to the account's first administrator. With it they choose a password,
then set up their second factor. It works once, until
{created.setup_expires_at:%Y-%m-%d %H:%M} UTC, and <strong>is shown only now</strong>.</p>
<p><code id="setup-link">{escape(link)}</code></p>
<p><a href="{HOME}">Back to the accounts</a></p>"""
    csrf = csrf_token_for(token)
    return page("Set-up link", body, csrf=csrf, **_layout(csrf))


@router.post("/operator/accounts/{account_id}/setup-link", response_class=HTMLResponse)
def new_setup_link(account_id: str, request: Request, form: Form) -> Response:
    current = _operator(request)
    if current is None:
        return redirect("/operator/login")
    token, actor = current
    if not csrf_matches(token, form.get("csrf_token")):
        return forbidden()
    try:
        created = store_of(request).onboarding.new_setup_link(actor, account_id[:36])
    except NotFoundError:
        return _home(request, token, actor, error="There is no such account.", status_code=404)
    except ValueError as exc:
        return _home(request, token, actor, error=_sentence(exc), status_code=409)
    return _link_page(request, token, created, "New set-up link made; the old one no longer works.")


@router.post("/operator/accounts", response_class=HTMLResponse)
def create(request: Request, form: Form) -> Response:
    current = _operator(request)
    if current is None:
        return redirect("/operator/login")
    token, actor = current
    if not csrf_matches(token, form.get("csrf_token")):
        return forbidden()
    fields = {key: form.get(key, "")[:400] for key in ("name", "region", "admin_email")}
    try:
        created = store_of(request).onboarding.create_account(
            actor, fields["name"], fields["region"], fields["admin_email"]
        )
    except DuplicateError as exc:
        return _home(request, token, actor, error=_sentence(exc), fields=fields, status_code=409)
    except ValueError as exc:
        return _home(request, token, actor, error=_sentence(exc), fields=fields, status_code=422)
    return _link_page(request, token, created, "Account created.")


def _sentence(exc: Exception) -> str:
    text = str(exc)
    if text.startswith("not an email"):
        text = "the administrator's email is not an email address"
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


@router.get("/operator/accounts/{account_id}/terminate", response_class=HTMLResponse)
def confirm_terminate(account_id: str, request: Request) -> Response:
    current = _operator(request)
    if current is None:
        return redirect("/operator/login")
    token, actor = current
    found = store_of(request).onboarding.list_accounts(actor, only=account_id[:36])
    if not found:
        return page(
            "No such account", '<p role="alert">There is no such account.</p>', status_code=404
        )
    summary = found[0]
    name = escape(summary.name or "(shredded)")
    csrf = csrf_token_for(token)
    body = f"""<p>Terminate <strong>{name}</strong>? Its users are signed out and can no
longer sign in, its conferences take no calls, and its retention period starts now.
<strong>This cannot be undone.</strong></p>
<form method="post" action="/operator/accounts/{escape(summary.id)}/terminate">
{csrf_field(csrf)}
<p><button type="submit" id="confirm-terminate">Terminate {name}</button>
<a href="{HOME}">Cancel</a></p>
</form>"""
    return page("Terminate an account", body, csrf=csrf, **_layout(csrf))


@router.post("/operator/accounts/{account_id}/{action}", response_class=HTMLResponse)
def change(account_id: str, action: str, request: Request, form: Form) -> Response:
    current = _operator(request)
    if current is None:
        return redirect("/operator/login")
    token, actor = current
    if not csrf_matches(token, form.get("csrf_token")):
        return forbidden()
    try:
        chosen = AccountAction(action)
    except ValueError:
        return page("Not found", '<p role="alert">There is no such page.</p>', status_code=404)
    try:
        store_of(request).onboarding.change_status(actor, account_id[:36], chosen)
    except NotFoundError:
        return _home(request, token, actor, error="There is no such account.", status_code=404)
    except ValueError as exc:
        return _home(request, token, actor, error=_sentence(exc), status_code=409)
    return redirect(f"{HOME}?done={chosen.value}")
