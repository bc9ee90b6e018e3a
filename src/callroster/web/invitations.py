"""``/me/conferences/{id}/invitation``: a conference's invitation for its host (or a
delegate, or an administrator): the text to copy, the calendar file to download, a form to
email it to a list of addresses, and what became of each email.

The API's own functions (``api.invitations``) do the work, so the page and the API refuse
the same people and the same lists, with the same words.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from callroster.api import invitations as api
from callroster.config import Settings
from callroster.invitations.invitation import as_text
from callroster.invitations.sender import MailServer
from callroster.store.invitations import OutboxEntry
from callroster.web.common import (
    Form,
    SignedIn,
    csrf_field,
    forbidden,
    form_refused,
    http_detail,
    message,
    notice,
    page,
    redirect,
    signed_in,
)

router = APIRouter(include_in_schema=False)
SCRIPT = "/static/invitation.js"
STATUS = {
    "queued": "Waiting to be sent",
    "retrying": "Not sent yet, trying again",
    "sent": "Sent",
    "failed": "Failed",
}


def _path(conference_id: str) -> str:
    return f"/me/conferences/{conference_id}/invitation"


@router.get("/me/conferences/{conference_id}/invitation", response_class=HTMLResponse)
def invitation_page(conference_id: str, request: Request, done: str | None = None) -> Response:
    said = "The invitation is on its way: each email's state is below." if done else None
    return _page(request, conference_id, done=said)


def _page(
    request: Request,
    conference_id: str,
    *,
    error: str | None = None,
    addresses: str = "",
    done: str | None = None,
    status_code: int = 200,
) -> Response:
    signed = signed_in(request, _path(conference_id))
    if not isinstance(signed, SignedIn):
        return signed
    settings: Settings = request.app.state.settings
    try:
        invitation = api.invitation_of(request, signed.caller, conference_id)
        sent = api.outbox(request, signed.caller, conference_id)
    except HTTPException as exc:
        body = f'{message(http_detail(exc))}<p><a href="/me">Back to your conferences</a></p>'
        return page("Invitation", body, status_code=exc.status_code, viewer=signed.viewer)
    ics = f"/api/v1/conferences/{escape(conference_id)}/invitation.ics"
    text = as_text(invitation)
    rows = text.count("\n") + 1
    body = f"""{notice(done)}<p><a href="/me">Back to your conferences</a></p>
<section aria-labelledby="text-heading"><h2 id="text-heading">{escape(invitation.title)}:
the invitation</h2>
<p class="note">For your guests: the room link, the numbers and the guest PIN. Your host
PIN is not in it.</p>
<p><label for="invitation-text">Invitation text</label>
<textarea id="invitation-text" readonly rows="{rows}">{escape(text)}</textarea></p>
<p><button type="button" id="copy-invitation" data-copy="invitation-text">Copy the
invitation</button> <span id="copy-status" role="status"></span></p>
</section>
<section aria-labelledby="calendar-heading"><h2 id="calendar-heading">Calendar file</h2>
<form method="get" action="{ics}">
{_when_fields("ics")}
<p><button type="submit">Download the calendar file (.ics)</button></p></form>
</section>
{_email_section(conference_id, signed, settings, error, addresses)}
{_outbox(sent)}"""
    return page(
        "Invite people",
        body,
        csrf=signed.csrf,
        status_code=status_code,
        scripts=(SCRIPT,),
        viewer=signed.viewer,
        here="/me",
    )


def _when_fields(prefix: str) -> str:
    return f"""<p><label for="{prefix}-start">Starts (UTC; empty: the next whole hour)</label>
<input id="{prefix}-start" name="start" type="datetime-local"></p>
<p><label for="{prefix}-minutes">Minutes</label>
<input id="{prefix}-minutes" name="minutes" type="number" min="{api.SHORTEST}"
 max="{api.LONGEST}" value="60" required></p>"""


def _email_section(
    conference_id: str, signed: SignedIn, settings: Settings, error: str | None, addresses: str
) -> str:
    heading = '<h2 id="email-heading">Send by email</h2>'
    if MailServer.of(settings) is None:
        return (
            f'<section aria-labelledby="email-heading">{heading}<p>This service has no mail '
            "server set up: copy the invitation or download the calendar file.</p></section>"
        )
    most = settings.invitations_per_sending
    invalid = ' aria-invalid="true"' if error else ""
    problem = (
        f'<p class="error" role="alert" id="addresses-error">{escape(error)}</p>' if error else ""
    )
    described = "addresses-hint addresses-error" if error else "addresses-hint"
    return f"""<section aria-labelledby="email-heading">{heading}
<form method="post" action="{_path(conference_id)}/emails">{csrf_field(signed.csrf)}
<p><label for="addresses">Email addresses</label>
<span class="note" id="addresses-hint">Up to {most}, separated by commas or one a line. Each
guest gets an email of their own, with the calendar file attached.</span>
<textarea id="addresses" name="addresses" rows="4" required maxlength="16000"
 aria-describedby="{described}"{invalid}>{escape(addresses)}</textarea></p>
{problem}{_when_fields("email")}
<p><button type="submit">Send the invitation</button></p></form></section>"""


def _outbox(entries: list[OutboxEntry]) -> str:
    heading = '<h2 id="outbox-heading">Sent invitations</h2>'
    if not entries:
        return (
            f'<section aria-labelledby="outbox-heading">{heading}'
            "<p>None in the last 30 days.</p></section>"
        )
    rows = "".join(
        f'<tr><td>{escape(e.address)}</td><td class="status-{escape(e.status)}">'
        f"{escape(_state(e))}</td><td>{e.created_at:%d %b %H:%M} UTC</td></tr>"
        for e in entries
    )
    return f"""<section aria-labelledby="outbox-heading">{heading}
<table id="outbox"><caption>Invitation emails of the last 30 days, newest first</caption>
<thead><tr><th scope="col">To</th><th scope="col">State</th><th scope="col">Asked</th></tr>
</thead><tbody>{rows}</tbody></table></section>"""


def _state(entry: OutboxEntry) -> str:
    said = STATUS.get(entry.status, entry.status)
    if entry.status == "sent" and entry.sent_at is not None:
        return f"{said} at {entry.sent_at:%H:%M} UTC"
    if entry.status == "retrying" and entry.next_attempt_at is not None:
        return f"{said} at {entry.next_attempt_at:%H:%M} UTC: {entry.last_error}"
    if entry.status == "failed":
        return f"{said}: {entry.last_error}"
    return said


@router.post("/me/conferences/{conference_id}/invitation/emails")
async def send_by_email(conference_id: str, request: Request, form: Form) -> Response:
    signed = signed_in(request, _path(conference_id))
    if not isinstance(signed, SignedIn):
        return signed
    if form_refused(form, signed):
        return forbidden()
    typed = form.get("addresses", "")
    try:
        body = api.EmailsIn(
            addresses=typed,
            start=form.get("start") or None,
            minutes=int(form.get("minutes") or 60),
        )
        await api.send_invitation(conference_id, body, signed.caller, request)
    except (ValidationError, ValueError):
        error = f"The length is {api.SHORTEST} to {api.LONGEST} minutes."
        return _page(request, conference_id, error=error, addresses=typed, status_code=400)
    except HTTPException as exc:
        return _page(
            request, conference_id, error=http_detail(exc), addresses=typed, status_code=400
        )
    return redirect(f"{_path(conference_id)}?done=queued")
