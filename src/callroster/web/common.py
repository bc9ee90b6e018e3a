"""What every server-rendered page shares: the signed-in session, CSRF-checked URL-encoded
forms, one page template (plain HTML, one stylesheet, no script), redirects and messages."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Annotated
from urllib.parse import parse_qsl, quote

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from callroster.api.auth import SESSION_COOKIE, Caller, caller_for_session, store_of
from callroster.store.sessions import SessionView, csrf_matches, csrf_token_for

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
<link rel="stylesheet" href="/static/signin.css">
</head>
<body><main{main_class}>
<h1>{title}</h1>
{body}
</main>{scripts}</body></html>
"""


def page(
    title: str,
    body: str,
    *,
    csrf: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    wide: bool = False,
    scripts: tuple[str, ...] = (),
) -> HTMLResponse:
    """A page; ``wide`` for one with tables (the administrator's portal); ``scripts`` are
    this site's own (the policy of ``web/security_headers.py`` allows no other, and no inline
    script or style)."""
    meta = f'<meta name="csrf-token" content="{escape(csrf)}">\n' if csrf else ""
    main_class = ' class="wide"' if wide else ""
    tags = "".join(f'<script src="{escape(src)}" defer></script>' for src in scripts)
    return HTMLResponse(
        PAGE.format(meta=meta, title=escape(title), body=body, main_class=main_class, scripts=tags),
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
