"""Consent on every request: which optional categories this browser has consented to, for the
layout and the routes, and no cookie of another category kept or set.

For each HTTP request the middleware reads the compliance cookie and the privacy signals
(``privacy.consent.decide``) and makes the result the request's (``web/consent_state.py``).
On the answer's way out:

- a ``Set-Cookie`` of a declared cookie whose category is not consented to is dropped (a
  route that forgot to ask cannot set one);
- each cookie the request carried whose declared category is not consented to is expired
  (``Max-Age=0``, its declared path and attributes: HttpOnly ones too), unless the answer
  already sets it;
- a browser sending Global Privacy Control or Do Not Track whose cookie does not yet say
  "reject all" gets that consent recorded (method ``gpc``/``dnt``) and the compliance cookie,
  once, with the first page (an HTML answer to a navigation, ``Sec-Fetch-Mode: navigate``)
  it is sent. A client that sends no such header (a crawler sending ``DNT: 1`` with every
  request and keeping no cookie) is not recorded page after page; nor is one whose network
  made too many records this hour. The signal rules their requests all the same.

Pure ASGI: headers are read from the scope and changed on the ``http.response.start``
message as it passes.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callroster.privacy import consent
from callroster.privacy.consent import Decision
from callroster.store.consent_records import ConsentRateLimitedError
from callroster.web import consent_state, cookies
from callroster.web.consent import consent_cookie, local_path, record

log = logging.getLogger(__name__)


def back_to(path: str, query: bytes) -> str:
    """Where the banner's forms return: this path, with only two things of its query, each
    checked: the country chosen (``?country=FR``), and where signing in goes next
    (``?next=/admin``, a path on this site). Nothing else a link put in the query is echoed
    into the page."""
    fields = dict(parse_qsl(query.decode("latin-1")))
    kept: list[tuple[str, str]] = []
    country = fields.get("country", "").strip()
    if re.fullmatch(r"[A-Za-z]{2}", country):
        kept.append(("country", country))
    after = fields.get("next", "")
    if after and local_path(after) == after:
        kept.append(("next", after))
    return f"{path}?{urlencode(kept)}" if kept else path


def _cookie_name(set_cookie: str) -> str:
    return set_cookie.split("=", 1)[0].strip()


def _is_expiry(set_cookie: str) -> bool:
    return any(part.strip().lower() == "max-age=0" for part in set_cookie.split(";"))


class ConsentMiddleware:
    """ASGI middleware: the consent of each request, and the cookies of its answer (see the
    module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        carried = cookie_parser(headers.get("cookie", ""))
        decision = consent.decide(
            carried.get(consent.CONSENT_COOKIE), headers.get("sec-gpc"), headers.get("dnt")
        )
        here = back_to(scope["path"], scope.get("query_string", b""))
        token = consent_state.enter(consent_state.ConsentState(decision, here, scope))

        async def send_with_consent(message: Message) -> None:
            if message["type"] == "http.response.start":
                await self._answer_cookies(scope, message, decision, set(carried))
            await send(message)

        try:
            await self.app(scope, receive, send_with_consent)
        finally:
            consent_state.leave(token)

    async def _answer_cookies(
        self, scope: Scope, message: Message, decision: Decision, carried: set[str]
    ) -> None:
        refused = {cookie.name: cookie for cookie in cookies.refused(decision.optional)}
        kept: list[tuple[bytes, bytes]] = []
        mentioned: set[str] = set()
        for name, value in message.get("headers", []):
            if name.lower() == b"set-cookie":
                text = value.decode("latin-1")
                cookie_name = _cookie_name(text)
                if cookie_name in refused and not _is_expiry(text):
                    log.warning("dropped cookie %s: its category is not consented to", cookie_name)
                    continue
                mentioned.add(cookie_name)
            kept.append((name, value))
        message["headers"] = kept
        headers = MutableHeaders(scope=message)
        for name in sorted(carried & set(refused) - mentioned):
            headers.append("set-cookie", cookies.expiry(refused[name]))
        navigated = Headers(scope=scope).get("sec-fetch-mode") == "navigate"
        if (
            decision.record is not None
            and navigated
            and headers.get("content-type", "").startswith("text/html")
        ):
            await self._record_signal(scope, headers, decision)

    @staticmethod
    async def _record_signal(scope: Scope, headers: MutableHeaders, decision: Decision) -> None:
        assert decision.record is not None
        asked = Headers(scope=scope)
        client = scope.get("client")
        try:
            given = await run_in_threadpool(
                record,
                scope["app"].state.store,
                frozenset(),
                decision.record,
                client[0] if client else "unknown",
                asked.get("user-agent", ""),
                decision.previous_id,
            )
        except ConsentRateLimitedError:
            return  # the signal still rules this request and the next
        headers.append("set-cookie", consent_cookie(given))
