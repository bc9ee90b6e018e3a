"""The conference page a guest opens from an invitation link: how to join.

Live Call Status (the roster) is not built yet; this page shows the join details only.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse

from callroster.accounts.actor import Actor, Role
from callroster.api.auth import store_of

router = APIRouter()

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Callroster</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;
color:#111;background:#fff;line-height:1.5}}
h1{{font-size:1.5rem}} dt{{font-weight:600;margin-top:.75rem}} code{{font-size:1.1rem}}
</style></head>
<body><main>
<h1>{title}</h1>
<p>Join this conference by phone.</p>
<dl>
{numbers}
<dt>PIN</dt><dd><code id="pin">{pin}</code> then <kbd>#</kbd></dd>
<dt>Direct SIP address</dt><dd><code id="direct">{direct}</code></dd>
</dl>
</main></body></html>
"""


@router.get("/c/{link}", response_class=HTMLResponse, include_in_schema=False)
def conference_page(link: str, request: Request) -> HTMLResponse:
    store = store_of(request)
    settings = request.app.state.settings
    target = store.conferences.find_by_web_link(link) if len(link) <= 64 else None
    if target is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no conference at this link")
    conference_id, account_id = target
    source = request.client.host if request.client else "unknown"
    # Holding the link makes a guest of that conference's account; the read is audit-logged.
    guest = Actor(f"link:{link[:6]}", Role.GUEST, account_id, source, "open conference page")
    view = store.conferences.get_conference(guest, conference_id)
    sip_host = f"{settings.host_for_links}:{settings.sip_port}"
    numbers = "\n".join(
        f'<dt>Dial in</dt><dd><code class="dial-in">sip:{escape(n)}@{escape(sip_host)}</code></dd>'
        for n in view.dial_in_numbers
    )
    return HTMLResponse(
        PAGE.format(
            title=escape(view.title),
            numbers=numbers,
            pin=escape(view.pin),
            direct=escape(f"sip:{view.pin}@{sip_host}"),
        )
    )
