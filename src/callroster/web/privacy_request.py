"""The public data-subject request pages (issue 15): ``/privacy/request`` (ask for a copy of
your data, a correction of your name, erasure, or no marketing, by email or phone number),
``/privacy/request/<link>`` (type the code we sent) and ``/privacy/export/<link>`` (the ZIP
of an access request, for 7 days).

**The same answer whether or not we hold the address**: the request is recorded and the
browser sent on to the code page either way; the code goes out after the answer, only to an
address on record (``store.privacy_requests``). The answer's words, status and timing do not
depend on it; sending happens in the background after the answer is complete.

Rate limits, in memory, keyed by the source address and by the keyed hash of the address
asked about (never the address): ``PER_SOURCE`` and ``PER_ADDRESS`` requests an hour. The
forms' CSRF token is tied to a pre-session cookie (``callroster_privacy``, ``Path=/privacy``),
as the sign-in form's is.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import secrets
from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.background import BackgroundTask

from callroster.api.auth import store_of
from callroster.api.operator_accounts import settings_of
from callroster.api.rate_limit import SlidingWindow, take
from callroster.errors import NotFoundError
from callroster.invitations.sender import MailServer
from callroster.io.code_sender import CodeSender
from callroster.privacy import normalise
from callroster.privacy.subject_export import export_zip
from callroster.privacy.subject_requests import (
    CODE_DIGITS,
    CODE_LIFETIME,
    KIND_LABELS,
    RequestKind,
)
from callroster.store.privacy_requests import Address, CodeDelivery
from callroster.web.common import Form, csrf_field, message, notice, page, redirect
from callroster.web.common import reason as reason_of
from callroster.web.common import source as source_of

router = APIRouter(include_in_schema=False)

COOKIE = "callroster_privacy"
HOME = "/privacy/request"
_CSRF_CONTEXT = b"callroster privacy request forms v1"
PER_SOURCE = 10  # requests per source address per hour
PER_ADDRESS = 3  # requests about one email or number per hour
WINDOW = 3600.0
FIELD_LIMIT = 320


def _csrf(pre_session: str) -> str:
    digest = hmac.new(pre_session.encode(), _CSRF_CONTEXT, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _pre_session(request: Request) -> tuple[str, bool]:
    """The pre-session value, and whether it is new (then the answer sets the cookie)."""
    current = request.cookies.get(COOKIE)
    return (current, False) if current else (secrets.token_urlsafe(32), True)


def _csrf_ok(request: Request, form: dict[str, str]) -> bool:
    pre_session = request.cookies.get(COOKIE)
    return bool(pre_session) and hmac.compare_digest(
        _csrf(pre_session or ""), form.get("csrf_token", "")
    )


def _with_cookie(response: Response, pre_session: str, new: bool) -> Response:
    if new:
        response.set_cookie(
            COOKIE, pre_session, path="/privacy", secure=True, httponly=True, samesite="lax"
        )
    return response


def _windows(request: Request) -> tuple[SlidingWindow, SlidingWindow]:
    state = request.app.state
    windows = getattr(state, "privacy_request_windows", None)
    if windows is None:
        windows = (SlidingWindow(PER_SOURCE, WINDOW), SlidingWindow(PER_ADDRESS, WINDOW))
        state.privacy_request_windows = windows
    return windows


def code_sender(request: Request) -> CodeSender:
    """The app's code sender: made on first use from the settings (email only: no SMS
    carrier adapter exists yet), or the one a test put in ``app.state.code_sender``."""
    state = request.app.state
    sender = getattr(state, "code_sender", None)
    if sender is None:
        settings = settings_of(request)
        sender = CodeSender(MailServer.of(settings), None, settings.invitation_sender)
        state.code_sender = sender
    assert isinstance(sender, CodeSender)
    return sender


# -- the request form ---------------------------------------------------------------------
def _form(csrf: str, fields: dict[str, str], error: str | None = None) -> str:
    chosen = fields.get("kind", RequestKind.ACCESS.value)
    kinds = "\n".join(
        f'<p class="check"><input type="radio" name="kind" id="kind-{kind.value}"'
        f' value="{kind.value}"{" checked" if chosen == kind.value else ""}>'
        f'<label for="kind-{kind.value}">{escape(label)}</label></p>'
        for kind, label in KIND_LABELS.items()
    )
    value = {key: escape(fields.get(key, "")) for key in ("email", "phone", "correct_name")}
    return f"""{message(error)}<p>You may ask for a copy of the personal data we hold about
