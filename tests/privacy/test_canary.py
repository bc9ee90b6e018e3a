"""The canary (issue 15): one person planted in every table that can hold them, a backup
taken, the person erased, and then every place searched for them in every form and encoding:
the live database (SQLite file and WAL, or a new pg_dump), the data folder and the logs.
Zero hits. Then the pre-erasure backup is restored, ``callroster privacy replay-erasures``
(a real process) run, and everything searched again: zero hits.

Names, numbers and emails are encrypted at rest, so a search of the raw files for the clear
values would find nothing even before the erasure and prove nothing. Each search therefore
has a control that does find the person where they are: (1) the search itself finds every
form in every encoding when it is there (a control blob); (2) the raw files of the backup hold
the person's blind indexes (the keyed hashes rows are looked up by: raw bytes, and hex in a
pg_dump), and after the erasure they are nowhere; (3) the *decrypted view* (every ciphertext
of every row opened with the account keys, as the service would) shows the name, email and
number in the backup, and none of them after the erasure.

Issue 16's data is planted too: a Tell a Friend invitation to the person (not yet sent, so
its encrypted address is there) and one from them (their own words, naming them), and their
public profile address, shown with their consent (a URL carrying a token of its own, searched
like the name). The person also opted out of marketing, so the suppression list holds the
keyed hash of their email under the blind index kind ``marketing``. That hash is meant to
outlive the erasure (``store/erasure.py``, ``store/suppressions.py``): an objection to
marketing stands after the data is gone, and it is what keeps the person from being invited
again. It is therefore not among the indexes that must be nowhere (those are the kinds
``email`` and ``phone``, which everything else finds the person by, and it is none of them);
it is the one index a Tell a Friend invitation to the person also carries, so it is searched
on its own: in the backup it is in two rows, after the erasure and after the replay in the
suppression's row alone, and nowhere else in any file, log or decrypted view.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.conftest import FakeClock
from tests.support.cli import runner as cli_runner
from tests.support.postgres import PostgresServer, find_pg_bin
from tests.support.service import clean_env

from callroster.accounts.actor import Actor, Role, operator_cli
from callroster.config import Settings, load_settings
from callroster.errors import CallrosterError
from callroster.privacy.keys import DecryptionError
from callroster.privacy.subject_requests import RequestKind
from callroster.store import suppressions
from callroster.store.erasure import erase_person, journal_digest
from callroster.store.models import Base, MarketingSuppression, PrivacyRequest
from callroster.store.privacy_decisions import decide
from callroster.store.privacy_requests import ADDRESS as REQUEST_ADDRESS
from callroster.store.privacy_requests import PURPOSE as REQUESTS_KEY
from callroster.store.privacy_requests import Address
from callroster.store.store import Store, open_store

OPERATOR = operator_cli("canary test")
NAME = "Zebedee Quillfeather"
EMAIL = "Zebedee.Quill@Example.org"
E164 = "+447700900123"
TOKEN = "zq7canary4b1d"  # in the person's public profile address, and nowhere else
PROFILE = f"https://social.example/@{TOKEN}"
FRIEND = "friend.of.the.canary@example.net"  # whom the person invited: not the person
FORMS = [
    NAME,
    EMAIL,
    EMAIL.lower(),
    E164,
    "07700 900123",  # national
    "07700900123",
    "447700900123",  # digits only
    "7700900123",
    TOKEN,
    PROFILE,
]


def encodings(value: str) -> list[bytes]:
    """A value as a file may hold it: clear, hex (both cases), UTF-16 (both byte orders)."""
    raw = value.encode()
    return [
        raw,
        raw.hex().encode(),
        raw.hex().upper().encode(),
        value.encode("utf-16-le"),
        value.encode("utf-16-be"),
    ]


def digest_encodings(digest: bytes) -> list[bytes]:
    return [digest, digest.hex().encode(), digest.hex().upper().encode()]


def hits(blobs: dict[str, bytes], needles: Iterable[bytes]) -> list[str]:
    """Where each needle is found: ``"place: needle"`` lines (empty when none is)."""
    found = []
    for needle in needles:
        for place, blob in blobs.items():
            if needle in blob:
                found.append(f"{place}: {needle[:24]!r}")
    return found


def counts(blobs: dict[str, bytes], needles: Iterable[bytes]) -> dict[str, int]:
    """How many times the needles are found in each place that holds any."""
    found = {place: sum(blob.count(n) for n in needles) for place, blob in blobs.items()}
    return {place: n for place, n in found.items() if n}


def value_needles() -> list[bytes]:
    return [e for form in FORMS for e in encodings(form)]


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def decrypted_view(store: Store) -> bytes:
    """Every ciphertext of every row of every table with an account, opened with the
    account's key (what the service could ever show), joined."""
    out: list[str] = []
    with store.sessions() as session:
        for table in Base.metadata.sorted_tables:
            if "account_id" not in table.c:
                continue
            sealed = [c for c in table.c if c.name.endswith("_enc")]
            for row in session.execute(select(table)).mappings():
                if row["account_id"] is None:
                    continue
                try:
                    cipher = store.keys.cipher(row["account_id"])
                except CallrosterError:
                    continue
                for column in sealed:
                    blob = row[column.name]
                    if not blob:
                        continue
                    try:
                        value = cipher.decrypt_bytes(f"{table.name}.{column.name[:-4]}", blob)
                    except DecryptionError:
                        continue
                    out.append(value.decode("utf-8", "replace"))
        # Requests are kept under a platform key, not an account's.
        platform = store.keys.platform_cipher(REQUESTS_KEY)
        for request in session.scalars(select(PrivacyRequest)):
            for blob in (request.address_enc, request.correction_enc):
                if blob:
                    out.append(platform.decrypt(REQUEST_ADDRESS, blob))
    return "\n".join(out).encode()


