"""Giving and changing consent to cookies: ``POST /consent`` (the banner's and the settings'
forms) and ``/cookies/settings`` (the current choice, to change; linked from every footer).

``POST /consent`` records the choice as proof (``store.consent_records``: method banner or
settings, replacing the record the browser's cookie names), sets the compliance cookie
(``callroster_consent``, one month), removes the cookies of every category refused (each with
its declared path: HttpOnly ones too, which no script could), and sends the browser back to
the page it came from (303, a local path only).

**Only from this site's own pages.** The banner is on pages whose viewer has no session yet,
so there is no CSRF token to check: the browser says where the form came from. A request
whose ``Sec-Fetch-Site`` is anything but ``same-origin`` is refused (403); without that header
(an older browser: Safari before 16.4), ``Origin`` must be this site. The pages'
``Referrer-Policy: same-origin`` (``web/security_headers.py``) is what makes a browser send
its ``Origin`` with a form to this site; with ``no-referrer`` it would send ``Origin: null``.

**Bounded.** The body may hold ``FORM_LIMIT`` bytes (413 past it); one address may post
``PER_SOURCE`` times in ``WINDOW`` seconds (429), and the store refuses a network's records
past its hourly cap (429).

With Global Privacy Control or Do Not Track the browser's signal decides (reject all
optional); the forms are not shown, and a post is sent to the settings page, which says so.
"""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from callroster.accounts.actor import Actor, Role
from callroster.api.rate_limit import SlidingWindow, take
from callroster.privacy import consent
from callroster.privacy.consent import Category, Consent, Decision
from callroster.privacy.consent_record import (
    ConsentGiven,
    ConsentMethod,
    cut_user_agent,
    truncate_ip,
)
from callroster.store.consent_records import ConsentRateLimitedError
from callroster.store.store import Store
from callroster.web import consent_state, cookies
from callroster.web.common import NO_STORE, notice, page, redirect, source, viewer_of
from callroster.web.consent_banner import ACTION, SETTINGS, both_buttons, choose_form

router = APIRouter(include_in_schema=False)
FORM_LIMIT = 2048
PER_SOURCE = 30  # consents posted per address per WINDOW
RECORD_VIEWS_PER_SOURCE = 30  # settings pages per address per WINDOW showing what a record keeps
WINDOW = 600.0
_DECLARED = cookies.BY_NAME[consent.CONSENT_COOKIE]


def consent_cookie(given: Consent) -> str:
    """The ``Set-Cookie`` value of the compliance cookie for ``given``: one month, as
    declared (web/cookies.py)."""
    seconds = int(consent.CONSENT_LIFETIME.total_seconds())
    return (
        f"{consent.CONSENT_COOKIE}={given.cookie_value()}; Max-Age={seconds}; "
        f"Path={_DECLARED.path}; Secure; HttpOnly; SameSite={_DECLARED.same_site}"
    )


def record(
    store: Store,
    optional: frozenset[Category],
    method: str,
    client: str,
    user_agent: str,
    replaces: str | None,
) -> Consent:
    """Record a consent given now (the store's clock) to the current text; returns it as
    the compliance cookie will carry it.

    Raises:
        ConsentRateLimitedError: the client's network recorded too many this hour.
    """
    given = ConsentGiven(
        optional=frozenset(category.key for category in optional),
        policy_version=consent.POLICY_VERSION,
        text_sha256=consent.TEXT_SHA256,
        given_at=store.clock(),
        method=ConsentMethod(method),
        ip_truncated=truncate_ip(client),
        user_agent=cut_user_agent(user_agent),
        replaces=replaces,
    )
    record_id = store.consent_records.add(given)
    return Consent(optional, consent.POLICY_VERSION, method, record_id)