you, for your name to be corrected, for your data to be erased, or not to be contacted for
marketing. We first check that the email address or phone number is yours: if we hold it,
we send a one-time code to it. We answer within the time the law gives us.</p>
<form method="post" action="{HOME}">
{csrf_field(csrf)}
<fieldset><legend>What would you like?</legend>
{kinds}
</fieldset>
<p><label for="email">Your email address</label>
<input id="email" name="email" type="email" autocomplete="email" maxlength="{FIELD_LIMIT}"
 value="{value["email"]}"></p>
<p><label for="phone">or your phone number</label>
<input id="phone" name="phone" type="tel" autocomplete="tel" maxlength="40"
 value="{value["phone"]}"></p>
<p><label for="country">Country of a number written without +</label>
<input id="country" name="country" maxlength="2" value="{escape(fields.get("country", "GB"))}">
</p>
<p><label for="correct_name">For a correction: the name we should hold for you</label>
<input id="correct_name" name="correct_name" maxlength="200" autocomplete="name"
 value="{value["correct_name"]}"></p>
<p><button type="submit" id="send-request">Send the request</button></p>
</form>"""


@router.get(HOME, response_class=HTMLResponse)
def request_page(request: Request) -> Response:
    pre_session, new = _pre_session(request)
    return _with_cookie(page("Your personal data", _form(_csrf(pre_session), {})), pre_session, new)


@router.post(HOME, response_class=HTMLResponse)
def make_request(request: Request, form: Form) -> Response:
    if not _csrf_ok(request, form):
        return _expired()
    fields = {
        key: form.get(key, "")[:FIELD_LIMIT]
        for key in ("kind", "email", "phone", "country", "correct_name")
    }
    csrf = _csrf(request.cookies.get(COOKIE, ""))
    try:
        kind = RequestKind(fields["kind"])
        region = (fields["country"] or "GB").strip().upper()
        address = Address.of(email=fields["email"], phone=fields["phone"], region=region)
        correction = fields["correct_name"] if kind is RequestKind.RECTIFICATION else None
        if correction is not None:
            correction = normalise.person_name(correction)
    except ValueError as exc:
        said = "Choose what you would like." if not fields["kind"] else _sentence(exc)
        return page("Your personal data", _form(csrf, fields, said), status_code=422)
    store = store_of(request)
    by_source, by_address = _windows(request)
    key = store.privacy_requests.address_index(address).hex()
    wait = take([(by_source, source_of(request)), (by_address, key)], request.app.state.monotonic())
    if wait > 0:
        minutes = max(1, round(wait / 60))
        body = (
            f'<p role="alert" id="message">Too many requests. Try again in about {minutes} '
            "minutes.</p>"
        )
        return page(
            "Your personal data",
            body,
            status_code=429,
            headers={"Retry-After": str(int(wait) + 1)},
        )
    opened = store.privacy_requests.open(
        kind,
        address,
        source=source_of(request),
        reason=reason_of(request),
        correction=correction,
    )
    response = redirect(f"{HOME}/{opened.token}")
    if opened.delivery is not None:
        response.background = BackgroundTask(
            _send, code_sender(request), opened.delivery, KIND_LABELS[kind]
        )
    return response


async def _send(sender: CodeSender, delivery: CodeDelivery, label: str) -> None:
    await sender.send(delivery, label)


def _sentence(exc: Exception) -> str:
    text = str(exc) or "That is not an email address or a phone number"
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _expired() -> HTMLResponse:
    return page(
        "This form has expired",
        f'<p role="alert">This form has expired or did not come from this site. '
        f'<a href="{HOME}">Start again</a>.</p>',
        status_code=403,
    )


# -- the code -----------------------------------------------------------------------------
def _code_form(csrf: str, token: str, error: str | None = None) -> str:
    minutes = int(CODE_LIFETIME.total_seconds() // 60)
    described = ' aria-describedby="message" aria-invalid="true"' if error else ""
    return f"""{message(error)}<p id="sent">If we hold that email address or phone number, we