def holders(store: Store, digest: bytes) -> list[str]:
    """Every ``table.column`` of every row that holds ``digest`` (as bytes or hex)."""
    found = []
    with store.sessions() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(select(table)).mappings():
                for name, value in row.items():
                    if isinstance(value, bytes) and digest in value:
                        found.append(f"{table.name}.{name}")
                    elif isinstance(value, str) and digest.hex() in value.lower():
                        found.append(f"{table.name}.{name}")
    return found


SUPPRESSION_ONLY = [f"{MarketingSuppression.__tablename__}.address_index"]


@dataclass
class Planted:
    indexes: list[bytes]  # the person's blind indexes, as rows carry them
    request_id: str  # their erasure request, verified, waiting for the operator
    suppression: bytes  # their opt-out: the ``marketing`` keyed hash of their email


def plant(store: Store, clock: FakeClock) -> Planted:
    """The person everywhere: a host (with a delegate) in one account; in another a contact,
    a dial-in guest named from the contacts, a web guest who typed the name, a dial-out
    target, a click-to-call target (call record), an invitation's recipient; a Tell a Friend
    invitation to them and one from them, both not yet sent; their public profile address,
    shown with consent; their opt-out of marketing (a suppression); and the requester of
    their own erasure (verified by the code sent to their email)."""
    home = store.accounts.create_account(OPERATOR, "Quill Holdings", "london")
    person = store.accounts.create_user(
        OPERATOR, home, Role.HOST, NAME, email=EMAIL, phone="07700 900123"
    )
    delegate = store.accounts.create_user(
        OPERATOR, home, Role.DELEGATE, "Dora Delegate", email="dora@quill.example"
    )
    store.accounts.delegate(OPERATOR, person, delegate)
    other = store.accounts.create_account(OPERATOR, "Other Firm", "london")
    host = store.accounts.create_user(
        OPERATOR, other, Role.HOST, "Olive Host", email="olive@other.example"
    )
    store.contacts.add(OPERATOR, other, NAME, phone="+44 7700 900123", email=EMAIL)
    conference = store.conferences.create_conference(OPERATOR, host, "Weekly numbers")
    store.conferences.add_leg(
        OPERATOR,
        conference,
        joined_via="dial_in",
        name=NAME,
        name_source="contact",
        number="07700900123",
        withheld=False,
    )
    store.conferences.add_leg(
        OPERATOR,
        conference,
        joined_via="web",
        name=NAME,
        name_source="entered",
        number=None,
        withheld=False,
    )
    dialled = store.conferences.add_leg(
        OPERATOR,
        conference,
        joined_via="dial_out",
        name=None,
        name_source=None,
        number="+44 (0)7700 900123",
        withheld=False,
    )
    store.call_records.start(other, conference, dialled, "0044 7700 900123", None, host, clock())
    clicked = store.conferences.add_leg(
        OPERATOR,
        conference,
        joined_via="dial_out",
        name=None,
        name_source=None,
        number="tel:+447700900123",
        withheld=False,
    )
    store.call_records.start(other, None, clicked, "+447700900123", None, host, clock())
    store.invitations.queue(
        OPERATOR,
        conference,
        [EMAIL],
        event_start=clock() + dt.timedelta(days=1),
        event_minutes=30,
        per_host_per_day=100,
    )
    # Issue 16: Tell a Friend to the person and from them, and their public profile.
    olive = Actor(host, Role.HOST, other, "192.0.2.7", "canary")
    zebedee = Actor(person, Role.HOST, home, "192.0.2.8", "canary")
    for sender, address, message in (
        (olive, EMAIL, "Olive here: try this for our calls."),
        (zebedee, FRIEND, f"It's {NAME}: our weekly calls run on this."),
    ):
        store.friend_invitations.queue(
            sender,
            address,
            address.lower(),
            message,
            standard_wording=False,
            per_sender_per_day=10,
            per_account_per_day=100,
        )
    assert store.public_profiles.save(zebedee, person, PROFILE, consent=True) == "given"
    # The person's requests: no marketing (done once verified: the suppression), and erasure.
    requests = []
    for kind in (RequestKind.MARKETING_OPT_OUT, RequestKind.ERASURE):
        opened = store.privacy_requests.open(
            kind, Address.of(email=EMAIL), source="127.0.0.1", reason="canary"
        )
        assert opened.delivery is not None
        verified = store.privacy_requests.verify(
            opened.token, opened.delivery.code, source="127.0.0.1", reason="canary"
        )
        assert verified.outcome == "verified"
        requests.append(opened.request_id)
    assert store.privacy_requests.suppressed(EMAIL.lower())
    index = store.keys.blind_index()
    return Planted(
        [index.of("email", EMAIL.lower()), index.of("phone", E164)],
        requests[-1],
        suppressions.suppression_index(index, EMAIL.lower()),
    )


