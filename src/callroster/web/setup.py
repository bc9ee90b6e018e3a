"""``/setup/<token>``: a new account's first administrator chooses a password with the
one-time link the operator gave them, and is sent on to set up their second factor
(``/account/second-factor``, ``web/signin.py``).

The link's token is the credential: the form's CSRF token is derived from it (only someone
holding the link can know it), the link works once and for 72 hours, and the page is sent
with ``Referrer-Policy: no-referrer`` (``web/security_headers.py``'s ``ONE_TIME_LINKS``) so
the token leaves in no ``Referer``. Setting the password opens an ordinary session that still
waits for the second factor: an administrator never gets a complete session without one.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from callroster.accounts.actor import Actor, Role
from callroster.api.auth import SESSION_COOKIE, store_of
from callroster.store.onboarding import PASSWORD_LENGTHS, SetupLinkError
from callroster.store.sessions import csrf_matches, csrf_token_for
from callroster.web.common import Form, csrf_field, forbidden, message, page, redirect
from callroster.web.common import reason as reason_of
from callroster.web.common import source as source_of

router = APIRouter(include_in_schema=False)

ENROL = "/account/second-factor"
SHORTEST, LONGEST = PASSWORD_LENGTHS[0], PASSWORD_LENGTHS[-1]


def _form(token: str, error: str | None = None) -> str:
    described = ' aria-describedby="message" aria-invalid="true"' if error else ""
    return f"""{message(error)}<p>Welcome to Callroster. Choose the password you will sign
in with: at least {SHORTEST} characters (a few unrelated words make a good one). Next you will
set up a second factor with an authenticator app on your phone.</p>
<form method="post" action="/setup/{escape(token)}">
{csrf_field(csrf_token_for(token))}
<p><label for="password">New password</label>
<input id="password" name="password" type="password" autocomplete="new-password" required
 minlength="{SHORTEST}" maxlength="{LONGEST}"{described}></p>
<p><label for="password_again">The same password again</label>
<input id="password_again" name="password_again" type="password" autocomplete="new-password"
 required minlength="{SHORTEST}" maxlength="{LONGEST}"></p>
<p><button type="submit">Set password and continue</button></p>
</form>"""


def _dead(exc: SetupLinkError) -> Response:
    text = str(exc)
    return page(
        "This set-up link does not work",
        f'<p role="alert" id="message">{escape(text[:1].upper() + text[1:])}. Ask your '
        "provider for a new set-up link.</p>",
        status_code=404,
    )


@router.get("/setup/{token}", response_class=HTMLResponse)
def setup_page(token: str, request: Request) -> Response:
    try:
        store_of(request).onboarding.setup_target(token)
    except SetupLinkError as exc:
        return _dead(exc)
    return page("Set up your account", _form(token))


@router.post("/setup/{token}", response_class=HTMLResponse)
def setup(token: str, request: Request, form: Form) -> Response:
    if not csrf_matches(token, form.get("csrf_token")):
        return forbidden()
    password = form.get("password", "")[: LONGEST + 1]
    store = store_of(request)
    try:
        target = store.onboarding.setup_target(token)
    except SetupLinkError as exc:
        return _dead(exc)
    if password != form.get("password_again", "")[: LONGEST + 1]:
        return page(
            "Set up your account",
            _form(token, "The two passwords are not the same."),
            status_code=422,
        )
    actor = Actor(
        target.user_id,
        Role.ADMINISTRATOR,
        target.account_id,
        source_of(request),
        reason_of(request),
    )
    try:
        target = store.onboarding.complete_setup(actor, token, password)
    except SetupLinkError as exc:
        return _dead(exc)
    except ValueError:
        return page(
            "Set up your account",
            _form(token, f"A password is {SHORTEST} to {LONGEST} characters."),
            status_code=422,
        )
    session_token = store.web_sessions.create(
        actor, target.user_id, stay_signed_in=False, second_factor_done=False
    )
    response = redirect(ENROL)
    # As web/signin.py's session cookie: a browser-session cookie, HttpOnly, Secure, Lax.
    response.set_cookie(
        SESSION_COOKIE, session_token, path="/", secure=True, httponly=True, samesite="lax"
    )
    return response
