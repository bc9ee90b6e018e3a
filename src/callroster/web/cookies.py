"""Every cookie the service sets, declared once (``COOKIES``), and ``/cookies``: the public
cookie policy page, made from that declaration.

A cookie is declared with the category of the cookie policy it falls in (the International
Chamber of Commerce's four: strictly necessary, performance, functionality, targeting), what
it does, how long it may last, and the attributes it is set with. Names are the constants of
the modules that set them and lifetimes the constants their code reads
(``accounts/session_policy.py``), so nothing here is a second copy that could drift. The
browser test ``tests/browser/test_cookie_audit.py`` collects the cookies a real browser holds
after using the service and checks each against this declaration with ``audit``.

Strictly necessary cookies need no consent; the compliance cookie (``callroster_consent``,
which keeps the choice itself) is one of them. The one optional cookie is functionality's
region choice (``callroster_region``), set only with that consent. Performance is measured by
an anonymous beacon with no cookie. No targeting cookies, none from third parties.
``expiry`` is the ``Set-Cookie`` that removes a declared cookie (the same path, ``Max-Age=0``):
what ``web/consent_middleware.py`` sends for a cookie of a category not consented to.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from callroster.accounts import session_policy
from callroster.api.auth import SESSION_COOKIE
from callroster.privacy import consent
from callroster.privacy.consent import Category
from callroster.web import numbers, operator, privacy_request, signin
from callroster.web.common import page, viewer_of

router = APIRouter(include_in_schema=False)
HOME = "/cookies"


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
    Cookie(
        consent.CONSENT_COOKIE,
        # The policy calls its compliance cookie "functionality"; but it records the choice
        # itself, consent or refusal, which the law requires be kept: strictly necessary.
        Category.STRICTLY_NECESSARY,
        "Remembers your choice of cookies (or that your browser asked for none, by Global "
        "Privacy Control or Do Not Track), so that you are not asked on every page. It "
        "holds the choice and the random id of its record, not who you are.",
        "/",
        "Lax",
        consent.CONSENT_LIFETIME,
        "1 month",
    ),
    Cookie(
        numbers.REGION_COOKIE,
        Category.FUNCTIONALITY,
        "Remembers the country whose dial-in numbers you chose on a conference's page, so "
        "that they come first next time. Set only if you accept functionality cookies.",
        "/c",
        "Lax",
        numbers.REGION_LIFETIME,
        "1 year",
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


def expiry(cookie: Cookie) -> str:
    """The ``Set-Cookie`` value that removes ``cookie`` from a browser: the same name, path
    and attributes, ``Max-Age=0``."""
    attributes = [f'{cookie.name}=""', "Max-Age=0", f"Path={cookie.path}"]
    if cookie.secure:
        attributes.append("Secure")
    if cookie.http_only:
        attributes.append("HttpOnly")
    attributes.append(f"SameSite={cookie.same_site}")
    return "; ".join(attributes)


def refused(allowed: Iterable[Category], names: Iterable[str] | None = None) -> list[Cookie]:
    """The declared cookies of a category not in ``allowed`` (strictly necessary ones are
    never refused); only those named in ``names`` when given (the ones a request carried)."""
    keep = {Category.STRICTLY_NECESSARY, *allowed}
    wanted = None if names is None else set(names)
    return [
        cookie
        for cookie in COOKIES
        if cookie.category not in keep and (wanted is None or cookie.name in wanted)
    ]


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


def _consent_section(signal: str | None) -> str:
    if signal is not None:
        name = consent.SIGNAL_NAMES[signal]
        honoured = (
            f'<p class="done" id="signal-honoured" role="status">Your browser sends {name}. '
            "We have honoured it: no performance or functionality cookies, and no page "
            "timing, without asking you.</p>"
        )
    else:
        honoured = ""
    return f"""<h2 id="your-choice">Your choice</h2>
{honoured}<p>Cookies other than strictly necessary ones are set only with your consent, asked
for on your first visit: accept all, reject all, or choose by category. You can change your
choice at any time in <a href="/cookies/settings">Cookie settings</a>, linked at the foot of
every page. When you take back a consent, the cookies of that category are removed at once.
Your choice is kept in the <code>{consent.CONSENT_COOKIE}</code> cookie for one month, and as
a record of your consent (its random id, the categories, the version of this text, when and
how it was given, your network address with its last part removed, and your browser's name)
that we keep as proof. When this text changes, you are asked again.</p>
<p>The cookie policy counts its compliance cookie as a functionality cookie. We count
<code>{consent.CONSENT_COOKIE}</code> as strictly necessary: it only records your choice,
refusal included, which we must keep to respect it and could not ask for consent to keep.</p>
<h2 id="signals">Global Privacy Control and Do Not Track</h2>
<p>If your browser sends Global Privacy Control (<code>Sec-GPC: 1</code>) or Do Not Track
(<code>DNT: 1</code>), we take it as “reject all optional”: you are not asked, no
optional cookie is set and no page timing is sent, and we record that choice. The cookie
policy honours neither signal; we honour both.</p>"""


def cookies_body(signal: str | None = None) -> str:
    """The page's HTML, under its heading; ``signal``: the privacy signal the viewer's
    browser sends (``"gpc"``, ``"dnt"``), which the page says it honoured."""
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
and is never sent to the service. See also <a href="/privacy">Privacy</a>.</p>
<h2 id="performance">Page timing</h2>
<p>With performance consent, each page sends this service how long it took to load. It is
added to a total for that kind of page (all conference pages together), with no cookie and
nothing that identifies you or the page's address. Without that consent the page does not
send it.</p>
{_consent_section(signal)}"""


@router.get(HOME, response_class=HTMLResponse)
def cookies_page(request: Request) -> HTMLResponse:
    signal = consent.privacy_signal(request.headers.get("sec-gpc"), request.headers.get("dnt"))
    return page("Cookies", cookies_body(signal), viewer=viewer_of(request), here=HOME, wide=True)
