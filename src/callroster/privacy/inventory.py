"""The inventory of personal data: every column and file that holds some, declared once.

Each ``Holding`` names where the data is (a table and its columns, or a file), what it is in
plain words, whom it is about, its category, why it is kept and on what legal basis, its
retention class (``privacy/retention_classes.py``), how it is protected at rest, and who may
read it. ``NotPersonal`` entries name the columns whose names look personal but are not
(the platform's own access numbers, a carrier's account), each with the reason.

Three things are made from this one declaration, so they cannot drift apart:

* ``callroster privacy inventory [--json]`` prints it;
* the privacy page (``web/privacy.py``, through ``privacy/notice.py``) says it in words;
* ``tests/privacy/test_inventory.py`` reflects the migrated schema (SQLite and PostgreSQL)
  and fails when a column that looks personal is in neither list, or when a declared column
  is gone.

Pure data: no database, no settings. The retention *periods* are configuration and live with
the purge (``privacy/retention.py``); this module names only the class.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from callroster.privacy.retention_classes import RetentionClass


class Category(StrEnum):
    """What kind of personal data it is."""

    IDENTITY = "identity"  # who a person is: a name, words that may name someone
    CONTACT = "contact"  # how to reach them: a phone number, an email address
    CALL_METADATA = "call_metadata"  # who was on which call, when, for how long, from where
    ACCOUNT = "account"  # signing in and keeping an account safe
    MARKETING = "marketing"  # what a person agreed to be told about, or refused


class LegalBasis(StrEnum):
    """Why the service may keep it (GDPR art. 6(1))."""

    CONTRACT = "contract"  # needed to provide the conference service to the account
    LEGITIMATE_INTERESTS = "legitimate_interests"  # security, proving what happened
    LEGAL_OBLIGATION = "legal_obligation"  # billing and telecoms records the law requires
    CONSENT = "consent"


class Protection(StrEnum):
    """How it is kept at rest."""

    ENCRYPTED = "encrypted"  # AES-GCM under the account's data key: shredding erases it
    # AES-GCM under a platform key (a request's address: it may belong to no account)
    ENCRYPTED_BY_SERVICE = "encrypted_by_service"
    BLIND_INDEX = "blind_index"  # keyed HMAC of the normalised value, for look-ups only
    HASH = "hash"  # a one-way hash (SHA-256 of a secret, argon2 of a password)
    CLEAR = "clear"  # as it is (ids, times, network addresses)


class Subject(StrEnum):
    """Whom it is about."""

    ACCOUNT_PEOPLE = "account_people"  # an account's administrators, hosts and delegates
    CALLERS = "callers"  # guests: whoever joins a call, by phone or browser, or is called
    CONTACTS = "contacts"  # people in an account's contact list
    INVITEES = "invitees"  # people a host invites by email
    STAFF = "staff"  # the platform's operators


class Reader(StrEnum):
    """Who may read it (every access by a person is audit-logged)."""

    PERSON = "person"  # the person it is about
    ADMINISTRATORS = "administrators"  # the account's administrators
    HOSTS = "hosts"  # the conference's host and their delegates
    PARTICIPANTS = "participants"  # the others on the same call (Live Call Status)
    OPERATOR = "operator"  # the platform's operator, for support and privacy requests
    SERVICE = "service"  # only the service itself, no person


@dataclass(frozen=True)
class Holding:
    """One place personal data is kept: ``columns`` of ``table``, or a file (``file``)."""

    what: str  # plain words, as the privacy page says it
    subjects: tuple[Subject, ...]
    category: Category
    purpose: str
    legal_basis: LegalBasis
    retention: RetentionClass
    protection: Protection
    readers: tuple[Reader, ...]
    table: str | None = None
    columns: tuple[str, ...] = ()
    file: str | None = None  # a path, ``<data>`` for the data folder
    in_use: bool = True  # False: declared ahead of the feature (recordings)

    def __post_init__(self) -> None:
        if (self.table is None) == (self.file is None):
            raise ValueError("a holding is a table's columns or a file, not both")
        if self.table is not None and not self.columns:
            raise ValueError(f"{self.table}: name the columns")
        if not self.subjects or not self.readers:
            raise ValueError(f"{self.where}: say whom it is about and who may read it")

    @property
    def where(self) -> str:
        if self.table is not None:
            return f"{self.table}.{','.join(self.columns)}"
        assert self.file is not None
        return self.file

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "columns": list(self.columns),
            "file": self.file,
            "what": self.what,
            "subjects": [s.value for s in self.subjects],
            "category": self.category.value,
            "purpose": self.purpose,
            "legal_basis": self.legal_basis.value,
            "retention": self.retention.value,
            "protection": self.protection.value,
            "readers": [r.value for r in self.readers],
            "in_use": self.in_use,
        }


@dataclass(frozen=True)
class NotPersonal:
    """A column whose name looks personal but which is not about a person."""

    table: str
    column: str
    why: str


@dataclass(frozen=True)
class Inventory:
    holdings: tuple[Holding, ...]
    not_personal: tuple[NotPersonal, ...]

    def __post_init__(self) -> None:
        seen: set[tuple[str, str]] = set()
        for table, column in [*self.declared_columns(), *self.exempt_columns()]:
            if (table, column) in seen:
                raise ValueError(f"{table}.{column} is declared twice")
            seen.add((table, column))

    def declared_columns(self) -> list[tuple[str, str]]:
        """Every (table, column) declared as personal."""
        return [(h.table, c) for h in self.holdings if h.table is not None for c in h.columns]

    def exempt_columns(self) -> list[tuple[str, str]]:
        return [(n.table, n.column) for n in self.not_personal]

    def tables(self) -> tuple[Holding, ...]:
        return tuple(h for h in self.holdings if h.table is not None)

    def files(self) -> tuple[Holding, ...]:
        return tuple(h for h in self.holdings if h.file is not None)

    def about(self, subject: Subject) -> tuple[Holding, ...]:
        return tuple(h for h in self.holdings if subject in h.subjects)

    def as_dict(self) -> dict[str, Any]:
        return {
            "holdings": [h.as_dict() for h in self.holdings],
            "not_personal": [
                {"table": n.table, "column": n.column, "why": n.why} for n in self.not_personal
            ],
            "retention_classes": {c.value: c.description for c in RetentionClass},
        }


# Short names for the declaration below.
_P, _A, _H, _G, _O, _S = (
    Reader.PERSON,
    Reader.ADMINISTRATORS,
    Reader.HOSTS,
    Reader.PARTICIPANTS,
    Reader.OPERATOR,
    Reader.SERVICE,
)
_PEOPLE, _CALLERS = (Subject.ACCOUNT_PEOPLE,), (Subject.CALLERS,)
_EVERYONE = (Subject.ACCOUNT_PEOPLE, Subject.CALLERS, Subject.CONTACTS, Subject.INVITEES)
_RUN = "to run the account's conferences"
_SECURE = "to keep accounts safe: sign-in, lock-out after failed attempts"
_SIGN_IN = "to let only you sign in to your account"


INVENTORY = Inventory(
    holdings=(
        # The account and its people.
        Holding(
            what="The account's name (often a company, sometimes a person)",
            subjects=_PEOPLE,
            category=Category.IDENTITY,
            purpose="to identify the customer account",
            legal_basis=LegalBasis.CONTRACT,
            retention=RetentionClass.ACCOUNT_DATA,
            protection=Protection.ENCRYPTED,
            readers=(_A, _O),
            table="accounts",
            columns=("name_enc",),
        ),
        Holding(
            what="A fingerprint of the account's name, so that no two accounts share one",
            subjects=_PEOPLE,
            category=Category.IDENTITY,
            purpose="to keep account names unique without storing them in clear",
            legal_basis=LegalBasis.CONTRACT,
            retention=RetentionClass.ACCOUNT_DATA,
            protection=Protection.BLIND_INDEX,
            readers=(_S,),
            table="accounts",
            columns=("name_index",),
        ),
        Holding(
            what="Your name, email address and phone number as an administrator, host or delegate",
            subjects=_PEOPLE,
            category=Category.IDENTITY,
            purpose=_RUN + ": signing in, invitations, showing who hosts",
            legal_basis=LegalBasis.CONTRACT,
            retention=RetentionClass.ACCOUNT_DATA,
            protection=Protection.ENCRYPTED,
            readers=(_P, _A, _H, _G, _O),
            table="users",
            columns=("name_enc", "email_enc", "phone_enc"),
        ),
        Holding(
            what="Fingerprints of your email address and phone number",
            subjects=_PEOPLE,
            category=Category.CONTACT,
            purpose="to find your account when you sign in, and your name when you call",
            legal_basis=LegalBasis.CONTRACT,
            retention=RetentionClass.ACCOUNT_DATA,
            protection=Protection.BLIND_INDEX,
            readers=(_S,),
            table="users",
            columns=("email_index", "phone_index"),
        ),
        Holding(
            what="Your password",
            subjects=_PEOPLE,
            category=Category.ACCOUNT,
            purpose=_SIGN_IN,
            legal_basis=LegalBasis.CONTRACT,
            retention=RetentionClass.ACCOUNT_DATA,
            protection=Protection.HASH,
            readers=(_S,),
            table="users",
            columns=("password_hash",),
        ),
        Holding(
            what="Your second-factor (authenticator app) secret",
            subjects=_PEOPLE,
            category=Category.ACCOUNT,
            purpose=_SIGN_IN,
            legal_basis=LegalBasis.CONTRACT,
            retention=RetentionClass.ACCOUNT_DATA,
            protection=Protection.ENCRYPTED,
            readers=(_S,),
            table="users",
            columns=("totp_secret_enc",),
        ),
        Holding(
            what="The address of a public profile of yours (a social network page)",
            subjects=_PEOPLE,
            category=Category.IDENTITY,
            purpose="to show a link to it beside your name on the calls you join, only while "
            "you consent",
            legal_basis=LegalBasis.CONSENT,
            retention=RetentionClass.ACCOUNT_DATA,
            protection=Protection.ENCRYPTED,
            readers=(_P, _G),
            table="users",
            columns=("profile_url_enc",),
        ),
        Holding(
            what="When you consented to show your public profile on calls",
            subjects=_PEOPLE,
            category=Category.ACCOUNT,
            purpose="to show your profile only with your consent, and prove when it was given",
            legal_basis=LegalBasis.CONSENT,
            retention=RetentionClass.ACCOUNT_DATA,
            protection=Protection.CLEAR,
            readers=(_P, _A, _O),
            table="users",
            columns=("profile_consent_at",),
        ),
        Holding(
            what="Your role, when you were added, suspended or removed",
            subjects=_PEOPLE,
            category=Category.ACCOUNT,
            purpose="to decide what you may do on the account",
            legal_basis=LegalBasis.CONTRACT,
            retention=RetentionClass.ACCOUNT_DATA,
            protection=Protection.CLEAR,
            readers=(_P, _A, _O),
            table="users",
            columns=("role", "created_at", "suspended_at", "removed_at"),
        ),
        Holding(
            what="Who manages whose conferences (delegations)",
            subjects=_PEOPLE,
            category=Category.ACCOUNT,
            purpose="to let a delegate run a host's conferences",
            legal_basis=LegalBasis.CONTRACT,
            retention=RetentionClass.ACCOUNT_DATA,
            protection=Protection.CLEAR,
            readers=(_P, _A, _O),
            table="delegations",
            columns=("host_id", "delegate_id"),
        ),
        Holding(
            what="Labels of the account's API tokens (may name their holder)",
            subjects=_PEOPLE,
            category=Category.ACCOUNT,
            purpose="to tell an account's API tokens apart",
            legal_basis=LegalBasis.CONTRACT,
            retention=RetentionClass.ACCOUNT_DATA,
            protection=Protection.CLEAR,
            readers=(_A, _O),
            table="api_tokens",
            columns=("label",),
        ),
        Holding(
            what="Conference titles (which may name people)",
            subjects=(Subject.ACCOUNT_PEOPLE, Subject.CALLERS),
            category=Category.IDENTITY,
            purpose=_RUN + ": invitations and Live Call Status",
            legal_basis=LegalBasis.CONTRACT,
            retention=RetentionClass.ACCOUNT_DATA,
            protection=Protection.ENCRYPTED,
            readers=(_A, _H, _G, _O),
            table="conferences",
            columns=("title_enc",),
        ),
        Holding(
            what="The account's contact list: names, phone numbers, email addresses",
            subjects=(Subject.CONTACTS,),
            category=Category.CONTACT,
            purpose="to show a caller's name on the account's own calls",
            legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
            retention=RetentionClass.ACCOUNT_DATA,
            protection=Protection.ENCRYPTED,
            readers=(_A, _H, _O),
            table="contacts",
            columns=("name_enc", "phone_enc", "email_enc", "created_at"),
        ),
        Holding(
            what="Fingerprints of contacts' phone numbers and email addresses",
            subjects=(Subject.CONTACTS,),
            category=Category.CONTACT,
            purpose="to find a caller's name by their number without decrypting the list",
            legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
            retention=RetentionClass.ACCOUNT_DATA,
            protection=Protection.BLIND_INDEX,
            readers=(_S,),
            table="contacts",
            columns=("phone_index", "email_index"),
        ),
        Holding(
            what="The link you were sent to set up your account",
            subjects=_PEOPLE,
            category=Category.ACCOUNT,
            purpose=_SIGN_IN,
            legal_basis=LegalBasis.CONTRACT,
            retention=RetentionClass.ACCOUNT_DATA,
            protection=Protection.HASH,
            readers=(_S,),
            table="setup_links",
            columns=("token_hash", "user_id", "used_at"),
        ),
        Holding(
            what="Your second-factor recovery codes",
            subjects=_PEOPLE,
            category=Category.ACCOUNT,
            purpose=_SIGN_IN,
            legal_basis=LegalBasis.CONTRACT,
            retention=RetentionClass.ACCOUNT_DATA,
            protection=Protection.HASH,
            readers=(_S,),
            table="recovery_codes",
            columns=("code_hash", "user_id", "used_at"),
        ),
        # Calls.
        Holding(
            what="Who was on a call: the name and phone number each caller joined with",
            subjects=_CALLERS + _PEOPLE,
            category=Category.CALL_METADATA,
            purpose=_RUN + ": the roster, Live Call Status and call history",
            legal_basis=LegalBasis.CONTRACT,
            retention=RetentionClass.SERVICE_DATA,
            protection=Protection.ENCRYPTED,
            readers=(_H, _G, _A, _O),
            table="legs",
            columns=("name_enc", "number_enc"),
        ),
        Holding(
            what="A fingerprint of each caller's phone number",
            subjects=_CALLERS + _PEOPLE,
            category=Category.CALL_METADATA,
            purpose="to answer a person's request for their data, and to erase it",
            legal_basis=LegalBasis.LEGAL_OBLIGATION,
            retention=RetentionClass.SERVICE_DATA,
            protection=Protection.BLIND_INDEX,
            readers=(_S,),
            table="legs",
            columns=("number_index",),
        ),
        Holding(
            what="How and when each caller joined and left, and whether their number was withheld",
            subjects=_CALLERS + _PEOPLE,
            category=Category.CALL_METADATA,
            purpose=_RUN + ": the roster and call history",
            legal_basis=LegalBasis.CONTRACT,
            retention=RetentionClass.SERVICE_DATA,
            protection=Protection.CLEAR,
            readers=(_H, _G, _A, _O),
            table="legs",
            columns=(
                "name_source",
                "number_withheld",
                "joined_via",
                "joined_at",
                "left_at",
                "end_reason",
            ),
        ),
        Holding(
            what="Call detail records of calls the bridge placed: the number called, who "
            "asked, when, how long, the outcome",
            subjects=_CALLERS + _PEOPLE,
            category=Category.CALL_METADATA,
            purpose="billing, and settling disputes about calls",
            legal_basis=LegalBasis.LEGAL_OBLIGATION,
            retention=RetentionClass.CALL_RECORDS,
            protection=Protection.ENCRYPTED,
            readers=(_A, _O),
            table="call_records",
            columns=("number_enc",),
        ),
        Holding(
            what="A fingerprint of each number called",
            subjects=_CALLERS,
            category=Category.CALL_METADATA,
            purpose="to answer a person's request for their data, and to erase it",
            legal_basis=LegalBasis.LEGAL_OBLIGATION,
            retention=RetentionClass.CALL_RECORDS,
            protection=Protection.BLIND_INDEX,
            readers=(_S,),
            table="call_records",
            columns=("number_index",),
        ),
        Holding(
            what="When each placed call started, was answered and ended, and its outcome",
            subjects=_CALLERS + _PEOPLE,
            category=Category.CALL_METADATA,
            purpose="billing, and settling disputes about calls",
            legal_basis=LegalBasis.LEGAL_OBLIGATION,
            retention=RetentionClass.CALL_RECORDS,
            protection=Protection.CLEAR,
            readers=(_A, _O),
            table="call_records",
            columns=(
                "requested_by",
                "started_at",
                "answered_at",
                "ended_at",
                "outcome",
                "sip_status",
                "duration_s",
            ),
        ),
        Holding(
            what="A call in progress: the phone's signalling details (its address and number)",
            subjects=_CALLERS + _PEOPLE,
            category=Category.CALL_METADATA,
            purpose="to hang the call up cleanly should the service restart during it",
            legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
            retention=RetentionClass.LIVE_CALL,
            protection=Protection.ENCRYPTED,
            readers=(_S,),
            table="open_legs",
            columns=("dialog_enc",),
        ),
        Holding(
            what="Email addresses a host invited to a conference",
            subjects=(Subject.INVITEES,),
            category=Category.CONTACT,
            purpose="to send the invitations the host asked for",
            legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
            retention=RetentionClass.OUTBOX,
            protection=Protection.ENCRYPTED,
            readers=(_H, _A, _O),
            table="invitation_emails",
            columns=("recipient_enc",),
        ),
        # Security.
        Holding(
            what="Your signed-in sessions: the network address you signed in from, when",
            subjects=_PEOPLE,
            category=Category.ACCOUNT,
            purpose=_SECURE,
            legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
            retention=RetentionClass.SECURITY,
            protection=Protection.CLEAR,
            readers=(_P, _O),
            table="sessions",
            columns=("source", "created_at", "last_seen_at"),
        ),
        Holding(
            what="Failed sign-in attempts: a fingerprint of the email or network address tried",
            subjects=_PEOPLE,
            category=Category.ACCOUNT,
            purpose=_SECURE,
            legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
            retention=RetentionClass.SECURITY,
            protection=Protection.BLIND_INDEX,
            readers=(_S,),
            table="sign_in_failures",
            columns=("key", "at"),
        ),
        Holding(
            what="Operators' sessions: the network address they signed in from",
            subjects=(Subject.STAFF,),
            category=Category.ACCOUNT,
            purpose=_SECURE,
            legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
            retention=RetentionClass.SECURITY,
            protection=Protection.CLEAR,
            readers=(_O,),
            table="operator_sessions",
            columns=("source",),
        ),
        Holding(
            what="The audit log: who did what and from which network address (ids, never a "
            "name, number or email)",
            subjects=(Subject.ACCOUNT_PEOPLE, Subject.STAFF),
            category=Category.ACCOUNT,
            purpose="to prove who accessed or changed personal data",
            legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
            retention=RetentionClass.AUDIT,
            protection=Protection.CLEAR,
            readers=(_A, _O),
            table="audit_log",
            columns=("actor", "subject", "source", "reason", "account_id"),
        ),
        # Files.
        Holding(
            what="The database file and its write-ahead log (SQLite): everything above, each "
            "part protected as it says; the file itself is protected by the server's disk",
            subjects=(Subject.ACCOUNT_PEOPLE, Subject.CALLERS, Subject.CONTACTS),
            category=Category.CALL_METADATA,
            purpose="to store what is listed above",
            legal_basis=LegalBasis.CONTRACT,
            retention=RetentionClass.AS_CONTENTS,
            protection=Protection.CLEAR,
            readers=(_S,),
            file="<data>/callroster.db (and -wal, -shm)",
        ),
        Holding(
            what="The service's logs: ids, network addresses and errors (no names, numbers "
            "or emails)",
            subjects=(Subject.ACCOUNT_PEOPLE, Subject.CALLERS),
            category=Category.CALL_METADATA,
            purpose="to run the service and find faults",
            legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
            retention=RetentionClass.LOGS,
            protection=Protection.CLEAR,
            readers=(_O,),
            file="standard error (the system journal)",
        ),
        # Data-subject requests (store/privacy_requests.py).
        Holding(
            what="The email address or phone number a request to see, correct or erase "
            "personal data (or to stop marketing) was made for, and a corrected name",
            subjects=_EVERYONE,
            category=Category.CONTACT,
            purpose="to verify who asks and carry out the request",
            legal_basis=LegalBasis.LEGAL_OBLIGATION,
            retention=RetentionClass.PRIVACY_REQUESTS,
            protection=Protection.ENCRYPTED_BY_SERVICE,
            readers=(_P, _O),
            table="privacy_requests",
            columns=("address_enc", "correction_enc"),
        ),
        Holding(
            what="A fingerprint of the address a request was made for",
            subjects=_EVERYONE,
            category=Category.CONTACT,
            purpose="to limit how often one address may be asked about",
            legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
            retention=RetentionClass.PRIVACY_REQUESTS,
            protection=Protection.BLIND_INDEX,
            readers=(_S,),
            table="privacy_requests",
            columns=("address_index",),
        ),
        Holding(
            what="Why the operator refused a request, in their words",
            subjects=_EVERYONE,
            category=Category.IDENTITY,
            purpose="to tell the person why, and to prove the request was answered",
            legal_basis=LegalBasis.LEGAL_OBLIGATION,
            retention=RetentionClass.PRIVACY_REQUESTS,
            protection=Protection.ENCRYPTED_BY_SERVICE,
            readers=(_O,),
            table="privacy_requests",
            columns=("refusal_enc",),
        ),
        Holding(
            what="A keyed hash of the address of someone who asked for no marketing, or "
            "unsubscribed from a Tell a Friend email",
            subjects=_EVERYONE,
            category=Category.MARKETING,
            purpose="never to send marketing to them again",
            legal_basis=LegalBasis.LEGAL_OBLIGATION,
            retention=RetentionClass.MARKETING_SUPPRESSION,
            protection=Protection.BLIND_INDEX,
            readers=(_S,),
            table="marketing_suppressions",
            columns=("address_index",),
        ),
        # Tell a Friend (store/friend_invitations.py).
        Holding(
            what="The email address of a friend a host invites with Tell a Friend, and the "
            "host's message to them, until the email is sent",
            subjects=(Subject.INVITEES,),
            category=Category.CONTACT,
            purpose="to send the one invitation the host asked for",
            legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
            retention=RetentionClass.TELL_A_FRIEND,
            protection=Protection.ENCRYPTED,
            readers=(_S,),
            table="friend_invitations",
            columns=("address_enc", "message_enc"),
        ),
        Holding(
            what="A keyed hash of the address of a friend invited with Tell a Friend",
            subjects=(Subject.INVITEES,),
            category=Category.MARKETING,
            purpose="never to invite the same person twice; moved to the suppression list "
            "when they unsubscribe",
            legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
            retention=RetentionClass.TELL_A_FRIEND,
            protection=Protection.BLIND_INDEX,
            readers=(_S,),
            table="friend_invitations",
            columns=("address_index",),
        ),
        Holding(
            what="Who sent a Tell a Friend invitation (for 30 days)",
            subjects=_PEOPLE,
            category=Category.IDENTITY,
            purpose="to limit how many invitations one person sends a day",
            legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
            retention=RetentionClass.TELL_A_FRIEND,
            protection=Protection.CLEAR,
            readers=(_S,),
            table="friend_invitations",
            columns=("sender_id",),
        ),
        Holding(
            what="People who were erased: a keyed fingerprint of their email address or "
            "phone number",
            subjects=_EVERYONE,
            category=Category.CONTACT,
            purpose="to keep an erasure done: a backup restored later is erased again "
            "before it is used",
            legal_basis=LegalBasis.LEGAL_OBLIGATION,
            retention=RetentionClass.ERASURES,
            protection=Protection.BLIND_INDEX,
            readers=(_S,),
            table="erasures",
            columns=("digest", "erased_at"),
        ),
        # Consent records (store/consent_records.py, issue 16).
        Holding(
            what="A record of a choice about optional cookies: which categories were "
            "accepted, the policy version and a hash of the text shown, how (banner, "
            "settings, Global Privacy Control, Do-Not-Track) and when, and when it ended",
            subjects=_EVERYONE,
            category=Category.MARKETING,
            purpose="to prove what a browser consented to, and to ask again when the "
            "policy changes",
            legal_basis=LegalBasis.LEGAL_OBLIGATION,
            retention=RetentionClass.CONSENT,
            protection=Protection.CLEAR,
            readers=(_O,),
            table="consent_records",
            columns=(
                "categories",
                "policy_version",
                "text_sha256",
                "method",
                "given_at",
                "ended_at",
                "replaces",
            ),
        ),
        Holding(
            what="The network a consent came from (an IPv4 address cut to its /24, an IPv6 "
            "one to its /48) and the browser's user agent",
            subjects=_EVERYONE,
            category=Category.CALL_METADATA,
            purpose="to show that a consent was given by a real browser, and from where",
            legal_basis=LegalBasis.LEGAL_OBLIGATION,
            retention=RetentionClass.CONSENT,
            protection=Protection.ENCRYPTED_BY_SERVICE,
            readers=(_O,),
            table="consent_records",
            columns=("ip_enc", "user_agent_enc"),
        ),
        Holding(
            what="A keyed fingerprint of the network a consent came from",
            subjects=_EVERYONE,
            category=Category.CALL_METADATA,
            purpose="to limit how many consent records one network may create an hour",
            legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
            retention=RetentionClass.CONSENT,
            protection=Protection.BLIND_INDEX,
            readers=(_S,),
            table="consent_records",
            columns=("source_index",),
        ),
        Holding(
            what="A directory of names by phone number from a third party, when the operator "
            "loads one (only for the countries where that is allowed)",
            subjects=_CALLERS,
            category=Category.IDENTITY,
            purpose="to show a caller's name when the account's contacts do not have it",
            legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
            retention=RetentionClass.DIRECTORY,
            protection=Protection.CLEAR,
            readers=(_S,),
            file="the directory_file setting (a CSV of number and name)",
        ),
        Holding(
            what="Recordings of conferences",
            subjects=(Subject.CALLERS, Subject.ACCOUNT_PEOPLE),
            category=Category.CALL_METADATA,
            purpose="to let the host hear the conference again, when they chose to record it",
            legal_basis=LegalBasis.CONSENT,
            retention=RetentionClass.RECORDINGS,
            protection=Protection.ENCRYPTED,
            readers=(_H, _A),
            file="<data>/recordings/",
            in_use=False,
        ),
    ),
    not_personal=(
        NotPersonal("conferences", "pin_enc", "a conference's access code, not a person's"),
        NotPersonal("conferences", "pin_index", "a fingerprint of the access code"),
        NotPersonal("conferences", "host_pin_enc", "the host's access code to the room"),
        NotPersonal("conferences", "host_pin_index", "a fingerprint of the host's code"),
        NotPersonal("conferences", "web_link_enc", "the room link, a random secret"),
        NotPersonal("conferences", "web_link_index", "a fingerprint of the room link"),
        NotPersonal("pin_prefixes", "prefix_index", "fingerprints of PIN beginnings"),
        NotPersonal("retired_pins", "pin_index", "fingerprints of PINs taken out of use"),
        NotPersonal("crm_webhooks", "url_enc", "the account's CRM address, a system"),
        NotPersonal("crm_webhooks", "secret_enc", "the CRM signing secret"),
        NotPersonal("dial_in_numbers", "number", "the platform's access numbers"),
        NotPersonal("account_dial_ins", "dial_in_number_id", "which access numbers, by id"),
        NotPersonal("conference_dial_ins", "dial_in_number_id", "which access numbers, by id"),
        NotPersonal("dial_in_numbers", "label", "how pages name an access number"),
        NotPersonal("trunks", "name", "a carrier trunk's name"),
        NotPersonal("trunks", "host", "a carrier's address"),
        NotPersonal("trunks", "username", "the platform's account at a carrier"),
        NotPersonal("trunks", "password_enc", "the platform's password at a carrier"),
        NotPersonal("trunks", "caller_id", "the platform's number shown on calls it places"),
        NotPersonal("operator_tokens", "label", "what an operator token is for"),
        NotPersonal(
            "friend_invitations", "token_enc", "the unsubscribe link's secret, until it is sent"
        ),
    ),
)


# Words that make a column look personal: a column named with one of them must be declared,
# as personal (a holding) or not (``NotPersonal``, with the reason). ``PERSONAL_TOKENS`` are
# whole words of a snake_case name (not the ``ip`` of ``recipient``, the ``actor`` of
# ``second_factor``); the others count anywhere in it.
PERSONAL_WORDS = (
    "name",
    "number",
    "email",
    "address",
    "note",
    "agent",
    "caller",
    "phone",
    "title",
    "recipient",
    "dialog",
    "contact",
    "label",
    "source",
    "subject",
    "url",
    "cipher",
    "index",
    "birth",
    "company",
    "digest",
)
PERSONAL_TOKENS = ("ip", "enc", "actor", "msisdn", "dob")


def looks_personal(column: str) -> bool:
    """Whether a column's name suggests it holds personal data (see ``PERSONAL_WORDS``)."""
    name = column.lower()
    return any(word in name for word in PERSONAL_WORDS) or any(
        token in name.split("_") for token in PERSONAL_TOKENS
    )


@dataclass(frozen=True)
class SchemaFindings:
    """What a schema and the inventory disagree on."""

    undeclared: tuple[tuple[str, str], ...]  # looks personal, in neither list
    gone: tuple[tuple[str, str], ...]  # declared, not in the schema

    @property
    def clean(self) -> bool:
        return not self.undeclared and not self.gone


def check_schema(
    columns: Iterable[tuple[str, str]], inventory: Inventory = INVENTORY
) -> SchemaFindings:
    """Hold the inventory against a schema's (table, column) pairs."""
    present = set(columns)
    known = set(inventory.declared_columns()) | set(inventory.exempt_columns())
    return SchemaFindings(
        undeclared=tuple(sorted(c for c in present - known if looks_personal(c[1]))),
        gone=tuple(sorted(known - present)),
    )
