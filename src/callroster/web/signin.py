"""Signing in and out in the browser: ``/login``, the second factor, ``/me``, ``/logout``.

The session lives on the server (``store.sessions``); the browser holds only its random
token in the ``callroster_session`` cookie: ``HttpOnly`` (no script reads it), ``Secure``
(sent over HTTPS only; browsers treat ``http://localhost`` and ``http://127.0.0.1`` as
secure, so it works there too), ``SameSite=Lax`` (not sent with another site's POSTs),
``Path=/``. An ordinary session's cookie has no ``Max-Age``: it goes when the browser
closes, and the server ends the session after 15 minutes without a request. With "stay
signed in" the cookie and the session last one day from sign-in.

A right password also sets ``callroster_device`` (``HttpOnly``, ``Secure``,
``SameSite=Strict``, ``Path=/login``, 30 days): an HMAC of the email and the day, which lets
this browser skip the email's delay after others' wrong guesses (``accounts/signin.py``).

Every form carries a CSRF token in a hidden field: the sign-in form's is tied to a
pre-session cookie (``callroster_signin``), every other form's to the session. A POST
without the right token gets 403. Forms are parsed here (``application/x-www-form-urlencoded``
only), and the pages are plain HTML with one stylesheet: no script, labelled fields, usable
on a phone.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from html import escape
from urllib.parse import urlsplit

import segno
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, Response

from callroster.accounts import session_policy, signin
from callroster.accounts.signin import NextStep, Refused
from callroster.api.auth import SESSION_COOKIE, store_of
from callroster.store.sessions import SessionView, csrf_matches, csrf_token_for
from callroster.web.common import NO_STORE as _NO_STORE
from callroster.web.common import Form, viewer_of
from callroster.web.common import current_session as _current
from callroster.web.common import forbidden as _forbidden
from callroster.web.common import message as _message
from callroster.web.common import page as _page
from callroster.web.common import reason as _reason
from callroster.web.common import redirect as _redirect
from callroster.web.common import source as _source
from callroster.web.common import with_next as _with_next

router = APIRouter()

SIGNIN_COOKIE = "callroster_signin"  # the pre-session cookie the sign-in form's token is tied to
# Set when a password is right: this browser then skips the email's delay (accounts/signin.py).
DEVICE_COOKIE = "callroster_device"
EMAIL_LIMIT = 320
PASSWORD_LIMIT = 1024  # argon2 of a megabyte would be a cheap way to tie the server up
HOME = "/me"
_LOGIN_CSRF_CONTEXT = b"callroster sign-in form v1"


# -- helpers ------------------------------------------------------------------------------
def safe_next(value: str | None) -> str | None:
    """``value`` if it is a path on this site (``/c/abc?x=1``), else None: never another
    site (``//evil.example``, ``https://evil.example``, ``/\\evil.example``)."""
    if not value or len(value) > 2000 or not value.startswith("/") or value.startswith("//"):
        return None
    if "\\" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value


def _login_csrf(pre_session: str) -> str:
    digest = hmac.new(pre_session.encode(), _LOGIN_CSRF_CONTEXT, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _set_session_cookie(
    response: Response, token: str, view_expires_at: dt.datetime | None, now: dt.datetime
) -> None:
    """``view_expires_at`` only for "stay signed in": then the cookie lasts until the
    session's end (one day from sign-in); otherwise it is a browser-session cookie."""
    max_age = None
    if view_expires_at is not None:
        max_age = max(0, int((view_expires_at - now).total_seconds()))
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        path="/",
        secure=True,
        httponly=True,
        samesite="lax",
    )


def _clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="lax")


def _step_url(step: NextStep, next_path: str | None) -> str:
    if step == NextStep.SECOND_FACTOR:
        return _with_next("/login/second-factor", next_path)
    if step == NextStep.ENROL:
        return _with_next("/account/second-factor", next_path)
    return next_path or HOME


def _refused_headers(refused: Refused) -> dict[str, str]:
    return {"Retry-After": str(refused.retry_after_s)} if refused.retry_after_s else {}


