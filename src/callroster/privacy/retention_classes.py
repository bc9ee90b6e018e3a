"""The retention classes: the names every piece of personal data is kept under.

The inventory (``privacy/inventory.py``) puts each column and file in one class; the purge
(``privacy/retention.py``) gives each class its period and applies it; the privacy page says
both in plain words. This module owns only the names and what each one means; periods are
configuration and live with the purge.
"""

from __future__ import annotations

import enum


class RetentionClass(enum.StrEnum):
    """How long a piece of personal data is kept, named by why it is kept.

    The value is the stable name used in configuration, reports and the ``--json`` output of
    ``callroster privacy inventory``; ``description`` says when the clock starts and what ends
    it, in words a person reading the privacy page understands.
    """

    CALL_RECORDS = "call_records"
    SERVICE_DATA = "service_data"
    ACCOUNT_DATA = "account_data"
    LIVE_CALL = "live_call"
    OUTBOX = "outbox"
    SECURITY = "security"
    AUDIT = "audit"
    LOGS = "logs"
    RECORDINGS = "recordings"
    PRIVACY_REQUESTS = "privacy_requests"
    MARKETING_SUPPRESSION = "marketing_suppression"
    TELL_A_FRIEND = "tell_a_friend"
    ERASURES = "erasures"
    DIRECTORY = "directory"
    AS_CONTENTS = "as_contents"
    CONSENT = "consent"

    @property
    def description(self) -> str:
        """What the class holds and when its clock starts, in plain words."""
        return _DESCRIPTIONS[self]

    @property
    def starts_at(self) -> str:
        """The event the retention period is counted from."""
        return _STARTS_AT[self]


_DESCRIPTIONS: dict[RetentionClass, str] = {
    RetentionClass.CALL_RECORDS: (
        "Call detail records of calls the bridge placed (number called, when, how long, "
        "outcome): kept for billing and disputes, then purged by a monthly cycle."
    ),
    RetentionClass.SERVICE_DATA: (
        "What a conference call left behind: who joined (names and numbers on past calls), "
        "how and when they joined and left: the roster's history."
    ),
    RetentionClass.ACCOUNT_DATA: (
        "The account itself: its people (names, emails, phone numbers), their delegations, "
        "the contact list and the account's settings, kept while the account is open."
    ),
    RetentionClass.LIVE_CALL: (
        "The state of a call in progress, kept only so that a restarted node can hang it up "
        "cleanly; deleted as soon as the call has ended."
    ),
    RetentionClass.OUTBOX: (
        "Invitation emails waiting to be sent or already sent (the recipient's address)."
    ),
    RetentionClass.SECURITY: (
        "Sign-in sessions and failed sign-in attempts, kept only as long as they protect the "
        "account (sessions until they expire, failures for the lock-out window)."
    ),
    RetentionClass.AUDIT: (
        "The tamper-evident audit log of who did what: ids, actions and the network address "
        "they came from, never a name, number or email, so it can outlive what it describes."
    ),
    RetentionClass.LOGS: (
        "The service's operational logs: ids, addresses of the machines talking to the "
        "service and errors, rotated by the operator's log system."
    ),
    RetentionClass.RECORDINGS: (
        "Recordings of conferences (when a host records one): downloadable for a while, "
        "then deleted."
    ),
    RetentionClass.PRIVACY_REQUESTS: (
        "Requests to see, correct or erase personal data, or to stop marketing: the address "
        "the request came from while it is handled, then only what was decided and when."
    ),
    RetentionClass.MARKETING_SUPPRESSION: (
        "People who asked for no marketing, or unsubscribed from a Tell a Friend email: only "
        "a keyed hash of their address, kept so that they are never sent any again."
    ),
    RetentionClass.TELL_A_FRIEND: (
        "Tell a Friend invitations: the friend's address, the sender's message and the "
        "unsubscribe link only until the email is sent (or given up on); then a keyed hash "
        "of the address, so that no one is invited twice, and who sent it for 30 days (the "
        "daily limit). When the friend unsubscribes, the invitation is deleted and only the "
        "keyed hash stays, on the suppression list."
    ),
    RetentionClass.ERASURES: (
        "People who were erased: only a keyed fingerprint of their email address or phone "
        "number and when, so that a backup restored later is erased again before it is used."
    ),
    RetentionClass.DIRECTORY: (
        "A third-party directory of names by phone number, when the operator loads one: "
        "kept as its supplier provides it; nothing from it is stored beyond a call's roster."
    ),
    RetentionClass.AS_CONTENTS: (
        "A file that holds other declared data (the database and its write-ahead log): each "
        "part is kept as its own class says, and what is deleted is overwritten."
    ),
    RetentionClass.CONSENT: (
        "Records of the choices made about optional cookies (which categories, which "
        "version of the policy, when and how, with the network the browser was on cut to "
        "its first three parts and the browser's name): kept as long as the choice lasts "
        "(until it is changed, or one month, when the consent cookie expires) and then for "
        "a proof period (3 years unless the operator sets another), to show what was "
        "consented to; then deleted."
    ),
}

_STARTS_AT: dict[RetentionClass, str] = {
    RetentionClass.CALL_RECORDS: "the end of the call",
    RetentionClass.SERVICE_DATA: "the date of the conference",
    RetentionClass.ACCOUNT_DATA: "the termination of the account",
    RetentionClass.LIVE_CALL: "the start of the call",
    RetentionClass.OUTBOX: "the moment the invitation was queued",
    RetentionClass.SECURITY: "the sign-in or the failed attempt",
    RetentionClass.AUDIT: "the action recorded",
    RetentionClass.LOGS: "the line written",
    RetentionClass.RECORDINGS: "the end of the conference",
    RetentionClass.PRIVACY_REQUESTS: "the request",
    RetentionClass.MARKETING_SUPPRESSION: "the opt-out or the unsubscribe",
    RetentionClass.TELL_A_FRIEND: "the invitation",
    RetentionClass.ERASURES: "the erasure",
    RetentionClass.DIRECTORY: "the supplier's delivery",
    RetentionClass.AS_CONTENTS: "each part's own start",
    RetentionClass.CONSENT: "the end of the consent (changed, or its cookie's month over)",
}
