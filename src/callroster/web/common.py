"""What every server-rendered page shares: the signed-in session, CSRF-checked URL-encoded
forms, one layout (``page``: a header with the product's name and the navigation for the
viewer's role, the consent banner until the browser has chosen, a footer linking the privacy
page, the cookie page, data requests and cookie settings, one stylesheet, ``/static/app.css``,
the page's own scripts as files), redirects and messages."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Annotated
from urllib.parse import parse_qsl, quote

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from callroster.accounts.actor import Role
from callroster.api.auth import SESSION_COOKIE, Caller, caller_for_session, store_of
from callroster.privacy.consent import Category
from callroster.store.sessions import SessionView, csrf_matches, csrf_token_for
from callroster.web import consent_state
from callroster.web.consent_banner import SETTINGS as COOKIE_SETTINGS
from callroster.web.consent_banner import banner as consent_banner

FORM_LIMIT = 16 * 1024
NO_STORE = {"Cache-Control": "no-store"}  # the rest: web/security_headers.py
ROLE_NAMES = {"administrator": "Administrator", "host": "Host", "delegate": "Delegate"}


def source(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def reason(request: Request) -> str:
    return f"{request.method} {request.url.path}"


async def form_fields(request: Request) -> dict[str, str]:
    """A URL-encoded form body as a dict (the first value of each field). Any other body
    is no form at all (empty), so it carries no CSRF token and is refused with 403."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "this form is too large")
    fields: dict[str, str] = {}
    for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        fields.setdefault(name, value)
    return fields


Form = Annotated[dict[str, str], Depends(form_fields)]


def with_next(path: str, next_path: str | None) -> str:
    return f"{path}?next={quote(next_path, safe='/')}" if next_path else path


def current_session(request: Request) -> tuple[str, SessionView] | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    view = store_of(request).web_sessions.authenticate(token)
    return (token, view) if view is not None else None


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status.HTTP_303_SEE_OTHER, headers=NO_STORE)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{meta}<title>{title} · Callroster</title>
<link rel="stylesheet" href="/static/app.css">
</head>
<body><a class="skip" href="#main">Skip to the page's content</a>
<header class="site"><a class="brand" href="/">Callroster</a>
<nav aria-label="Main">{nav}</nav></header>
{consent_banner}<main id="main"{main_attrs}>
<h1>{title}</h1>
{body}
</main>
<footer class="site"><nav aria-label="About this service"><ul>
<li><a href="/privacy"{privacy_current}>Privacy</a></li>
<li><a href="/cookies"{cookies_current}>Cookies</a></li>
<li><a href="/privacy/request">Ask about your data</a></li>
<li><a href="/cookies/settings"{settings_current}>Cookie settings</a></li></ul></nav></footer>
{scripts}</body></html>
"""


@dataclass(frozen=True)
class Viewer:
    """Who is looking at a page, as far as its navigation needs: their role and the CSRF
    token the "Sign out" button posts."""

    role: Role
    csrf: str


def viewer_of(request: Request) -> Viewer | None:
    """The signed-in viewer (second factor done) of a page that does not need one, such as
    the home page or a 404: one look-up of the session, nothing of the person read."""
    current = current_session(request)
    if current is None or not current[1].complete:
        return None
    token, view = current
    return Viewer(view.role, csrf_token_for(token))


def navigation(viewer: Viewer | None, here: str = "") -> str:
    """The links for ``viewer``'s role; ``here`` (a path) is marked as the current page."""
    links: list[tuple[str, str]] = []
    if viewer is None:
        links = [("/", "Join a meeting"), ("/login", "Sign in")]
    elif viewer.role == Role.OPERATOR:
        links = [("/operator", "Operator"), ("/operator/requests", "Privacy requests")]
    else:
        links = [("/me", "My conferences"), ("/live", "Live Call Status")]
        if viewer.role == Role.ADMINISTRATOR:
            links.append(("/admin", "Administration"))
    current = ' aria-current="page"'
    items = "".join(
        f'<li><a href="{href}"{current if href == here else ""}>{label}</a></li>'
        for href, label in links
    )
    if viewer is not None:
        # The operator's session is another cookie with a sign-out of its own (web/operator.py).
        logout = "/operator/logout" if viewer.role == Role.OPERATOR else "/logout"
        items += (
            f'<li><form method="post" action="{logout}">{csrf_field(viewer.csrf)}'
            '<button type="submit" class="link" id="sign-out">Sign out</button></form></li>'
        )
    return f"<ul>{items}</ul>"