have sent a one-time code of {CODE_DIGITS} digits to it. It works for {minutes} minutes. If
nothing arrives, we hold no data under that address.</p>
<form method="post" action="{HOME}/{escape(token)}">
{csrf_field(csrf)}
<p><label for="code">Code</label>
<input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required
 maxlength="20"{described}></p>
<p><button type="submit" id="check-code">Continue</button></p>
</form>"""


def _no_request() -> HTMLResponse:
    return page(
        "No such request",
        f'<p role="alert">There is no such request. <a href="{HOME}">Make a request</a>.</p>',
        status_code=404,
    )


@router.get(HOME + "/{token}", response_class=HTMLResponse)
def code_page(token: str, request: Request) -> Response:
    if store_of(request).privacy_requests.kind_of(token[:80]) is None:
        return _no_request()
    pre_session, new = _pre_session(request)
    body = _code_form(_csrf(pre_session), token)
    return _with_cookie(page("Check your email or phone", body), pre_session, new)


@router.post(HOME + "/{token}", response_class=HTMLResponse)
def check_code(token: str, request: Request, form: Form) -> Response:
    if not _csrf_ok(request, form):
        return _expired()
    csrf = _csrf(request.cookies.get(COOKIE, ""))
    try:
        result = store_of(request).privacy_requests.verify(
            token[:80],
            form.get("code", "")[:20],
            source=source_of(request),
            reason=reason_of(request),
        )
    except NotFoundError:
        return _no_request()
    title = "Check your email or phone"
    again = f'<a href="{HOME}">Make the request again</a>'
    if result.outcome == "wrong":
        said = f"That code is not right. {result.tries_left} tries left."
        return page(title, _code_form(csrf, token, said), status_code=422)
    if result.outcome in ("exhausted", "expired"):
        why = "Too many wrong codes" if result.outcome == "exhausted" else "This code has expired"
        body = f'<p role="alert" id="message">{why}. {again}.</p>'
        return page(title, body, status_code=410)
    return _done(result.kind, result.export_token, result.due_at)


def _done(kind: RequestKind, export_token: str | None, due: dt.datetime | None) -> Response:
    if kind is RequestKind.ACCESS and export_token is not None:
        body = f"""{notice("Thank you: it is you.")}<p>Your data is ready. The link works
for 7 days; keep it to yourself.</p>
<p><a id="download" href="/privacy/export/{escape(export_token)}">Download your data
(ZIP)</a></p>"""
    elif kind is RequestKind.MARKETING_OPT_OUT:
        body = notice("Done: we will not contact you for marketing.")
    else:
        by = f" by {due:%d %B %Y}" if due is not None else ""
        body = f"""{notice("Thank you: it is you.")}<p id="with-team">Your request is with
our team. We will answer it{by}.</p>"""
    return page("Your request", body)


# -- the download -------------------------------------------------------------------------
@router.get("/privacy/export/{token}")
async def download(token: str, request: Request) -> Response:
    store = store_of(request)
    try:
        tables = await asyncio.to_thread(
            store.privacy_requests.export,
            token[:80],
            source=source_of(request),
            reason=reason_of(request),
        )
    except NotFoundError as exc:
        expired = "expired" in str(exc)
        text = "This link has expired." if expired else "There is no such download."
        return page(
            "Your data",
            f'<p role="alert" id="message">{text} <a href="{HOME}">Make a new request</a>.</p>',
            status_code=410 if expired else 404,
        )
    data = export_zip(tables, store.clock())
    return Response(
        data,
        media_type="application/zip",
        headers={
            "Content-Disposition": 'attachment; filename="my-callroster-data.zip"',
            "Cache-Control": "no-store",
        },
    )
