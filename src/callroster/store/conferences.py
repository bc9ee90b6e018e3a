"""Conferences, their dial-in numbers, and legs (service data)."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from callroster.accounts.actor import Actor
from callroster.errors import InUseError, NotFoundError
from callroster.privacy import normalise
from callroster.store.accounts import PinLengths, authorise
from callroster.store.errors import DuplicateError
from callroster.store.models import (
    Account,
    CallRecord,
    Conference,
    ConferenceDialIn,
    DialInNumber,
    InvitationEmail,
    Leg,
    PinPrefix,
    RetiredPin,
    User,
)
from callroster.store.numbers import NumberView, numbers_for_account_in
from callroster.store.repository import (
    CONFERENCE_HOST_PIN,
    CONFERENCE_PIN,
    CONFERENCE_WEB_LINK,
    LEG_NUMBER,
    Repository,
    affected,
)
from callroster.store.retention import RetentionRules, leg_kept

# The length of every PIN made before PIN lengths became an account setting (issue 12).
LEGACY_PIN_LENGTH = 8
# The beginnings of a PIN that are indexed (PinPrefix): from the shortest PIN an account may
# set up to the PIN's length less one.
SHORTEST_PIN_PREFIX = 6
# How long a PIN taken out of use is not given again (Settings.pin_cooling_off_days).
DEFAULT_COOLING_OFF = dt.timedelta(days=180)
MAX_TITLE = 120


def conference_title(title: str) -> str:
    """A conference's title, trimmed. Raises ValueError unless 1 to 120 characters."""
    text = title.strip()
    if not text or len(text) > MAX_TITLE:
        raise ValueError(f"a conference's name is 1 to {MAX_TITLE} characters")
    return text


@dataclass(frozen=True)
class ConferenceView:
    id: str
    account_id: str
    host_id: str
    title: str
    pin: str
    host_pin: str | None
    web_link: str
    dial_in_numbers: tuple[str, ...]
    lock_by_default: bool
    record_by_default: bool
    # The same numbers with their country, kind and label (store.numbers), by country.
    numbers: tuple[NumberView, ...] = ()


@dataclass(frozen=True)
class PinMatch:
    conference_id: str
    account_id: str
    as_host: bool
    locked: bool
    talk_sensitivity: float = 0.5


@dataclass(frozen=True)
class LegView:
    id: str
    conference_id: str
    joined_via: str
    status: str
    name: str | None
    name_source: str | None
    number: str | None  # E.164, or "withheld"
    joined_at: dt.datetime
    left_at: dt.datetime | None


