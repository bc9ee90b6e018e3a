"""``/invite-a-friend``: Tell a Friend for a signed-in host, delegate or administrator
(issue 16). A plain CSRF-checked form over the API's own function
(``api.friend_invitations.invite``): the friend's email, "My friend is 18 or over" (required,
as the privacy policy makes the sender warrant), and the standard wording (shown) or their
own message. What was refused is said on the page, the form kept as typed; an address
invited before or unsubscribed gets one and the same answer.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from callroster.api import friend_invitations as friend_api
from callroster.invitations.friend import MESSAGE_LIMIT, STANDARD_WORDING
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
HERE = "/invite-a-friend"
SENT = (
    "Sent. Your invitation is on its way to your friend, with your name and an unsubscribe "
    "link. An address can be invited only once."
)


def _form(csrf: str, fields: dict[str, str], error: str | None, done: str | None) -> str:
    own = fields.get("wording") == "own"
    adult = " checked" if fields.get("over_18") == "yes" else ""
    return f"""{message(error)}{notice(done)}<p>Invite someone you know to try Callroster.
We email them once, from our address, saying that you invited them, with your message and
a link to unsubscribe. We never email the same address twice, and after they unsubscribe we
keep only a keyed fingerprint of their address, so that no one can invite them again.</p>
<form method="post" action="{HERE}" class="friend-invitation">
{csrf_field(csrf)}
<p><label for="friend-email">Your friend's email address</label>
<input id="friend-email" name="email" type="email" required maxlength="320"
 autocomplete="off" value="{escape(fields.get("email", ""))}"></p>
<fieldset><legend>Your message</legend>
<p class="check"><input type="radio" name="wording" id="wording-standard" value="standard"
{"" if own else " checked"}><label for="wording-standard">Our standard wording:</label></p>
<blockquote id="standard-wording">{escape(STANDARD_WORDING)}</blockquote>
<p class="check"><input type="radio" name="wording" id="wording-own" value="own"
{" checked" if own else ""}><label for="wording-own">My own words (plain text, up to
{MESSAGE_LIMIT:,} characters):</label></p>
<p><textarea id="friend-message" name="message" rows="5" maxlength="{MESSAGE_LIMIT}"
 aria-label="Your own message">{escape(fields.get("message", ""))}</textarea></p>
</fieldset>
<p class="check"><input id="over-18" name="over_18" type="checkbox" value="yes" required{adult}>
<label for="over-18">My friend is 18 or over</label></p>
<p class="note">By sending, you confirm that your friend would welcome this email and that
you may give us their address.</p>
<p><button type="submit" id="send-invitation">Send the invitation</button></p>
</form>"""


def _page(
    signed: SignedIn,
    fields: dict[str, str],
    *,
    error: str | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return page(
        "Invite a friend",
        _form(signed.csrf, fields, error, done),
        csrf=signed.csrf,
        status_code=status_code,
        viewer=signed.viewer,
        here=HERE,
    )


@router.get(HERE, response_class=HTMLResponse)
def invite_page(request: Request, done: str | None = None) -> Response:
    signed = signed_in(request, HERE)
    if not isinstance(signed, SignedIn):
        return signed
    return _page(signed, {}, done=SENT if done == "sent" else None)


@router.post(HERE)
async def invite(request: Request, form: Form) -> Response:
    signed = signed_in(request, HERE)
    if not isinstance(signed, SignedIn):
        return signed
    if form_refused(form, signed):
        return forbidden()
    own = form.get("wording") == "own"
    try:
        body = friend_api.FriendInvitationIn(
            email=form.get("email", ""),
            over_18=form.get("over_18") == "yes",
            message=form.get("message", "") if own else None,
        )
        await friend_api.invite(body, signed.caller, request)
    except ValidationError:
        return _page(signed, form, error="That is not an email address.", status_code=422)
    except HTTPException as exc:
        return _page(signed, form, error=http_detail(exc), status_code=exc.status_code)
    return redirect(f"{HERE}?done=sent")
