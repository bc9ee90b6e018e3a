"""Headers that tell the browser how far to trust a page: every answer of the web app gets
them, whatever route or error made it.

Every answer: ``Referrer-Policy: same-origin`` (a conference page's URL holds its link, a
bearer secret, and must never leave for another site in a ``Referer``; to this site itself a
browser sends it, which is what makes it send its ``Origin`` with a form: with
``no-referrer`` a form's ``Origin`` is ``null``, and Safari before 16.4, which sends no
``Sec-Fetch-Site``, could not post a consent choice: ``web/consent.py``). The pages whose URL
holds a one-time secret (``ONE_TIME_LINKS``: an account's set-up link, an unsubscribe link,
a download of one's data) keep ``no-referrer``: their secret goes nowhere at all, not even to
this site's own logs of its scripts and styles. ``X-Content-Type-Options: nosniff``.

Every HTML page, in addition:
- ``Content-Security-Policy`` (``PAGE_POLICY``): scripts, styles, images and connections from
  this site only, no inline script or style (the pages have none: each page's script and
  stylesheet is a file under ``/static``), no plugins, no ``<base>``, forms posted only here,
  and ``frame-ancestors 'none'``: no other site may frame a page and dress it up to make a
  visitor press "Join with my microphone". ``X-Frame-Options: DENY`` says the same to older
  browsers.
- ``Permissions-Policy``: the microphone for this site's own pages only, and no camera,
  location, screen capture, payment or USB for anyone.
- ``Cache-Control: no-store``: pages show PINs, host controls, second-factor secrets and
  account settings; neither the browser's cache nor a proxy may keep them.

Every answer over HTTPS, and only over HTTPS (the scheme the request came in with: the web
port's own TLS, or ``X-Forwarded-Proto: https`` from a trusted proxy, which uvicorn has already
applied), in addition: ``Strict-Transport-Security: max-age=31536000; includeSubDomains``
(``HSTS``): for a year the browser goes to this host, and its subdomains, over HTTPS only, and
lets nobody click through a certificate warning. RFC 6797 8.1: a browser ignores it over plain
HTTP, so it is never sent there.

A header a route set itself is left alone. FastAPI's own API documentation (``/docs``,
``/redoc``) loads its script from elsewhere and inline; it gets ``DOCS_POLICY``, which still
refuses framing.

Pure ASGI: headers are added to the ``http.response.start`` message as it passes.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "media-src 'self' blob: mediastream:",
        "form-action 'self'",
        "base-uri 'none'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    )
)
DOCS_POLICY = "frame-ancestors 'none'; object-src 'none'; base-uri 'none'"
PERMISSIONS_POLICY = ", ".join(
    (
        "microphone=(self)",
        "camera=()",
        "geolocation=()",
        "display-capture=()",
        "payment=()",
        "usb=()",
    )
)
EVERY_ANSWER = {
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}
ONE_TIME_LINKS = ("/setup/", "/unsubscribe/", "/privacy/export/")  # path prefixes
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
HTML_ONLY = {
    "X-Frame-Options": "DENY",
    "Permissions-Policy": PERMISSIONS_POLICY,
    "Cache-Control": "no-store",
}


class SecurityHeaders:
    """ASGI middleware: the headers of the module docstring on every HTTP answer.
    ``docs_paths`` are the paths of the framework's documentation pages."""

    def __init__(self, app: ASGIApp, docs_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.docs_paths = frozenset(docs_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = DOCS_POLICY if scope["path"] in self.docs_paths else PAGE_POLICY

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                wanted = dict(EVERY_ANSWER)
                if scope["path"].startswith(ONE_TIME_LINKS):
                    wanted["Referrer-Policy"] = "no-referrer"
                if scope.get("scheme") == "https":
                    wanted[HSTS[0]] = HSTS[1]
                if headers.get("content-type", "").startswith("text/html"):
                    wanted.update(HTML_ONLY)
                    wanted["Content-Security-Policy"] = policy
                for name, value in wanted.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
