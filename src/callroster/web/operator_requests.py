"""The operator's queue of data-subject requests: ``/operator/requests`` (issue 15).

Only requests whose maker proved who they are are listed (oldest deadline first), each with
its statutory deadline (``Settings.privacy_request_days`` from when it was made) and, open
past it, flagged **overdue**. A rectification or an erasure waits for the operator: approve
(the correction is applied; the erasure is carried out by ``store.erasure``) or refuse with
a reason. Access and marketing opt-out are done when the code is right. No address or name
is shown: the queue names requests by id, kind and channel. Every look and decision is
audit-logged by ``store.privacy_requests``.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from callroster.accounts.actor import Role
from callroster.api.auth import store_of
from callroster.errors import NotFoundError
from callroster.privacy.subject_requests import DECIDED_BY_OPERATOR, KIND_LABELS, RequestStatus
from callroster.store.privacy_decisions import decide
from callroster.store.privacy_requests import RequestView
from callroster.store.sessions import csrf_matches, csrf_token_for
from callroster.web.common import (
    Form,
    Viewer,
    csrf_field,
    forbidden,
    message,
    notice,
    page,
    redirect,
)
from callroster.web.operator import _operator

router = APIRouter(include_in_schema=False)
QUEUE = "/operator/requests"


def _row(view: RequestView, csrf: str) -> str:
    due = f"{view.due_at:%Y-%m-%d}"
    if view.overdue:
        due += ' <strong class="error">overdue</strong>'
    actions = ""
    if view.status is RequestStatus.VERIFIED and view.kind in DECIDED_BY_OPERATOR:
        target = f"{QUEUE}/{escape(view.id)}"
        actions = (
            f'<form method="post" action="{target}/approve">{csrf_field(csrf)}'
            f'<button type="submit">Approve</button></form>'
            f'<form method="post" action="{target}/refuse">{csrf_field(csrf)}'
            f'<label for="why-{escape(view.id)}">Reason</label> '
            f'<input id="why-{escape(view.id)}" name="reason" maxlength="500" required> '
            f'<button type="submit">Refuse</button></form>'
        )
    result = view.outcome or ""
    if view.refusal:
        result = f"Refused: {view.refusal}"
    return (
        f'<tr id="request-{escape(view.id)}"><th scope="row"><code>{escape(view.id[:8])}'
        f"</code></th><td>{escape(KIND_LABELS[view.kind])}</td>"
        f"<td>{escape(view.channel.value)}</td><td>{view.received_at:%Y-%m-%d %H:%M}</td>"
        f"<td>{due}</td><td>{escape(view.status.value)}</td><td>{escape(result)}</td>"
        f"<td>{actions}</td></tr>"
    )


def _queue(
    request: Request, token: str, *, done: str | None = None, error: str | None = None
) -> Response:
    _, actor = _operator(request) or (None, None)
    assert actor is not None
    csrf = csrf_token_for(token)
    views = store_of(request).privacy_requests.list(actor)
    overdue = sum(view.overdue for view in views)
    rows = "\n".join(_row(view, csrf) for view in views)
    table = (
        f"""<p id="overdue-count">{overdue} overdue.</p>
<table id="requests"><caption>Data-subject requests</caption>
<thead><tr><th scope="col">Request</th><th scope="col">Kind</th><th scope="col">By</th>
<th scope="col">Received (UTC)</th><th scope="col">Due</th><th scope="col">Status</th>
<th scope="col">Outcome</th><th scope="col">Decision</th></tr></thead>
<tbody>
{rows}
</tbody></table>"""
        if views
        else '<p id="requests">No requests.</p>'
    )
    return page(
        "Privacy requests",
        f"{notice(done)}{message(error)}{table}",
        csrf=csrf,
        wide=True,
        viewer=Viewer(Role.OPERATOR, csrf),
        here=QUEUE,
        status_code=404 if error else 200,
    )


@router.get(QUEUE, response_class=HTMLResponse)
def queue(request: Request, done: str | None = None) -> Response:
    current = _operator(request)
    if current is None:
        return redirect("/operator/login")
    said = {"approved": "Request approved.", "refused": "Request refused."}.get(done or "")
    return _queue(request, current[0], done=said)


@router.post(QUEUE + "/{request_id}/{decision}", response_class=HTMLResponse)
def decide_request(request_id: str, decision: str, request: Request, form: Form) -> Response:
    current = _operator(request)
    if current is None:
        return redirect("/operator/login")
    token, actor = current
    if not csrf_matches(token, form.get("csrf_token")):
        return forbidden()
    if decision not in ("approve", "refuse"):
        return page("Not found", '<p role="alert">There is no such page.</p>', status_code=404)
    try:
        decide(
            store_of(request),
            actor,
            request_id[:36],
            approve=decision == "approve",
            why=form.get("reason", "")[:500],
        )
    except NotFoundError as exc:
        return _queue(request, token, error=str(exc)[:1].upper() + str(exc)[1:] + ".")
    except ValueError as exc:
        return _queue(request, token, error=str(exc)[:1].upper() + str(exc)[1:] + ".")
    return redirect(f"{QUEUE}?done={'approved' if decision == 'approve' else 'refused'}")
