"""The operator's consent records page: ``/operator/consent`` (issue 16).

It shows the public key the exports are signed with (PEM and its id; anyone may fetch it at
``/api/v1/consent/public-key``), the earlier keys still valid for checking old exports
(``/api/v1/consent/public-keys``; rotated with ``callroster consent rotate-key``), and
downloads the signed export, JSON or CSV, for a window of time, with the operator's browser
session (``/operator/consent/export``): the same file as the operator API's
(``api/operator_consent.py``), at most 100,000 records a download; when more remain the page
says from when to continue. Every download is audit-logged by ``store.consent_records`` with
how many records, never what they hold.
"""

from __future__ import annotations

import datetime as dt
from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from callroster.accounts.actor import Role
from callroster.api.auth import store_of
from callroster.api.operator_consent import PUBLIC_KEY_PATH, PUBLIC_KEYS_PATH, export_response
from callroster.privacy.consent_export import Format, public_key_pem
from callroster.store.consent_records import EXPORT_ROW_LIMIT
from callroster.store.consent_signing import SigningKey
from callroster.store.sessions import csrf_token_for
from callroster.web.common import Viewer, message, page, redirect
from callroster.web.operator import _operator

router = APIRouter(include_in_schema=False)
PAGE = "/operator/consent"
EXPORT = "/operator/consent/export"


def _moment(value: str | None) -> dt.datetime | None:
    """A time from the form (``datetime-local`` or ISO 8601), in UTC; a time without a zone
    is UTC. Raises ValueError when it is not one."""
    if not value:
        return None
    moment = dt.datetime.fromisoformat(value.strip()[:40])
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


class _BadExport(ValueError):
    """A download the form asked for wrongly; the message says what to change."""


def _window(fmt: str, since: str | None, until: str | None) -> tuple[dt.datetime | None, ...]:
    if fmt not in ("json", "csv"):
        raise _BadExport("choose JSON or CSV")
    try:
        start, end = _moment(since), _moment(until)
    except ValueError:
        raise _BadExport("give times as the form does (2026-12-07T09:30:00)") from None
    if start is not None and end is not None and start >= end:
        raise _BadExport("the start must be before the end")
    return start, end


def _body(request: Request, error: str | None = None) -> str:
    keys = store_of(request).consent_records.signing_keys.all()
    public = keys[0].public_key
    return f"""{message(error)}<p>Each choice a browser makes about optional cookies (at the
banner, in the cookie settings, or by Global Privacy Control or Do-Not-Track) is kept as a
consent record. Download them here, signed, as proof of what was consented to.</p>
<form method="get" action="{EXPORT}" id="consent-export">
<p><label for="format">Format</label>
<select id="format" name="format"><option value="json">JSON</option>
<option value="csv">CSV</option></select></p>
<p><label for="since">Given from (UTC, optional)</label>
<input id="since" name="since" type="datetime-local" step="1"></p>
<p><label for="until">Given before (UTC, optional)</label>
<input id="until" name="until" type="datetime-local" step="1"></p>
<p><button type="submit">Download signed export</button></p>
<p>At most {EXPORT_ROW_LIMIT:,} records a download, oldest first; when more remain, the
export's <code>next_since</code> says where to start the next one (put it in "Given
from").</p></form>
<h2 id="key-heading">The public key</h2>
<p>Check an export with <code>callroster consent verify FILE --public-key consent.pem</code>
(or any Ed25519 library). Key id <code id="key-id">{keys[0].key_id}</code>; also at
<a href="{PUBLIC_KEY_PATH}">{PUBLIC_KEY_PATH}</a>.</p>
<pre id="public-key">{escape(public_key_pem(public))}</pre>
{_earlier(keys[1:])}"""


def _earlier(keys: list[SigningKey]) -> str:
    """The retired keys, whose exports still verify (rotation: ``callroster consent
    rotate-key``)."""
    rotate = "<code>callroster consent rotate-key</code>"
    if not keys:
        return f"<p>The key has not been rotated ({rotate} makes a new one).</p>"
    items = "".join(
        f"<li><code>{k.key_id}</code>: signed from {k.since:%Y-%m-%d %H:%M} to "
        f"{k.retired_at:%Y-%m-%d %H:%M} UTC</li>"
        for k in keys
    )
    return f"""<h2 id="earlier-keys-heading">Earlier keys</h2>
<p>Exports signed before a rotation ({rotate}) still verify with the key they name; these
keys' private halves were destroyed at rotation, so they sign nothing any more. All keys:
<a href="{PUBLIC_KEYS_PATH}">{PUBLIC_KEYS_PATH}</a>.</p>
<ul id="earlier-keys">{items}</ul>"""


@router.get(PAGE, response_class=HTMLResponse)
def consent_page(request: Request) -> Response:
    current = _operator(request)
    if current is None:
        return redirect("/operator/login")
    csrf = csrf_token_for(current[0])
    return page(
        "Consent records",
        _body(request),
        csrf=csrf,
        viewer=Viewer(Role.OPERATOR, csrf),
        here=PAGE,
    )


@router.get(EXPORT)
def consent_download(
    request: Request,
    format: str = "json",  # noqa: A002 - the form field's name
    since: str | None = None,
    until: str | None = None,
) -> Response:
    current = _operator(request)
    if current is None:
        return redirect("/operator/login")
    token, actor = current
    try:
        start, end = _window(format, since, until)
    except _BadExport as exc:
        csrf = csrf_token_for(token)
        return page(
            "Consent records",
            _body(request, error=f"That export cannot be made: {exc}."),
            csrf=csrf,
            viewer=Viewer(Role.OPERATOR, csrf),
            here=PAGE,
            status_code=422,
        )
    fmt: Format = "csv" if format == "csv" else "json"
    signed = store_of(request).consent_records.signed_export(actor, fmt, since=start, until=end)
    stamp = f"{store_of(request).clock():%Y%m%dT%H%M%SZ}"
    return export_response(signed, fmt, stamp)
