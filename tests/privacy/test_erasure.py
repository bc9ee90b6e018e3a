"""Erasure of one person stays done (issue 15): the person's sign-in ends, a repeat changes
nothing, a late arrival (a contact import or a call with the erased number after the
erasure) is kept as the new data it is and never re-linked to the old rows, a replay leaves
it alone, and ``callroster serve`` replays the journal on a restored backup before it serves.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import select
from tests.conftest import FakeClock
from tests.support.service import running_service

from callroster.accounts.actor import Role, operator_cli
from callroster.config import load_settings
from callroster.store.erasure import erase_person, replay_erasures
from callroster.store.models import AuditEntry, Leg
from callroster.store.store import Store, open_store

OPERATOR = operator_cli("erasure test")
NUMBER = "+44 7700 900456"


def _seed(store: Store) -> tuple[str, str, str, str]:
    account = store.accounts.create_account(OPERATOR, "Late Ltd", "london")
    host = store.accounts.create_user(
        OPERATOR, account, Role.HOST, "Hal Host", email="hal@late.example", phone=NUMBER
    )
    token = store.tokens.issue(OPERATOR, account, host, {"roster:read"}, "hal's token")
    conference = store.conferences.create_conference(OPERATOR, host, "Late call")
    store.contacts.add(OPERATOR, account, "Hal (mobile)", phone="07700900456")
    store.conferences.add_leg(
        OPERATOR,
        conference,
        joined_via="dial_in",
        name="Hal (mobile)",
        name_source="contact",
        number="07700 900456",
        withheld=False,
    )
    return account, host, token, conference


def _legs_with_a_number(store: Store) -> list[Leg]:
    with store.sessions() as session:
        return list(session.scalars(select(Leg).where(Leg.number_index.is_not(None))))


def test_a_late_arrival_is_new_data_and_old_rows_stay_erased(
    store: Store, clock: FakeClock
) -> None:
    account, host, token, conference = _seed(store)
    assert store.tokens.authenticate(token) is not None  # control
    first = erase_person(store, OPERATOR, number="00447700900456")
    assert first.counts == {"users": 1, "contacts": 1, "legs": 1}
    # The number, the email the user row revealed, and that email's Tell a Friend index.
    assert len(first.journal_ids) == 3
    assert store.tokens.authenticate(token) is None  # their sign-in ended
    again = erase_person(store, OPERATOR, email="HAL@late.example")
    assert again.total == 0 and again.journal_ids == []  # nothing left, nothing journalled
    with store.sessions() as session:
        subjects = [e.subject for e in session.scalars(select(AuditEntry))]
    assert "erasure:" + first.journal_ids[0] in subjects
    assert not any("7700" in s or "hal@" in s for s in subjects)  # ids only

    # After the erasure: the person calls again, and is imported into the contacts again.
    clock.advance(hours=1)
    store.contacts.add(OPERATOR, account, "Hal again", phone=NUMBER)
    store.conferences.add_leg(
        OPERATOR,
        conference,
        joined_via="dial_in",
        name=None,
        name_source=None,
        number=NUMBER,
        withheld=False,
    )
    assert store.contacts.name_for_number(OPERATOR, account, NUMBER) == "Hal again"
    [new_leg] = _legs_with_a_number(store)  # only the new one: the old carries no index
    replay = replay_erasures(store, OPERATOR)
    assert replay.counts == {}  # the journal reaches back to the erasure only
    assert [leg.id for leg in _legs_with_a_number(store)] == [new_leg.id]
    legs = store.conferences.legs(OPERATOR, conference)
    old = [leg for leg in legs if leg.id != new_leg.id]
    assert [(leg.name, leg.number) for leg in old] == [(None, None)]


def test_serve_replays_the_journal_on_a_restored_backup_before_it_serves(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    settings = load_settings(data=data)
    store = open_store(settings)
    _seed(store)
    store.close()
    backup = tmp_path / "backup"
    backup.mkdir()
    for path in data.glob("callroster.db*"):
        shutil.copy2(path, backup / path.name)
    store = open_store(settings)
    erase_person(store, OPERATOR, number=NUMBER)
    store.close()
    for path in data.glob("callroster.db*"):
        path.unlink()
    for path in backup.iterdir():
        shutil.copy2(path, data / path.name)
    store = open_store(settings)
    assert len(_legs_with_a_number(store)) == 1  # control: the backup brought it back
    store.close()
    with running_service(data, demo=False) as service:
        assert "erasures replayed before serving" in service.banner
        store = open_store(settings, migrate_to_head=False)
        assert _legs_with_a_number(store) == []
        store.close()