# -- sign in ------------------------------------------------------------------------------
def _login_form(
    csrf: str, next_path: str | None, *, email: str = "", message: str | None = None
) -> str:
    return f"""{_message(message)}<form method="post" action="/login">
<input type="hidden" name="csrf_token" value="{escape(csrf)}">
<input type="hidden" name="next" value="{escape(next_path or "")}">
<p><label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="username" required
 maxlength="{EMAIL_LIMIT}" value="{escape(email)}"></p>
<p><label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password"
 required maxlength="{PASSWORD_LIMIT}"></p>
<p class="check"><input id="stay" name="stay_signed_in" type="checkbox" value="on">
<label for="stay">Stay signed in for one day</label></p>
<p><button type="submit">Sign in</button></p>
</form>
<p class="note">Without "stay signed in", you are signed out after 15 minutes without
activity, and when you close the browser.</p>"""


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(request: Request, next: str | None = None) -> Response:
    next_path = safe_next(next)
    current = _current(request)
    if current is not None:
        return _redirect(_step_url(signin.next_step(current[1]), next_path))
    pre_session = request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(32)
    response = _page("Sign in", _login_form(_login_csrf(pre_session), next_path))
    if request.cookies.get(SIGNIN_COOKIE) != pre_session:
        response.set_cookie(
            SIGNIN_COOKIE, pre_session, path="/login", secure=True, httponly=True, samesite="lax"
        )
    return response


@router.post("/login", response_class=HTMLResponse, include_in_schema=False)
def login(request: Request, form: Form) -> Response:
    pre_session = request.cookies.get(SIGNIN_COOKIE)
    sent = form.get("csrf_token", "")
    if not pre_session or not hmac.compare_digest(_login_csrf(pre_session), sent):
        return _forbidden()
    next_path = safe_next(form.get("next"))
    email = form.get("email", "")[:EMAIL_LIMIT]
    store = store_of(request)
    result = signin.sign_in(
        store,
        email,
        form.get("password", "")[:PASSWORD_LIMIT],
        stay_signed_in=form.get("stay_signed_in") == "on",
        source=_source(request),
        reason=_reason(request),
        device=request.cookies.get(DEVICE_COOKIE),
    )
    if isinstance(result, Refused):
        return _page(
            "Sign in",
            _login_form(_login_csrf(pre_session), next_path, email=email, message=result.message),
            status_code=result.status,
            headers=_refused_headers(result),
        )
    response = _redirect(_step_url(result.next_step, next_path))
    now = store.clock()
    expires = session_policy.expires_at(now, stay_signed_in=True) if result.stay_signed_in else None
    _set_session_cookie(response, result.token, expires, now)
    response.delete_cookie(SIGNIN_COOKIE, path="/login", secure=True, httponly=True)
    if result.device is not None:
        response.set_cookie(
            DEVICE_COOKIE,
            result.device,
            max_age=int(session_policy.DEVICE_LIFETIME.total_seconds()),
            path="/login",
            secure=True,
            httponly=True,
            samesite="strict",
        )
    return response


# -- second factor at sign-in ---------------------------------------------------------------
def _second_factor_form(csrf: str, next_path: str | None, message: str | None = None) -> str:
    return f"""{_message(message)}<form method="post" action="/login/second-factor">
<input type="hidden" name="csrf_token" value="{escape(csrf)}">
<input type="hidden" name="next" value="{escape(next_path or "")}">
<p><label for="code">The 6-digit code from your authenticator app, or one of your
recovery codes</label>
<input id="code" name="code" autocomplete="one-time-code" autocapitalize="none"
 spellcheck="false" required maxlength="64"></p>
<p><button type="submit">Continue</button></p>
</form>
<form method="post" action="/logout"><input type="hidden" name="csrf_token"
 value="{escape(csrf)}"><p><button type="submit" class="link">Cancel and sign out</button></p>
</form>"""


