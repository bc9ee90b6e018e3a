"""The number plan: numbers in E.164 only, one of each, limited per account, not removed from
under the accounts given them unless forced; conferences show their account's numbers."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from callroster.accounts.actor import Actor, Role, operator_cli
from callroster.errors import InUseError, NotFoundError
from callroster.store.errors import AccessDeniedError, DuplicateError
from callroster.store.models import AccountDialIn, AuditEntry, DialInNumber
from callroster.store.store import Store

OPERATOR = operator_cli("test")
LONDON, PARIS, FREEPHONE = "+442079460000", "+33142868200", "+448081570000"


def _conference(store: Store, name: str = "Hale & Partners LLP") -> tuple[str, str]:
    account_id = store.accounts.create_account(OPERATOR, name, "london")
    host_id = store.accounts.create_user(OPERATOR, account_id, Role.HOST, "Grace Hopper")
    return account_id, store.conferences.create_conference(OPERATOR, host_id, "Board call")


def test_a_number_is_added_in_e164_with_its_country_and_kind(store: Store) -> None:
    added = store.numbers.add(OPERATOR, "+44 20 7946 0000", region="london", label="London")
    assert (added.number, added.country, added.kind, added.region, added.label) == (
        LONDON,
        "GB",
        "toll",
        "london",
        "London",
    )
    assert store.numbers.add(OPERATOR, FREEPHONE).kind == "toll_free"  # from the number
    assert store.conferences.is_dial_in_number(LONDON)  # the bridge finds it as dialled
    assert not store.conferences.is_dial_in_number("02079460000")


@pytest.mark.parametrize(
    ("number", "country", "kind", "says"),
    [
        ("02079460000", None, None, "is not an E.164 number"),
        ("+44abc", None, None, "is not an E.164 number"),
        ("+4420", None, None, "is not an E.164 number"),
        ("+441000000000", None, None, "not a number in use"),
        (LONDON, "FR", None, "is a number of GB, not FR"),
        (LONDON, None, "premium", "toll or toll_free"),
    ],
)
def test_a_bad_number_is_refused_with_one_clear_message_and_nothing_added(
    store: Store, number: str, country: str | None, kind: str | None, says: str
) -> None:
    with pytest.raises(ValueError, match=says):
        store.numbers.add(OPERATOR, number, country=country, kind=kind)
    assert store.numbers.list_numbers(OPERATOR) == []


def test_a_number_is_in_the_plan_once(store: Store) -> None:
    store.numbers.add(OPERATOR, LONDON)
    with pytest.raises(DuplicateError, match=r"\+442079460000 is in the number plan already"):
        store.numbers.add(OPERATOR, "+44 20 7946 0000")
    with store.sessions() as session:
        assert session.scalar(select(func.count(DialInNumber.id))) == 1


def test_only_the_operator_changes_the_plan(store: Store) -> None:
    account_id, _ = _conference(store)
    admin = Actor("u1", Role.ADMINISTRATOR, account_id, "127.0.0.1", "test")
    with pytest.raises(AccessDeniedError):
        store.numbers.add(admin, LONDON)
    with pytest.raises(AccessDeniedError):
        store.numbers.limit_account(admin, account_id, [])


def test_conferences_show_every_number_until_their_account_is_limited(store: Store) -> None:
    store.numbers.add(OPERATOR, PARIS)
    store.numbers.add(OPERATOR, LONDON)
    store.numbers.add(OPERATOR, FREEPHONE)
    account_id, conference_id = _conference(store)
    _, other_conference = _conference(store, "Other Ltd")
    view = store.conferences.get_conference(OPERATOR, conference_id)
    # By country, toll before toll-free.
    assert view.dial_in_numbers == (PARIS, LONDON, FREEPHONE)
    assert store.numbers.limit_account(OPERATOR, account_id, [LONDON]) == [LONDON]
    assert store.conferences.get_conference(OPERATOR, conference_id).dial_in_numbers == (LONDON,)
    other = store.conferences.get_conference(OPERATOR, other_conference)
    assert other.dial_in_numbers == (PARIS, LONDON, FREEPHONE)  # another account: unchanged
    store.numbers.limit_account(OPERATOR, account_id, [])  # no limit: every number again
    assert len(store.conferences.get_conference(OPERATOR, conference_id).dial_in_numbers) == 3


def test_limiting_to_a_number_not_in_the_plan_changes_nothing(store: Store) -> None:
    store.numbers.add(OPERATOR, LONDON)
    account_id, _ = _conference(store)
    store.numbers.limit_account(OPERATOR, account_id, [LONDON])
    with pytest.raises(NotFoundError, match=r"no number \+33142868200 in the number plan"):
        store.numbers.limit_account(OPERATOR, account_id, [PARIS])
    with store.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AccountDialIn)) == 1


def test_a_number_given_to_accounts_is_removed_only_when_forced(store: Store) -> None:
    store.numbers.add(OPERATOR, LONDON)
    store.numbers.add(OPERATOR, PARIS)
    account_id, conference_id = _conference(store)
    store.numbers.limit_account(OPERATOR, account_id, [LONDON])
    with pytest.raises(InUseError, match=r"\+442079460000 is given to 1 account; .* force"):
        store.numbers.remove(OPERATOR, LONDON)
    assert store.conferences.get_conference(OPERATOR, conference_id).dial_in_numbers == (LONDON,)
    store.numbers.remove(OPERATOR, PARIS)  # given to nobody: removed at once
    used = store.numbers.remove(OPERATOR, LONDON, force=True)
    assert used.account_ids == (account_id,)
    assert store.numbers.list_numbers(OPERATOR) == []
    # The account stays limited, now to no number: it is not given every number instead.
    store.numbers.add(OPERATOR, PARIS)
    assert store.conferences.get_conference(OPERATOR, conference_id).dial_in_numbers == ()
    with pytest.raises(NotFoundError, match="no number"):
        store.numbers.remove(OPERATOR, LONDON)
    with store.sessions() as session:
        actions = list(session.scalars(select(AuditEntry.action)))
    assert actions.count("number.add") == 3 and actions.count("number.remove") == 2
    assert "account.numbers" in actions