def same_origin(request: Request) -> bool:
    """Whether the browser says this request comes from this site's own page."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site == "same-origin"
    origin = request.headers.get("origin")
    return origin is not None and origin == f"{request.url.scheme}://{request.url.netloc}"


def local_path(candidate: str | None) -> str:
    """``candidate`` if it is a path on this site (``/c/abc?country=FR``), else ``/``: never
    another host (``//evil.example``, ``https://…``, ``/\\evil``)."""
    if not candidate or len(candidate) > 512 or not candidate.startswith("/"):
        return "/"
    if candidate.startswith("//") or "\\" in candidate or any(ord(c) < 32 for c in candidate):
        return "/"
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc:
        return "/"
    return candidate


async def _small_form(request: Request) -> dict[str, str] | None:
    """The URL-encoded body (first value of each field), or None past ``FORM_LIMIT``."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:
            return None
    fields: dict[str, str] = {}
    for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        fields.setdefault(name, value)
    return fields


def _window(request: Request) -> SlidingWindow:
    state = request.app.state
    window = getattr(state, "consent_window", None)
    if window is None:
        window = state.consent_window = SlidingWindow(PER_SOURCE, WINDOW)
    assert isinstance(window, SlidingWindow)
    return window


def _refusal(title: str, text: str, code: int, headers: dict[str, str] | None = None) -> Response:
    body = f'<p role="alert" id="message">{escape(text)}</p>'
    return page(title, body, status_code=code, headers=headers)


def _decision() -> Decision:
    state = consent_state.current()
    assert state is not None, "ConsentMiddleware sets the consent of every request"
    return state.decision


@router.post(ACTION)
async def give_consent(request: Request) -> Response:
    if not same_origin(request):
        return _refusal(
            "This form did not come from this site",
            "Cookie choices can only be made on this site's own pages.",
            status.HTTP_403_FORBIDDEN,
        )
    wait = take([(_window(request), source(request))], request.app.state.monotonic())
    if wait > 0:
        return _refusal(
            "Too many choices",
            "Too many cookie choices from this address; try again in a few minutes.",
            status.HTTP_429_TOO_MANY_REQUESTS,
            {"Retry-After": str(int(wait) + 1)},
        )
    fields = await _small_form(request)
    if fields is None:
        return _refusal("Too large", "This form is too large.", 413)
    decision = _decision()
    if decision.signal is not None:
        return redirect(SETTINGS)  # the browser's signal decides; the page says so
    optional = consent.chosen(fields)
    method = "settings" if fields.get("from") == "settings" else "banner"
    try:
        given = await run_in_threadpool(
            record,
            request.app.state.store,
            optional,
            method,
            source(request),
            request.headers.get("user-agent", ""),
            decision.previous_id,
        )
    except ConsentRateLimitedError as exc:
        return _refusal(
            "Too many choices",
            "Too many cookie choices from this network; try again later.",
            status.HTTP_429_TOO_MANY_REQUESTS,
            {"Retry-After": str(exc.retry_after_s)},
        )
    back = local_path(fields.get("next"))
    if method == "settings":
        back = f"{SETTINGS}?saved=1"
    answer = redirect(back)
    answer.headers.append("set-cookie", consent_cookie(given))
    for refused in cookies.refused(optional):
        answer.headers.append("set-cookie", cookies.expiry(refused))
    return answer


HOW = {
    "banner": "on the banner",
    "settings": "on this page",
    "gpc": "by Global Privacy Control",
    "dnt": "by Do Not Track",
}


def _recorded(request: Request, store: Store, decision: Decision, keeps: bool) -> str:
    """When and how the browser's current choice was recorded, and, with ``keeps``, what its
    record keeps about this browser (decrypted for it alone, audit-logged:
    ``shown_to_its_browser``; each address may see that ``RECORD_VIEWS_PER_SOURCE`` times in
    ``WINDOW``, so reloading the page cannot make unbounded reads and audit entries)."""
    current = decision.current
    if current is None:
        return ""
    if keeps:
        visitor = Actor(
            f"consent:{current.record_id[:8]}", Role.GUEST, None, source(request), "settings"
        )
        shown = store.consent_records.shown_to_its_browser(visitor, current.record_id)
        record = shown.view if shown is not None else None
    else:
        shown, record = None, store.consent_records.get(current.record_id)
    if record is None:
        return ""
    when = record.given_at.strftime("%d %B %Y at %H:%M UTC")
    said = (
        f'<p id="recorded">Recorded {escape(HOW.get(record.method.value, ""))} on '
        f"{escape(when)}, as record <code>{escape(record.id)}</code>, for version "
        f"{escape(record.policy_version)} of this text.</p>"
    )
    if shown is None:
        return said + (
            '<p id="record-keeps-later">What the record keeps about this browser is shown '
            "again in a few minutes: this address has looked often.</p>"
        )
    return (
        said + '<details id="record-keeps"><summary>What the record keeps about this browser'
        "</summary><dl>"
        f"<dt>Your network</dt><dd><code>{escape(shown.ip_truncated)}</code> (your address with "
        "its last part removed)</dd>"
        f"<dt>Your browser</dt><dd><code>{escape(shown.user_agent)}</code></dd>"
        "</dl><p>Both are kept encrypted, with the record, for as long as the record is the "
        "proof of your choice, then deleted. Nothing in it names you, and nobody but this "
        "browser, which holds the record's number in its cookie, and the service's operator "
        "can read them.</p></details>"
    )


def _current_words(decision: Decision) -> str:
    if decision.signal is not None:
        name = consent.SIGNAL_NAMES[decision.signal]
        return (
            f'<p class="done" id="signal-honoured" role="status">Your browser sends {name}. '
            "We have honoured it as \u201creject all optional\u201d: no performance or "
            "functionality cookies and no page timing. To choose otherwise, switch it off "
            "in your browser's settings.</p>"
        )
    current = decision.current
    if current is None:
        return '<p id="current-choice">You have not chosen yet: nothing optional is on.</p>'
    accepted = [c.value for c in consent.CHOOSABLE if c in current.optional]
    words = (
        "you accepted " + " and ".join(accepted).lower() + " cookies"
        if accepted
        else "you rejected all optional cookies"
    )
    return f'<p id="current-choice">Your current choice: {escape(words)}.</p>'


def _view_window(request: Request) -> SlidingWindow:
    state = request.app.state
    window = getattr(state, "consent_view_window", None)
    if window is None:
        window = state.consent_view_window = SlidingWindow(RECORD_VIEWS_PER_SOURCE, WINDOW)
    assert isinstance(window, SlidingWindow)
    return window


@router.get(SETTINGS, response_class=HTMLResponse)
async def settings_page(request: Request, saved: str | None = None) -> HTMLResponse:
    decision = _decision()
    # Counted on the event loop, with no await between check and count (api/rate_limit.py).
    keeps = decision.current is not None and (
        take([(_view_window(request), source(request))], request.app.state.monotonic()) == 0
    )
    return await run_in_threadpool(_settings_page, request, saved, decision, keeps)


def _settings_page(
    request: Request, saved: str | None, decision: Decision, keeps: bool
) -> HTMLResponse:
    store = request.app.state.store
    body = notice("Your choice is saved." if saved and decision.signal is None else None)
    body += _current_words(decision) + _recorded(request, store, decision, keeps)
    if decision.signal is None:
        body += f"""<p>Strictly necessary cookies are always on. Choose the others below;
when you take a consent back, the cookies of that category are removed at once.</p>
{both_buttons(SETTINGS, "settings")}
{choose_form(SETTINGS, "settings", decision.optional, "settings")}"""
    body += '<p><a href="/cookies">Every cookie this service sets</a></p>'
    return page("Cookie settings", body, viewer=viewer_of(request), here=SETTINGS, headers=NO_STORE)