def _pending(
    request: Request, step: NextStep, next_path: str | None
) -> tuple[str, SessionView] | Response:
    """The session, if it is waiting for ``step``; otherwise where to go instead."""
    current = _current(request)
    if current is None:
        return _redirect(_with_next("/login", next_path))
    actual = signin.next_step(current[1])
    if actual != step:
        return _redirect(_step_url(actual, next_path))
    return current


@router.get("/login/second-factor", response_class=HTMLResponse, include_in_schema=False)
def second_factor_page(request: Request, next: str | None = None) -> Response:
    next_path = safe_next(next)
    current = _pending(request, NextStep.SECOND_FACTOR, next_path)
    if isinstance(current, Response):
        return current
    token, _ = current
    csrf = csrf_token_for(token)
    return _page("Second step", _second_factor_form(csrf, next_path), csrf=csrf)


@router.post("/login/second-factor", response_class=HTMLResponse, include_in_schema=False)
def second_factor(request: Request, form: Form) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if not token or not csrf_matches(token, form.get("csrf_token")):
        return _forbidden()
    next_path = safe_next(form.get("next"))
    current = _pending(request, NextStep.SECOND_FACTOR, next_path)
    if isinstance(current, Response):
        return current
    token, view = current
    store = store_of(request)
    result = signin.second_factor(
        store,
        view,
        token,
        form.get("code", ""),
        source=_source(request),
        reason=_reason(request),
    )
    if isinstance(result, Refused):
        csrf = csrf_token_for(token)
        return _page(
            "Second step",
            _second_factor_form(csrf, next_path, result.message),
            csrf=csrf,
            status_code=result.status,
            headers=_refused_headers(result),
        )
    response = _redirect(next_path or HOME)
    _set_session_cookie(
        response, result.token, view.expires_at if view.stay_signed_in else None, store.clock()
    )
    return response


# -- enrolling a second factor --------------------------------------------------------------
def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def qr_code(uri: str) -> str:
    """The ``otpauth://`` address as a QR code: an SVG drawn here (segno), in a ``data:``
    address the page's policy allows for images; nothing is fetched from anywhere."""
    return segno.make(uri, error="m").svg_data_uri(scale=4, border=4)


def _enrol_form(
    csrf: str, next_path: str | None, secret: str, uri: str, message: str | None = None
) -> str:
    return f"""{_message(message)}<p>Administrators sign in with a second factor. Add this
account to an authenticator app on your phone (any app for "time-based one-time passwords",
TOTP), then type the 6-digit code it shows.</p>
<ol>
<li>In the app, add an account and scan this QR code:
<p><img id="totp-qr" class="qr" src="{escape(qr_code(uri))}" width="180" height="180"
 alt="QR code that adds Callroster to an authenticator app"></p></li>
<li>Or choose to enter a setup key, and type this key:
<p><code id="totp-secret" class="secret">{escape(_grouped(secret))}</code></p></li>
<li>Or, on this phone, <a id="totp-uri" href="{escape(uri)}">open it in your authenticator
app</a>. The address is:
<p><code class="uri">{escape(uri)}</code></p></li>
</ol>
<form method="post" action="/account/second-factor">
<input type="hidden" name="csrf_token" value="{escape(csrf)}">
<input type="hidden" name="next" value="{escape(next_path or "")}">
<p><label for="code">The 6-digit code from the app</label>
<input id="code" name="code" inputmode="numeric" pattern="[0-9 ]{{6,7}}"
 autocomplete="one-time-code" required maxlength="7"></p>
<p><button type="submit">Confirm</button></p>
</form>
<form method="post" action="/logout"><input type="hidden" name="csrf_token"
 value="{escape(csrf)}"><p><button type="submit" class="link">Cancel and sign out</button></p>
</form>"""


