"""An approved erasure request is carried out by the erasure (``store.erasure``), on SQLite
and PostgreSQL: after approval, an access export by the same email and number finds nothing
in any account; the request is completed with counts only, and a refused one erases
nothing (the control)."""

from __future__ import annotations

from tests.store.test_privacy_requests import (
    EMAIL,
    NATIONAL,
    NUMBER,
    OPERATOR,
    open_request,
    seed,
    verify,
)

from callroster.privacy.subject_requests import RequestKind, RequestStatus
from callroster.store.privacy_decisions import decide
from callroster.store.privacy_requests import Address
from callroster.store.store import Store
from callroster.store.subject_data import Person


def _verified(store: Store, address: Address) -> str:
    opened = open_request(store, RequestKind.ERASURE, address)
    assert opened.delivery is not None
    assert verify(store, opened.token, opened.delivery.code).outcome == "verified"
    return opened.request_id


def _held(store: Store) -> dict[str, int]:
    tables = store.privacy_requests.subject_data.collect(Person(email=EMAIL, number=NUMBER))
    return {name: len(rows) for name, rows in tables.items() if rows}


def test_approved_erasure_leaves_nothing_to_find(store: Store) -> None:
    seed(store)
    before = _held(store)
    assert before["users"] == 1 and before["contacts"] == 1 and before["call_legs"] == 1
    refused = _verified(store, Address.of(email=EMAIL))
    decide(store, OPERATOR, refused, approve=False, why="Held for a legal claim")
    assert _held(store) == before  # the control: a refusal erases nothing

    by_email = _verified(store, Address.of(email=EMAIL))
    by_number = _verified(store, Address.of(phone=NATIONAL))
    decide(store, OPERATOR, by_email, approve=True)
    decide(store, OPERATOR, by_number, approve=True)
    assert _held(store) == {}
    views = {v.id: v for v in store.privacy_requests.list(OPERATOR)}
    for request_id in (by_email, by_number):
        view = views[request_id]
        assert view.status is RequestStatus.COMPLETED and view.outcome is not None
        assert EMAIL not in view.outcome and NUMBER not in view.outcome
    # The first erased her everywhere (her number too, through her user and contact rows),
    # which cleared the second request's address: it is completed with nothing left to do.
    assert views[by_email].outcome == (
        "erased: call_records 1, contacts 1, invitation_emails 1, legs 1, privacy_requests 2,"
        " users 1"
    )
    assert views[by_number].outcome == "nothing held any longer (erased)"
    assert views[refused].status is RequestStatus.REFUSED
    actions = [e.action for e in store.audit.entries() if e.action.startswith("privacy_request")]
    assert actions.count("privacy_request.approve") == 2