def page(
    title: str,
    body: str,
    *,
    csrf: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    wide: bool = False,
    scripts: tuple[str, ...] = (),
    viewer: Viewer | None = None,
    here: str = "",
    main_data: dict[str, str] | None = None,
) -> HTMLResponse:
    """A page in the site's layout.

    Args:
        title: the page's ``<title>`` and ``<h1>``.
        body: its HTML, under the heading.
        csrf: the session's CSRF token, for the page's scripts (``<meta name="csrf-token">``).
        status_code, headers: of the answer (``Cache-Control: no-store`` always).
        wide: for a page with tables (the administrator's portal).
        scripts: this site's own (the policy of ``web/security_headers.py`` allows no other,
            and no inline script or style).
        viewer: who is signed in, for the navigation (None: links to sign in).
        here: this page's path, marked in the navigation.
        main_data: ``data-*`` attributes of ``<main>``, for the page's scripts.
    """
    meta = f'<meta name="csrf-token" content="{escape(csrf)}">\n' if csrf else ""
    attrs = ' class="wide"' if wide else ""
    attrs += "".join(f' data-{k}="{escape(v)}"' for k, v in (main_data or {}).items())
    tags = "".join(f'<script src="{escape(src)}" defer></script>' for src in scripts)
    # The consent banner until this browser has chosen; with performance consent, the page
    # timing beacon (web/consent_state.py, set for each request by web/consent_middleware.py).
    state = consent_state.current()
    ask = state is not None and state.decision.ask and here != COOKIE_SETTINGS
    timed = state.page() if state is not None and state.allows(Category.PERFORMANCE) else None
    if timed is not None:
        tags += f'<script src="/static/page_timing.js" data-page="{escape(timed)}" defer></script>'
    return HTMLResponse(
        PAGE.format(
            meta=meta,
            title=escape(title),
            body=body,
            main_attrs=attrs,
            scripts=tags,
            nav=navigation(viewer, here),
            privacy_current=' aria-current="page"' if here == "/privacy" else "",
            cookies_current=' aria-current="page"' if here == "/cookies" else "",
            settings_current=' aria-current="page"' if here == COOKIE_SETTINGS else "",
            consent_banner=consent_banner(state.here) if ask and state is not None else "",
        ),
        status_code=status_code,
        headers={**NO_STORE, **(headers or {})},
    )


def message(text: str | None) -> str:
    if not text:
        return ""
    return f'<p class="error" role="alert" id="message">{escape(text)}</p>\n'


def notice(text: str | None) -> str:
    """What just happened ("Saved"), announced to screen readers."""
    if not text:
        return ""
    return f'<p class="done" role="status" id="notice">{escape(text)}</p>\n'


def csrf_field(csrf: str) -> str:
    return f'<input type="hidden" name="csrf_token" value="{escape(csrf)}">'


@dataclass(frozen=True)
class SignedIn:
    """A complete session (second factor done), as the API would see it."""

    token: str
    view: SessionView
    caller: Caller
    csrf: str

    @property
    def viewer(self) -> Viewer:
        return Viewer(self.view.role, self.csrf)


def signed_in(request: Request, here: str) -> SignedIn | Response:
    """The signed-in user, or the redirect to sign in (or finish signing in) first."""
    current = current_session(request)
    if current is None:
        return redirect(with_next("/login", here))
    token, view = current
    if not view.complete:
        step = "/login/second-factor" if view.second_factor_enrolled else "/account/second-factor"
        return redirect(with_next(step, here))
    caller = caller_for_session(store_of(request), token, source(request), reason(request))
    if caller is None:
        return redirect(with_next("/login", here))
    return SignedIn(token, view, caller, csrf_token_for(token))


def form_refused(form: dict[str, str], signed: SignedIn) -> bool:
    """Whether a form lacks this session's CSRF token (then answer ``forbidden()``)."""
    return not csrf_matches(signed.token, form.get("csrf_token"))


def name_refusal(exc: ValidationError) -> str | None:
    """Why a form's name was refused (``privacy.normalise.person_name``'s words, which name
    the character, never the text), or None if the name was not the problem."""
    for error in exc.errors():
        if error.get("loc", ())[-1:] == ("name",) and error.get("type") == "value_error":
            return "The name " + str(error["msg"]).removeprefix("Value error, ") + "."
    return None


def http_detail(exc: HTTPException) -> str:
    """What an API refusal says, as one line for a page."""
    detail = exc.detail
    return detail if isinstance(detail, str) else "That could not be done."


def forbidden() -> HTMLResponse:
    return page(
        "This form has expired",
        '<p role="alert">This form has expired or did not come from this site. '
        '<a href="/login">Start again</a>.</p>',
        status_code=status.HTTP_403_FORBIDDEN,
    )


def dial_in(number: str, sip_host: str) -> str:
    """One dial-in number, shown the same way on every page: a phone number (E.164) as a
    ``tel:`` link, a SIP user part as the address a SIP phone calls; each with a copy button
    (``/static/copy.js``)."""
    if number.startswith("+"):
        shown = f'<a class="dial-in" href="tel:{escape(number)}">{escape(number)}</a>'
        copied = number
    else:
        copied = f"sip:{number}@{sip_host}"
        shown = f'<code class="dial-in">{escape(copied)}</code>'
    return f"{shown}{copy_button(copied, 'Copy number')}"


def copy_button(text: str, label: str) -> str:
    """A button that copies ``text`` (``/static/copy.js``; without script it does nothing)."""
    return (
        f'<button type="button" class="secondary copy" data-copy="{escape(text)}">'
        f"{escape(label)}</button>"
    )


def field_error(text: str | None, field: str) -> tuple[str, str]:
    """An error shown at its field: (the input's ``aria-invalid``/``aria-describedby``
    attributes, the message to put right after it), both empty without ``text``. The
    message is ``#message`` and an alert, like the one at the top of a page."""
    if not text:
        return "", ""
    return (
        f' aria-invalid="true" aria-describedby="{field}-error"',
        f'<span class="field-error error" role="alert" id="message">'
        f'<span id="{field}-error">{escape(text)}</span></span>',
    )