@router.get("/account/second-factor", response_class=HTMLResponse, include_in_schema=False)
def enrol_page(request: Request, next: str | None = None) -> Response:
    next_path = safe_next(next)
    current = _current(request)
    if current is None:
        return _redirect(_with_next("/login", _with_next("/account/second-factor", next_path)))
    token, view = current
    step = signin.next_step(view)
    if step == NextStep.SECOND_FACTOR:
        return _redirect(_step_url(step, next_path))
    csrf = csrf_token_for(token)
    store = store_of(request)
    if view.second_factor_enrolled:
        left = store.second_factor.recovery_codes_left(view.user_id)
        return _page(
            "Second factor",
            f'<p id="enrolled">Your second factor is set up. You have {left} unused '
            f'recovery code{"s" if left != 1 else ""}.</p><p><a href="{HOME}">Back</a></p>',
            csrf=csrf,
            viewer=viewer_of(request),
        )
    enrolment = store.second_factor.begin_enrolment(
        signin.actor_of(view, _source(request), _reason(request)), view.user_id
    )
    return _page(
        "Set up your second factor",
        _enrol_form(csrf, next_path, enrolment.secret, enrolment.uri),
        csrf=csrf,
    )


@router.post("/account/second-factor", response_class=HTMLResponse, include_in_schema=False)
def enrol(request: Request, form: Form) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if not token or not csrf_matches(token, form.get("csrf_token")):
        return _forbidden()
    next_path = safe_next(form.get("next"))
    current = _current(request)
    if current is None:
        return _redirect(_with_next("/login", next_path))
    token, view = current
    if view.second_factor_enrolled:
        return _redirect(_step_url(signin.next_step(view), next_path))
    store = store_of(request)
    source, reason = _source(request), _reason(request)
    result = signin.confirm_enrolment(
        store, view, token, form.get("code", ""), source=source, reason=reason
    )
    if isinstance(result, Refused):
        csrf = csrf_token_for(token)
        enrolment = store.second_factor.begin_enrolment(
            signin.actor_of(view, source, reason), view.user_id
        )
        return _page(
            "Set up your second factor",
            _enrol_form(csrf, next_path, enrolment.secret, enrolment.uri, result.message),
            csrf=csrf,
            status_code=result.status,
            headers=_refused_headers(result),
        )
    codes = "\n".join(f"<li><code>{escape(code)}</code></li>" for code in result.recovery_codes)
    response = _page(
        "Save your recovery codes",
        f"""<p>Your second factor is set up. If you lose your phone, each of these codes
signs you in once instead of a code from the app. Keep them somewhere safe, such as a
password manager: <strong>they are shown only now</strong>.</p>
<ol id="recovery-codes">
{codes}
</ol>
<p><a id="continue" href="{escape(next_path or HOME)}">I have saved them: continue</a></p>""",
        csrf=csrf_token_for(result.signed_in.token),
    )
    _set_session_cookie(
        response,
        result.signed_in.token,
        view.expires_at if view.stay_signed_in else None,
        store.clock(),
    )
    return response


# -- signed in ------------------------------------------------------------------------------
@router.post("/logout", include_in_schema=False)
def logout(request: Request, form: Form) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    current = _current(request)
    if current is None or token is None:
        response = _redirect("/login")
        _clear_session_cookie(response)
        return response
    if not csrf_matches(token, form.get("csrf_token")):
        return _forbidden()
    signin.sign_out(
        store_of(request), current[1], token, source=_source(request), reason=_reason(request)
    )
    response = _redirect("/login")
    _clear_session_cookie(response)
    return response


@router.get("/api/v1/session", tags=["sign-in"])
def session_info(request: Request) -> JSONResponse:
    """The signed-in browser's session and the CSRF token its scripts send in
    ``X-CSRF-Token`` with requests that change something. 401 without a complete session
    (bearer tokens have no session)."""
    current = _current(request)
    if current is None or not current[1].complete:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "not signed in")
    token, view = current
    return JSONResponse(
        {
            "user_id": view.user_id,
            "account_id": view.account_id,
            "role": view.role.value,
            "csrf_token": csrf_token_for(token),
            "stay_signed_in": view.stay_signed_in,
            "expires_at": view.expires_at.isoformat(),
            "idle_timeout_s": (
                None if view.stay_signed_in else int(session_policy.IDLE_LIMIT.total_seconds())
            ),
        },
        headers=_NO_STORE,
    )
