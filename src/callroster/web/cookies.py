"""Every cookie the service sets, declared once (``COOKIES``), and ``/cookies``: the public
cookie policy page, made from that declaration.

A cookie is declared with the category of the cookie policy it falls in (the International
Chamber of Commerce's four: strictly necessary, performance, functionality, targeting), what
it does, how long it may last, and the attributes it is set with. Names are the constants of
the modules that set them and lifetimes the constants their code reads
(``accounts/session_policy.py``), so nothing here is a second copy that could drift. The
browser test ``tests/browser/test_cookie_audit.py`` collects the cookies a real browser holds
after using the service and checks each against this declaration with ``audit``.

Callroster sets only strictly necessary cookies today: none for performance (analytics),
functionality or targeting, and none from third parties.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from callroster.accounts import session_policy
from callroster.api.auth import SESSION_COOKIE
from callroster.web import operator, privacy_request, signin
from callroster.web.common import page, viewer_of

router = APIRouter(include_in_schema=False)
HOME = "/cookies"


class Category(enum.Enum):
    """The cookie policy's four categories, in its order."""

    STRICTLY_NECESSARY = "Strictly necessary"
    PERFORMANCE = "Performance"
    FUNCTIONALITY = "Functionality"
    TARGETING = "Targeting or advertising"


@dataclass(frozen=True)
class Cookie:
    """One cookie the service sets.

    ``lifetime`` None is a browser-session cookie (no Max-Age: gone when the browser
    closes); ``longest`` is the longest Max-Age any answer gives it (None: never one).
    """

    name: str
    category: Category
    purpose: str
    path: str
    same_site: str  # "Lax" or "Strict", as a browser reports it
    longest: dt.timedelta | None
    lasts: str  # in plain words, for the page
    first_party: bool = True
    http_only: bool = True
    secure: bool = True


def _words(delta: dt.timedelta) -> str:
    days = delta.days
    if days and delta == dt.timedelta(days=days):
        return f"{days} day{'' if days == 1 else 's'}"
    hours = round(delta.total_seconds() / 3600)
    return f"{hours} hour{'' if hours == 1 else 's'}"


_SESSION = "Until the browser is closed"
COOKIES: tuple[Cookie, ...] = (
    Cookie(
        SESSION_COOKIE,
        Category.STRICTLY_NECESSARY,
        "Keeps a host or an administrator signed in. It holds a random token, not who you "
        "are; the session ends after 15 minutes without activity.",
        "/",
        "Lax",
        session_policy.STAY_SIGNED_IN_LIFETIME,
        f'{_SESSION}; with "stay signed in", {_words(session_policy.STAY_SIGNED_IN_LIFETIME)}',
    ),
    Cookie(
        signin.SIGNIN_COOKIE,
        Category.STRICTLY_NECESSARY,
        "Ties the sign-in form to this browser, so that another site cannot sign you in "
        "or out. Deleted once you are signed in.",
        "/login",
        "Lax",
        None,
        _SESSION,
    ),
    Cookie(
        signin.DEVICE_COOKIE,
        Category.STRICTLY_NECESSARY,
        "Remembers that this browser has signed in to an email address before, so that "
        "someone guessing its password elsewhere cannot slow your own sign-in down.",
        "/login",
        "Strict",
        session_policy.DEVICE_LIFETIME,
        _words(session_policy.DEVICE_LIFETIME),
    ),
    Cookie(
        operator.OPERATOR_COOKIE,
        Category.STRICTLY_NECESSARY,
        "Keeps the service's operator signed in to the operator pages; the session ends "
        "after 15 minutes without activity.",
        operator.HOME,
        "Strict",
        None,
        _SESSION,
    ),
    Cookie(
        operator.LOGIN_COOKIE,
        Category.STRICTLY_NECESSARY,
        "Ties the operator's sign-in form to this browser. Deleted once signed in.",
        "/operator/login",
        "Strict",
        None,
        _SESSION,
    ),
    Cookie(
        privacy_request.COOKIE,
        Category.STRICTLY_NECESSARY,
        "Ties the forms for asking about your data to this browser, so that another site "
        "cannot send a request in your name.",
        "/privacy",
        "Lax",
        None,
        _SESSION,
    ),
)
BY_NAME: Mapping[str, Cookie] = {cookie.name: cookie for cookie in COOKIES}