class ConferenceRepository(Repository):
    retention = RetentionRules()  # open_store sets the configured policy
    # Bumped after each commit that wrote a PIN: the bridge's directory re-reads the lengths
    # in use when it changes (a cheap check, no query).
    pins_written = 0
    # A retired PIN is not given again for this long (set from the settings by open_store).
    cooling_off = DEFAULT_COOLING_OFF

    def ensure_dial_in_number(self, number: str, country: str, kind: str) -> str:
        with self._sessions.begin() as session:
            row = session.scalar(select(DialInNumber).where(DialInNumber.number == number))
            if row is None:
                row = DialInNumber(
                    id=str(uuid.uuid4()),
                    number=number,
                    country=country,
                    kind=kind,
                    created_at=self._clock(),
                )
                session.add(row)
            return row.id

    def create_conference(
        self,
        actor: Actor,
        host_id: str,
        title: str,
        *,
        dial_in_number_ids: tuple[str, ...] = (),
        pin: str | None = None,
    ) -> str:
        with self._sessions.begin() as session:
            conference_id = self.create_conference_in(
                session, actor, host_id, title, pin=pin, dial_in_number_ids=dial_in_number_ids
            )
        self._pins_changed()
        return conference_id

    def create_conference_in(
        self,
        session: Session,
        actor: Actor,
        host_id: str,
        title: str,
        *,
        pin: str | None = None,
        dial_in_number_ids: tuple[str, ...] = (),
    ) -> str:
        """Create a conference inside the caller's transaction (a host added with their
        personal conference is one change); the caller calls ``pins_changed`` after the
        commit. The numbers it shows are its account's (store.numbers); those given in
        ``dial_in_number_ids`` are also linked to it (conference_dial_ins, as before).

        Raises:
            NotFoundError: no such host.
            ValueError: a bad title, or a given PIN not of the account's guest length.
            DuplicateError: the given PIN is taken, begins one, or was retired lately.
        """
        index = self._keys.blind_index()
        title = conference_title(title)
        host = session.get(User, host_id)
        if host is None:
            raise NotFoundError(f"no host {host_id}")
        authorise(actor, host.account_id)
        cipher = self._keys.cipher(host.account_id)
        lengths = self._lengths_of(session, host.account_id)
        if pin is not None and (not pin.isdigit() or len(pin) != lengths.guest):
            raise ValueError(f"this account's guest PINs are {lengths.guest} digits")
        if pin is not None and (self._pin_taken(session, pin) or self._begins_a_pin(session, pin)):
            raise DuplicateError("this PIN is taken")
        if pin is not None and self._recently_retired(session, pin):
            raise DuplicateError(
                "this PIN was in use until recently: a PIN is not given again for "
                f"{self.cooling_off.days} days"
            )
        guest_pin = pin or self._free_pin(session, lengths.guest)
        host_pin = self._free_pin(session, lengths.host, avoid=guest_pin)
        pin_enc, pin_index = CONFERENCE_PIN.seal(cipher, index, guest_pin)
        host_pin_enc, host_pin_index = CONFERENCE_HOST_PIN.seal(cipher, index, host_pin)
        link_enc, link_index = CONFERENCE_WEB_LINK.seal(cipher, index, secrets.token_urlsafe(12))
        conference_id = str(uuid.uuid4())
        session.add(
            Conference(
                id=conference_id,
                account_id=host.account_id,
                host_id=host_id,
                title_enc=cipher.encrypt("conferences.title", title),
                pin_enc=pin_enc,
                pin_index=pin_index,
                pin_length=len(guest_pin),
                host_pin_enc=host_pin_enc,
                host_pin_index=host_pin_index,
                host_pin_length=len(host_pin),
                web_link_enc=link_enc,
                web_link_index=link_index,
                created_at=self._clock(),
            )
        )
        session.flush()
        self._index_beginnings(session, conference_id, guest_pin, of_host_pin=False)
        self._index_beginnings(session, conference_id, host_pin, of_host_pin=True)
        for number_id in dial_in_number_ids:
            session.add(ConferenceDialIn(conference_id=conference_id, dial_in_number_id=number_id))
        self._audit.record(
            session, actor, "conference.create", f"conference:{conference_id}", host.account_id
        )
        return conference_id

    def _pins_changed(self) -> None:
        self.pins_written += 1

    def pins_changed(self) -> None:
        """Tell the bridge's directory that PINs were written (after a commit)."""
        self._pins_changed()

    def _recently_retired(self, session: Session, pin: str) -> bool:
        """Whether ``pin`` was taken out of use within the cooling-off period."""
        since = self._clock() - self.cooling_off
        digest = self._index_of(CONFERENCE_PIN, pin)
        return (
            session.scalar(
                select(RetiredPin.id)
                .where(RetiredPin.pin_index == digest, RetiredPin.retired_at > since)
                .limit(1)
            )
            is not None
        )

    def _retire(self, session: Session, *pins: str | None) -> None:
        """Remember these PINs' blind indexes, and when, so that none is given again within
        the cooling-off period; forget those whose period is over."""
        now = self._clock()
        affected(session, delete(RetiredPin).where(RetiredPin.retired_at <= now - self.cooling_off))
        for pin in pins:
            if pin:
                session.add(
                    RetiredPin(pin_index=self._index_of(CONFERENCE_PIN, pin), retired_at=now)
                )

    def _lengths_of(self, session: Session, account_id: str) -> PinLengths:
        account = session.get_one(Account, account_id)
        return PinLengths(account.guest_pin_length, account.host_pin_length)

    def pin_lengths_in_use(self) -> frozenset[int]:
        """The lengths of every guest and host PIN there is (what a keypad must wait for)."""
        with self._sessions() as session:
            return frozenset(self._lengths_in(session))

    def _pin_taken(self, session: Session, pin: str) -> bool:
        digest = self._index_of(CONFERENCE_PIN, pin)
        return (
            session.scalar(
                select(Conference.id).where(
                    (Conference.pin_index == digest) | (Conference.host_pin_index == digest)
                )
            )
            is not None
        )

    def _begins_a_pin(self, session: Session, pin: str) -> bool:
        """Whether ``pin`` is the beginning of a PIN there is (PinPrefix)."""
        digest = self._index_of(CONFERENCE_PIN, pin)
        return (
            session.scalar(select(PinPrefix.id).where(PinPrefix.prefix_index == digest).limit(1))
            is not None
        )

    def _index_beginnings(
        self, session: Session, conference_id: str, pin: str, *, of_host_pin: bool
    ) -> None:
        """Index the beginnings of a conference's new PIN, in place of its old PIN's."""
        affected(
            session,
            delete(PinPrefix).where(
                PinPrefix.conference_id == conference_id, PinPrefix.of_host_pin == of_host_pin
            ),
        )
        for n in range(SHORTEST_PIN_PREFIX, len(pin)):
            session.add(
                PinPrefix(
                    conference_id=conference_id,
                    of_host_pin=of_host_pin,
                    prefix_index=self._index_of(CONFERENCE_PIN, pin[:n]),
                )
            )

    def _free_pin(self, session: Session, length: int, avoid: str = "") -> str:
        """A random PIN of ``length`` digits that opens nothing yet, does not begin with
        ``avoid`` (the conference's old PIN, or its guest PIN), and none of whose
        beginnings (of a length some PIN has) opens anything: a caller keying it slowly,
        whose first digits are tried after the keypad's pause, never joins another
        conference; nor is it itself the beginning of a PIN there is (PinPrefix): no PIN
        begins another."""
        shorter = sorted(n for n in self._lengths_in(session) if n < length)
        for _ in range(20):
            candidate = "".join(secrets.choice("0123456789") for _ in range(length))
            if (avoid and candidate.startswith(avoid)) or self._pin_taken(session, candidate):
                continue
            if self._begins_a_pin(session, candidate):
                continue
            if self._recently_retired(session, candidate):
                continue
            if any(self._pin_taken(session, candidate[:n]) for n in shorter):
                continue
            return candidate
        raise DuplicateError("could not find a free PIN")  # pragma: no cover - 10^6+ PINs

    def _lengths_in(self, session: Session) -> set[int]:
        guest = session.scalars(select(Conference.pin_length).distinct())
        host = session.scalars(select(Conference.host_pin_length).distinct())
        return {n for n in (*guest, *host) if n is not None}

    def get_conference(self, actor: Actor, conference_id: str) -> ConferenceView:
        with self._sessions.begin() as session:
            row = session.get(Conference, conference_id)
            if row is None:
                raise NotFoundError(f"no conference {conference_id}")
            authorise(actor, row.account_id)
            numbers = tuple(numbers_for_account_in(session, row.account_id))
            self._audit.record(
                session, actor, "conference.read", f"conference:{conference_id}", row.account_id
            )
            cipher = self._keys.cipher(row.account_id)
            return ConferenceView(
                id=row.id,
                account_id=row.account_id,
                host_id=row.host_id,
                title=cipher.decrypt("conferences.title", row.title_enc),
                pin=CONFERENCE_PIN.open(cipher, row.pin_enc),
                host_pin=CONFERENCE_HOST_PIN.open_optional(cipher, row.host_pin_enc),
                web_link=CONFERENCE_WEB_LINK.open(cipher, row.web_link_enc),
                dial_in_numbers=tuple(n.number for n in numbers),
                lock_by_default=row.lock_by_default,
                record_by_default=row.record_by_default,
                numbers=numbers,
            )

    def find_by_pin(self, pin: str) -> str | None:
        """The conference a guest or host PIN opens, found by blind index."""
        found = self.open_with_pin(pin)
        return found.conference_id if found else None

    def open_with_pin(self, pin: str) -> PinMatch | None:
        """Which conference a PIN opens, and whether as host."""
        if not pin.isdigit() or len(pin) > 12:
            return None
        digest = self._index_of(CONFERENCE_PIN, pin)
        with self._sessions() as session:
            row = session.execute(
                select(
                    Conference.id,
                    Conference.account_id,
                    Conference.host_pin_index,
                    Conference.lock_by_default,
                    Conference.talk_sensitivity,
                )
                .join(User, User.id == Conference.host_id)
                .join(Account, Account.id == Conference.account_id)
                .where((Conference.pin_index == digest) | (Conference.host_pin_index == digest))
                .where(User.suspended_at.is_(None))  # a suspended or removed host's: no calls
                .where(Account.status == "active")  # nor a suspended or terminated account's
            ).first()
        if row is None:
            return None
        return PinMatch(
            row[0],
            row[1],
            as_host=row[2] == digest,
            locked=bool(row[3]),
            talk_sensitivity=float(row[4]),
        )

    def open_for_web(self, conference_id: str, as_host: bool) -> PinMatch | None:
        """What a browser that may join (checked by the caller) joins: like a PIN's match."""
        with self._sessions() as session:
            row = session.execute(
                select(
                    Conference.account_id,
                    Conference.lock_by_default,
                    Conference.talk_sensitivity,
                )
                .join(User, User.id == Conference.host_id)
                .join(Account, Account.id == Conference.account_id)
                .where(Conference.id == conference_id, User.suspended_at.is_(None))
                .where(Account.status == "active")
            ).first()
        if row is None:
            return None
        return PinMatch(
            conference_id,
            row[0],
            as_host=as_host,
            locked=bool(row[1]),
            talk_sensitivity=float(row[2]),
        )

    def reset_pin(self, actor: Actor, conference_id: str) -> str:
        """Give a conference a new random guest PIN; the old one opens nothing any more."""
        with self._sessions.begin() as session:
            row = session.get(Conference, conference_id)
            if row is None:
                raise NotFoundError(f"no conference {conference_id}")
            authorise(actor, row.account_id)
            old = CONFERENCE_PIN.open(self._keys.cipher(row.account_id), row.pin_enc)
            length = self._lengths_of(session, row.account_id).guest
            pin = self._free_pin(session, length, avoid=old)
            self._retire(session, old)
            row.pin_enc, row.pin_index = CONFERENCE_PIN.seal(
                self._keys.cipher(row.account_id), self._keys.blind_index(), pin
            )
            row.pin_length = len(pin)
            self._index_beginnings(session, conference_id, pin, of_host_pin=False)
            self._audit.record(
                session,
                actor,
                "conference.pin_reset",
                f"conference:{conference_id}",
                row.account_id,
            )
        self._pins_changed()
        return pin

    def rename_conference(self, actor: Actor, conference_id: str, title: str) -> str:
        """Give a conference a new name; returns it, trimmed."""
        title = conference_title(title)
        with self._sessions.begin() as session:
            row = session.get(Conference, conference_id)
            if row is None:
                raise NotFoundError(f"no conference {conference_id}")
            authorise(actor, row.account_id)
            row.title_enc = self._keys.cipher(row.account_id).encrypt("conferences.title", title)
            self._audit.record(
                session, actor, "conference.rename", f"conference:{conference_id}", row.account_id
            )
        return title

    def delete_conference(self, actor: Actor, conference_id: str) -> None:
        """Delete a conference with who was on its calls (its legs); its PINs are retired
        (not given again within the cooling-off period); call detail records stay, for
        billing, pointing at no conference.

        Raises:
            NotFoundError: no such conference.
            InUseError: someone is on its call (a leg not yet left); nothing changes.
        """
        with self._sessions.begin() as session:
            row = session.get(Conference, conference_id)
            if row is None:
                raise NotFoundError(f"no conference {conference_id}")
            authorise(actor, row.account_id)
            if self._in_progress(session, conference_id):
                raise InUseError(
                    "this conference is in progress: it can be deleted once everyone has left"
                )
            cipher = self._keys.cipher(row.account_id)
            self._retire(
                session,
                CONFERENCE_PIN.open(cipher, row.pin_enc),
                CONFERENCE_HOST_PIN.open_optional(cipher, row.host_pin_enc),
            )
            for table in (PinPrefix, ConferenceDialIn, Leg, InvitationEmail):
                affected(session, delete(table).where(table.conference_id == conference_id))
            affected(
                session,
                update(CallRecord)
                .where(CallRecord.conference_id == conference_id)
                .values(conference_id=None),
            )
            session.delete(row)
            self._audit.record(
                session, actor, "conference.delete", f"conference:{conference_id}", row.account_id
            )
        self._pins_changed()

    def _in_progress(self, session: Session, conference_id: str) -> bool:
        return (
            session.scalar(
                select(Leg.id)
                .where(Leg.conference_id == conference_id, Leg.left_at.is_(None))
                .where(Leg.status != "left")
                .limit(1)
            )
            is not None
        )

    def is_dial_in_number(self, number: str) -> bool:
        with self._sessions() as session:
            return (
                session.scalar(select(DialInNumber.id).where(DialInNumber.number == number))
                is not None
            )

    def set_talk_sensitivity(self, actor: Actor, conference_id: str, sensitivity: float) -> None:
        if not 0.0 <= sensitivity <= 1.0:
            raise ValueError("talk sensitivity is between 0 and 1")
        with self._sessions.begin() as session:
            row = session.get(Conference, conference_id)
            if row is None:
                raise NotFoundError(f"no conference {conference_id}")
            authorise(actor, row.account_id)
            row.talk_sensitivity = sensitivity
            self._audit.record(
                session, actor, "conference.settings", f"conference:{conference_id}", row.account_id
            )

    def find_by_web_link(self, link: str) -> tuple[str, str] | None:
        """(conference id, account id) of the conference a web link opens, found by its
        blind index (the link is stored encrypted)."""
        digest = self._index_of(CONFERENCE_WEB_LINK, link)
        with self._sessions() as session:
            row = session.execute(
                select(Conference.id, Conference.account_id)
                .join(User, User.id == Conference.host_id)
                .where(Conference.web_link_index == digest, User.suspended_at.is_(None))
            ).first()
        return (row[0], row[1]) if row else None

    def conferences_of_host(self, host_id: str) -> list[str]:
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(Conference.id)
                    .where(Conference.host_id == host_id)
                    .order_by(Conference.created_at)
                )
            )

    # -- legs ---------------------------------------------------------------------------
    def add_leg(
        self,
        actor: Actor,
        conference_id: str,
        *,
        joined_via: str,
        name: str | None,
        name_source: str | None,
        number: str | None,
        withheld: bool,
        number_region: str = "GB",
        leg_id: str | None = None,
        status: str = "joining",
    ) -> str:
        """Store a leg. A withheld number is never stored, not even encrypted."""
        index = self._keys.blind_index()
        e164: str | None = None
        if number and not withheld:
            try:
                e164 = normalise.phone_e164(number, number_region)
            except normalise.InvalidValueError:
                e164 = None
        with self._sessions.begin() as session:
            conference = session.get(Conference, conference_id)
            if conference is None:
                raise NotFoundError(f"no conference {conference_id}")
            authorise(actor, conference.account_id)
            cipher = self._keys.cipher(conference.account_id)
            leg_id = leg_id or str(uuid.uuid4())
            number_enc, number_index = LEG_NUMBER.seal_optional(cipher, index, e164)
            session.add(
                Leg(
                    id=leg_id,
                    conference_id=conference_id,
                    account_id=conference.account_id,
                    joined_via=joined_via,
                    status=status,
                    name_enc=cipher.encrypt_optional("legs.name", name),
                    name_source=name_source,
                    number_enc=number_enc,
                    number_index=number_index,
                    number_withheld=withheld,
                    joined_at=self._clock(),
                )
            )
            self._audit.record(session, actor, "leg.create", f"leg:{leg_id}", conference.account_id)
        return leg_id

    def record_security_event(self, actor: Actor, action: str, subject: str) -> None:
        """An audit entry for a defence that acted (e.g. a PIN guesser blocked); no account's."""
        with self._sessions.begin() as session:
            self._audit.record(session, actor, action, subject, None)

    def set_leg_status(self, actor: Actor, leg_id: str, status: str, *, left: bool = False) -> None:
        with self._sessions.begin() as session:
            row = session.get(Leg, leg_id)
            if row is None:
                raise NotFoundError(f"no leg {leg_id}")
            authorise(actor, row.account_id)
            row.status = status
            if left:
                row.left_at = self._clock()
            self._audit.record(session, actor, f"leg.{status}", f"leg:{leg_id}", row.account_id)

    def set_leg_name(
        self, actor: Actor, leg_id: str, name: str | None, name_source: str | None
    ) -> None:
        with self._sessions.begin() as session:
            row = session.get(Leg, leg_id)
            if row is None:
                raise NotFoundError(f"no leg {leg_id}")
            authorise(actor, row.account_id)
            cipher = self._keys.cipher(row.account_id)
            row.name_enc = cipher.encrypt_optional("legs.name", name)
            row.name_source = name_source
            self._audit.record(session, actor, "leg.rename", f"leg:{leg_id}", row.account_id)

    def legs(self, actor: Actor, conference_id: str) -> list[LegView]:
        with self._sessions.begin() as session:
            conference = session.get(Conference, conference_id)
            if conference is None:
                raise NotFoundError(f"no conference {conference_id}")
            authorise(actor, conference.account_id)
            cipher = self._keys.cipher(conference.account_id)
            # Legs past their time (service data, 12 months) are hidden before the purge.
            scope = self.retention.scope(session, conference.account_id, self._clock())
            rows = list(
                session.scalars(
                    select(Leg)
                    .where(Leg.conference_id == conference_id, leg_kept(scope))
                    .order_by(Leg.joined_at)
                )
            )
            self._audit.record(
                session, actor, "legs.read", f"conference:{conference_id}", conference.account_id
            )
            return [
                LegView(
                    id=r.id,
                    conference_id=r.conference_id,
                    joined_via=r.joined_via,
                    status=r.status,
                    name=cipher.decrypt_optional("legs.name", r.name_enc),
                    name_source=r.name_source,
                    number="withheld"
                    if r.number_withheld
                    else LEG_NUMBER.open_optional(cipher, r.number_enc),
                    joined_at=r.joined_at,
                    left_at=r.left_at,
                )
                for r in rows
            ]

    def delete_legs_in(self, session: Session, conference_id: str) -> int:
        """Delete a conference's legs (who was on its calls) inside the caller's transaction;
        returns how many."""
        return affected(session, delete(Leg).where(Leg.conference_id == conference_id))
