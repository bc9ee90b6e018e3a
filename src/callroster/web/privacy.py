"""``/privacy``: the public privacy page, made from the inventory (``privacy/inventory.py``)
and the retention terms in force, in plain words: what is kept about whom, why, how long,
how it is protected, who may read it, and how to ask for it or have it erased
(``/privacy/request``).

The "how long" column is the service's own: the retention policy the settings give
(``Settings.retention_policy``: the periods and each country's overrides) and the lifetimes
fixed in code (sessions, failed sign-ins, the invitation outbox). Nothing on the page is a
second copy of them.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from callroster.accounts import session_policy
from callroster.config import Settings
from callroster.privacy import notice
from callroster.privacy.consent_record import DEFAULT_PROOF_DAYS as CONSENT_PROOF_DAYS
from callroster.privacy.inventory import INVENTORY
from callroster.privacy.retention import REGION_COUNTRIES, Period, RetentionPolicy
from callroster.privacy.retention_classes import RetentionClass
from callroster.store import invitations, operator_sessions, sessions
from callroster.web.common import page, viewer_of

router = APIRouter(include_in_schema=False)
HOME = "/privacy"
REQUEST = "/privacy/request"
_C = RetentionClass


def _span(delta_seconds: float) -> str:
    """A lifetime in words: "15 minutes", "12 hours", "1 day", "30 days"."""
    minutes = round(delta_seconds / 60)
    for size, unit in ((1440, "day"), (60, "hour"), (1, "minute")):
        if minutes >= size and minutes % size == 0:
            count = minutes // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{round(delta_seconds)} seconds"


def _period(period: Period) -> str:
    if period.months:
        return f"{period.months} month{'' if period.months == 1 else 's'}"
    return f"{period.days} day{'' if period.days == 1 else 's'}"


def _enforced(cls: RetentionClass, period: Period) -> str:
    span = _period(period)
    if cls is _C.CALL_RECORDS:
        return (
            f"{span} from the end of the call, then deleted by the purge at the start of "
            "the next month"
        )
    if cls is _C.SERVICE_DATA:
        return f"{span} from the date of the call"
    return f"While the account is open, then {span} from its closure"


def _proof(days: int) -> str:
    if not days:
        return "no longer"
    if days % 365 == 0:
        return f"{days // 365} year{'' if days == 365 else 's'}"
    return _period(Period(days=days))


def retention_terms(
    policy: RetentionPolicy, consent_proof_days: int = CONSENT_PROOF_DAYS
) -> notice.RetentionTerms:
    """Every class's terms in words: the policy's periods and overrides, and the lifetimes
    that are fixed in code (``consent_proof_days``: ``Settings.consent_proof_days``)."""
    idle = _span(session_policy.IDLE_LIMIT.total_seconds())
    ordinary = _span(session_policy.ORDINARY_LIFETIME.total_seconds())
    stay = _span(session_policy.STAY_SIGNED_IN_LIFETIME.total_seconds())
    failures = _span(sessions.FAILURES_KEPT.total_seconds())
    staff = _span(operator_sessions.LIFETIME.total_seconds())
    periods = {
        **{cls: _enforced(cls, policy.periods[cls]) for cls in policy.periods},
        _C.LIVE_CALL: "Only while the call lasts; deleted when it ends",
        _C.OUTBOX: f"{_span(invitations.KEPT_FOR.total_seconds())} from when the invitation "
        "was queued",
        _C.SECURITY: f"A session until you sign out, or after {idle} without use, {ordinary} "
        f"at most ({stay} if you chose to stay signed in; an operator's {staff}); a failed "
        f"sign-in attempt {failures}",
        _C.AUDIT: "Not deleted: the audit trail is kept whole (each entry seals the one "
        "before); its ids lead to nothing once what they name is deleted or erased",
        _C.LOGS: "As long as the server's log system keeps them (set by the operator)",
        _C.RECORDINGS: "Not applicable: this version records no calls",
        _C.PRIVACY_REQUESTS: "Your address until the request is answered; then only a "
        "fingerprint of it, what was decided and when",
        _C.MARKETING_SUPPRESSION: "As long as you want no marketing, or no invitation "
        "from a friend",
        _C.TELL_A_FRIEND: "The address and message until the email is sent; then only a "
        "keyed hash of the address, so that no one is invited twice (who sent it: 30 days); "
        "after an unsubscribe, only that hash, on the suppression list",
        _C.ERASURES: "Kept, so that an erasure stays done even after a backup is restored",
        _C.DIRECTORY: "As its supplier provides it; replaced by each new delivery",
        _C.AS_CONTENTS: "Each part as long as it says above; what is deleted is overwritten "
        "at once, not left in the file",
        _C.CONSENT: "As long as the choice lasts (until it is changed, or one month), then "
        f"{_proof(consent_proof_days)} as proof of what was chosen; then deleted",
    }
    countries: dict[str, list[str]] = {}
    for region, country in REGION_COUNTRIES.items():
        countries.setdefault(country, []).append(region.replace("-", " ").title())
    overrides = tuple(
        (
            f"accounts kept in {country}"
            + (f" ({', '.join(countries[country])})" if country in countries else ""),
            cls,
            _period(period),
        )
        for country, classes in sorted(policy.overrides.items())
        for cls, period in classes.items()
    )
    return notice.RetentionTerms(periods, overrides)


def _table(audience: notice.Audience, terms: notice.RetentionTerms) -> str:
    heading = f"{audience.key}-heading"
    body = "".join(
        f'<tr data-where="{escape(row.where)}">'
        f'<th scope="row" data-label="What">{escape(row.what)}</th>'
        f'<td data-label="Why">{escape(row.why)}</td>'
        f'<td data-label="How long">{escape(row.how_long)}</td>'
        f'<td data-label="How it is protected">{escape(row.protection)}</td>'
        f'<td data-label="Who can see it">{escape(row.readers)}</td></tr>'
        for row in notice.rows_for(audience, terms)
    )
    return (
        f'<section aria-labelledby="{heading}"><h2 id="{heading}">{escape(audience.heading)}'
        f'</h2>\n<table class="stack" id="{audience.key}-data"><thead><tr>'
        '<th scope="col">What we keep</th><th scope="col">Why</th>'
        '<th scope="col">How long</th><th scope="col">How it is protected</th>'
        f'<th scope="col">Who can see it</th></tr></thead><tbody>{body}</tbody></table>'
        "</section>"
    )


def _periods_table(terms: notice.RetentionTerms) -> str:
    body = "".join(
        f'<tr data-class="{cls.value}"><th scope="row" data-label="Kind of data">'
        f"{escape(cls.description)}</th>"
        f'<td data-label="How long">{escape(terms.words(cls))}</td></tr>'
        for cls in RetentionClass
        if any(h.retention is cls for h in INVENTORY.holdings)
    )
    return (
        '<section aria-labelledby="periods-heading"><h2 id="periods-heading">How long we keep '
        'it</h2>\n<table class="stack" id="retention"><thead><tr>'
        '<th scope="col">Kind of data</th><th scope="col">How long</th></tr></thead>'
        f"<tbody>{body}</tbody></table>"
        "<p>Past its time, data is hidden from every page and answer at once and then "
        "deleted. A legal hold (for instance a court order) can keep what it covers longer; "
        "it is then deleted when the hold ends.</p></section>"
    )


def privacy_body(terms: notice.RetentionTerms) -> str:
    """The page's HTML, under its heading."""
    tables = "\n".join(_table(audience, terms) for audience in notice.AUDIENCES)
    return f"""<p>This service runs audio conferences. This page says what it keeps about the
people who use it, why, for how long, how it is protected and who can see it. It is made from
the service's own list of where personal data is kept, so it says what the service does.</p>
<section aria-labelledby="rights-heading"><h2 id="rights-heading">Your rights</h2>
<p>You may ask to see the data about you, to have it corrected or erased, or to receive no
marketing. <a href="{REQUEST}" id="make-request">Make a request</a>: we first check that it
is really you, with a code sent to the email address or phone number we hold, and then
answer within the time the law gives.</p>
<p>Names, phone numbers and email addresses are stored encrypted, with a key that belongs to
one account only. Finding a phone number or an email address uses a keyed fingerprint, never
the number or address itself.</p></section>
{tables}
{_periods_table(terms)}"""


@router.get(HOME, response_class=HTMLResponse)
def privacy_page(request: Request) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    terms = retention_terms(settings.retention_policy, settings.consent_proof_days)
    return page(
        "Privacy",
        privacy_body(terms),
        viewer=viewer_of(request),
        here=HOME,
        wide=True,
    )