def audit(held: Iterable[Mapping[str, Any]], now: float, slack_s: float = 60.0) -> list[str]:
    """What is wrong with the cookies a browser holds (Playwright's ``context.cookies()``:
    ``expires`` in Unix seconds, -1 for a browser-session cookie), at Unix time ``now``: each
    undeclared cookie, each that lives longer than declared, each set with other attributes.
    An empty list means every cookie is as declared."""
    problems: list[str] = []
    for held_cookie in held:
        name = str(held_cookie["name"])
        declared = BY_NAME.get(name)
        if declared is None:
            problems.append(f"{name}: not declared")
            continue
        expires = float(held_cookie.get("expires", -1))
        if expires >= 0:
            if declared.longest is None:
                problems.append(f"{name}: persistent, declared for the browser session only")
            elif expires > now + declared.longest.total_seconds() + slack_s:
                problems.append(
                    f"{name}: expires {expires - now:.0f} s from now, past its lifetime"
                )
        if (held_cookie.get("path"), held_cookie.get("sameSite")) != (
            declared.path,
            declared.same_site,
        ):
            problems.append(f"{name}: path or SameSite not as declared")
        if (held_cookie.get("httpOnly"), held_cookie.get("secure")) != (
            declared.http_only,
            declared.secure,
        ):
            problems.append(f"{name}: HttpOnly or Secure not as declared")
    return problems


def rows() -> list[tuple[str, str, str, str, str]]:
    """The table's rows, as the page shows them: name, category, purpose, lifetime, party."""
    return [
        (
            cookie.name,
            cookie.category.value,
            cookie.purpose,
            cookie.lasts,
            "This service (first party)" if cookie.first_party else "Another company",
        )
        for cookie in COOKIES
    ]


def cookies_body() -> str:
    """The page's HTML, under its heading."""
    body = "".join(
        f'<tr data-name="{escape(name)}"><th scope="row" data-label="Name"><code>'
        f"{escape(name)}</code></th>"
        f'<td data-label="Category">{escape(category)}</td>'
        f'<td data-label="What it does">{escape(purpose)}</td>'
        f'<td data-label="How long it lasts">{escape(lasts)}</td>'
        f'<td data-label="Set by">{escape(party)}</td></tr>'
        for name, category, purpose, lasts, party in rows()
    )
    used = {cookie.category for cookie in COOKIES}
    unused = [c.value.lower() for c in Category if c not in used]
    none = (
        f'<p id="unused">This service sets no {", no ".join(unused)} cookies, and no '
        "other company sets cookies through it.</p>"
        if unused
        else ""
    )
    return f"""<p>Cookies are small pieces of text a website asks your browser to keep and
send back. This page lists every cookie this service sets, what each does and how long it
lasts. It is made from the service's own list, so it says what the service does.</p>
{none}
<table class="stack" id="cookies"><thead><tr><th scope="col">Name</th>
<th scope="col">Category</th><th scope="col">What it does</th>
<th scope="col">How long it lasts</th><th scope="col">Set by</th></tr></thead>
<tbody>{body}</tbody></table>
<p>Each is sent only over HTTPS, cannot be read by scripts on the page (HttpOnly), and is not
sent with requests that other sites start (SameSite). Strictly necessary cookies cannot be
switched off here: without them you could not sign in or make a request safely. Live Call
Status keeps your private address book in this browser's own storage; that is not a cookie
and is never sent to the service. See also <a href="/privacy">Privacy</a>.</p>"""


@router.get(HOME, response_class=HTMLResponse)
def cookies_page(request: Request) -> HTMLResponse:
    return page("Cookies", cookies_body(), viewer=viewer_of(request), here=HOME, wide=True)