class Place:
    """The database as files, whatever the backend: its bytes, a backup, a restore."""

    def __init__(self, settings: Settings, pg: PostgresServer | None, dbname: str | None):
        self.settings = settings
        self.pg = pg
        self.dbname = dbname

    @property
    def sqlite_file(self) -> Path:
        return self.settings.data / "callroster.db"

    def kept(self, folder: Path, *, rows: int) -> dict[str, int]:
        """Where a keyed hash that ``rows`` rows hold is found, and how many times: in the
        SQLite file each row's copy and its index entry (the suppression's primary key, the
        invitation's unique ``address_index``); in a dump (a backup's, or the live
        database's) each row's line."""
        if self.pg is None:
            return {str(folder / "callroster.db"): 2 * rows}
        return {str(folder / "dump.sql") if folder != self.settings.data else "pg_dump": rows}

    def outside_suppressions(self, dump: bytes, digest: bytes) -> int:
        """On PostgreSQL, how many of a dump's lines with ``digest`` are not the suppression
        list's (on SQLite 0: whose the file's copies are, ``holders`` says)."""
        if self.pg is None:
            return 0
        text = dump.decode()
        start = text.index("COPY public.marketing_suppressions ")
        end = text.index("\\.\n", start)
        return text[:start].count(digest.hex()) + text[end:].count(digest.hex())

    def live_bytes(self) -> dict[str, bytes]:
        if self.pg is None:
            return {
                str(p): p.read_bytes()
                for p in self.settings.data.glob("callroster.db*")
                if p.is_file()
            }
        assert self.dbname is not None
        return {"pg_dump": self.pg.dump(self.dbname).encode()}

    def backup(self, folder: Path) -> dict[str, bytes]:
        """A backup as an operator takes one: a copy of the SQLite files, or a pg_dump."""
        folder.mkdir()
        if self.pg is None:
            for path in self.settings.data.glob("callroster.db*"):
                shutil.copy2(path, folder / path.name)
            return files_under(folder)
        assert self.dbname is not None
        (folder / "dump.sql").write_text(self.pg.dump(self.dbname))
        return files_under(folder)

    def restore(self, folder: Path) -> None:
        if self.pg is None:
            for path in self.settings.data.glob("callroster.db*"):
                path.unlink()
            for path in folder.iterdir():
                shutil.copy2(path, self.settings.data / path.name)
            return
        assert self.dbname is not None
        self.pg.drop_database(self.dbname)
        self.pg.create_database(self.dbname)
        bin_dir = find_pg_bin()
        assert bin_dir is not None
        env = clean_env() | {"PGPASSWORD": self.pg.password}
        result = subprocess.run(
            [
                str(bin_dir / "psql"),
                "--no-password",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "--dbname",
                self.pg.conninfo(self.dbname),
                "-f",
                str(folder / "dump.sql"),
            ],
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr.decode()


@pytest.fixture
def place(
    backend: str, tmp_path: Path, database_url: str, request: pytest.FixtureRequest
) -> Iterator[Place]:
    settings = load_settings(data=tmp_path / "data", database_url=database_url)
    if backend == "sqlite":
        yield Place(settings, None, None)
        return
    pg: PostgresServer = request.getfixturevalue("postgres")
    yield Place(settings, pg, database_url.rsplit("/", 1)[-1])


def test_an_erased_person_is_nowhere_and_stays_so_after_a_restore(
    place: Place, tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="callroster")
    # Control 1: the search finds every form in every encoding when it is there.
    control = {"control": b"..".join(value_needles())}
    assert len(hits(control, value_needles())) == len(value_needles())

    store = open_store(place.settings, clock=clock)
    planted = plant(store, clock)
    seeded_view = decrypted_view(store)
    # The suppression's keyed hash is none of the person's other indexes; before the
    # erasure, the invitation to the person carries it too.
    assert planted.suppression not in planted.indexes
    assert sorted(holders(store, planted.suppression)) == [
        "friend_invitations.address_index",
        *SUPPRESSION_ONLY,
    ]
    store.close()
    backup = place.backup(tmp_path / "backup")
    # Controls 2 and 3: the backup holds the person, as indexes and in the decrypted view.
    index_needles = [e for d in planted.indexes for e in digest_encodings(d)]
    kept_needles = digest_encodings(planted.suppression)
    assert hits(backup, index_needles), "the backup holds the person's blind indexes"
    # The suppression's hash in the backup: its row's and the invitation's to the person.
    assert counts(backup, kept_needles) == place.kept(tmp_path / "backup", rows=2)
    if place.pg is not None:
        dump = backup[str(tmp_path / "backup" / "dump.sql")]
        assert place.outside_suppressions(dump, planted.suppression) == 1  # the invitation
    for form in (NAME, EMAIL.lower(), E164, PROFILE, f"It's {NAME}"):
        assert form.encode() in seeded_view
    assert (
        seeded_view.lower().count(EMAIL.lower().encode()) >= 5
    )  # user, contact, invitee, requester, invited friend
    assert not hits(backup, value_needles())  # encrypted at rest: never in clear

    store = open_store(place.settings, clock=clock)
    clock.advance(minutes=5)
    # The request approved: the erasure runs (by email; the number is found from the rows).
    decide(store, OPERATOR, planted.request_id, approve=True)
    requests = {r.id: r for r in store.privacy_requests.list(OPERATOR)}
    assert requests[planted.request_id].outcome == (
        "erased: call_records 2, contacts 1, friend_invitations 2, invitation_emails 1, "
        "legs 4, privacy_requests 1, users 1"
    )  # friend invitations: the one to them deleted, the one from them given up on
    assert erase_person(store, OPERATOR, number="07700 900123").total == 0  # all done

    def search(when: str, view: bytes, logs: str) -> None:
        places = place.live_bytes() | files_under(place.settings.data)
        places |= {"logs": logs.encode(), "decrypted view": view}
        assert not hits(places, value_needles()), when
        assert not hits(places, index_needles), when
        # The suppression's hash: its row's copies in the database, nowhere else at all.
        assert counts(places, kept_needles) == place.kept(place.settings.data, rows=1), when
        if place.pg is not None:
            assert place.outside_suppressions(places["pg_dump"], planted.suppression) == 0

    # The journal file has the person's Tell a Friend index as the `friend` kind's keyed
    # hash of it (never the index itself: the searches below see the file too).
    assert store.erasure_journal_file is not None
    journal = store.erasure_journal_file.read_text().split()
    friend_entry = journal_digest(store.keys.blind_index(), "friend", planted.suppression)
    assert friend_entry.hex() in journal
    # The opt-out outlives the erasure, as the suppression's row alone.
    assert store.privacy_requests.suppressed(EMAIL.lower())
    assert holders(store, planted.suppression) == SUPPRESSION_ONLY
    # Searched while the store is still open, as a running service's files are: on SQLite
    # the WAL is there, and must not hold the pages from before the erasure.
    search("after the erasure", decrypted_view(store), caplog.text)
    store.close()

    # The pre-erasure backup comes back; the journal (outside the database) erases it again.
    place.restore(tmp_path / "backup")
    restored = open_store(place.settings, migrate_to_head=False, clock=clock)
    back = decrypted_view(restored)
    assert NAME.encode() in back and PROFILE.encode() in back  # control: the person is back
    restored.close()
    env = clean_env() | {
        "CALLROSTER_DATABASE_URL": place.settings.resolved_database_url,
    }
    replay = cli_runner().run(
        ["privacy", "replay-erasures", "--data", str(place.settings.data)], env
    )
    assert replay.returncode == 0, replay.stderr
    assert '"legs": 4' in replay.stdout
    assert '"friend_invitations": 2' in replay.stdout  # to them deleted, theirs given up on
    replayed = open_store(place.settings, migrate_to_head=False, clock=clock)
    view = decrypted_view(replayed)
    assert replayed.privacy_requests.suppressed(EMAIL.lower())
    assert holders(replayed, planted.suppression) == SUPPRESSION_ONLY
    replayed.close()
    search("after restoring the backup and replaying", view, caplog.text + replay.stdout)
