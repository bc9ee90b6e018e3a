"""A user's public profile in the store (issue 16), on SQLite and PostgreSQL: kept encrypted
(not in the database's bytes in clear or hex, with the scan's positive control), read and
changed by the user alone, consent given and withdrawn with its time, and the audit entries
of each without the address."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from tests.conftest import FakeClock
from tests.store.raw_bytes import assert_found_when_planted, found, named_views

from callroster.accounts.actor import Actor, Role, operator_cli
from callroster.config import Settings
from callroster.errors import AccessDeniedError
from callroster.store.models import AuditEntry
from callroster.store.public_profiles import NOT_SHOWN, REMOVED
from callroster.store.store import Store
from callroster.store.subject_data import Person, SubjectDataRepository

OPERATOR = operator_cli("public profile tests")
URL = "https://social.example/in/rosalind-7c2e"


def _as(user_id: str, account_id: str) -> Actor:
    return Actor(user_id, Role.HOST, account_id, "192.0.2.1", "own profile")


def test_consent_given_withdrawn_and_kept_encrypted(
    store: Store, settings: Settings, clock: FakeClock, request: pytest.FixtureRequest
) -> None:
    account = store.accounts.create_account(OPERATOR, "Franklin Labs", "london")
    user = store.accounts.create_user(
        OPERATOR, account, Role.HOST, "Rosalind Franklin", email="rosalind@franklin.example"
    )
    other = store.accounts.create_user(OPERATOR, account, Role.ADMINISTRATOR, "Ada Admin")
    me = _as(user, account)
    profiles = store.public_profiles

    assert profiles.get(me, user).shown_url is None  # nothing until they say so
    assert profiles.save(me, user, URL, consent=False) is None
    kept = profiles.get(me, user)
    assert (kept.url, kept.consent_at, kept.shown_url) == (URL, None, None)
    assert profiles.save(me, user, URL, consent=True) == "given"
    given = profiles.get(me, user)
    assert given.shown_url == URL and given.consent_at == clock.now
    clock.advance(minutes=5)
    assert profiles.save(me, user, URL, consent=True) is None  # still given, same time
    assert profiles.get(me, user).consent_at == given.consent_at
    assert profiles.save(me, user, URL, consent=False) == "withdrawn"
    assert profiles.get(me, user).shown_url is None
    assert profiles.save(me, user, None, consent=True) is None  # no address: no consent
    assert profiles.get(me, user) == type(given)(None, None)

    # Only the user: not an administrator of the same account, nor anyone elsewhere.
    for stranger in (_as(other, account), _as(user, "another-account")):
        with pytest.raises(AccessDeniedError):
            profiles.get(stranger, user)
        with pytest.raises(AccessDeniedError):
            profiles.save(stranger, user, URL, consent=True)

    with store.sessions() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.subject == f"user:{user}")
        ).all()
    actions = [entry.action for entry in entries]
    assert actions.count("profile.consent_given") == 1
    assert actions.count("profile.consent_withdrawn") == 1
    assert "social.example" not in repr([vars(entry) for entry in entries])

    profiles.save(me, user, URL, consent=True)  # kept at rest while the scan runs
    # A data-subject access export holds it, with the consent's time.
    subject = SubjectDataRepository(store.sessions, store.keys, store.audit, clock)
    [row] = subject.collect(Person(email="rosalind@franklin.example"))["users"]
    assert (row["public_profile"], row["public_profile_consent_at"]) == (URL, clock.now)
    store.close()
    views = named_views(settings, request)
    assert not found(views, URL)
    assert not found(views, "rosalind-7c2e")
    assert_found_when_planted(settings, request, URL)


def test_versions_change_with_every_save_that_shows_and_read_for_calls_logs_the_bridge(
    store: Store, clock: FakeClock
) -> None:
    """The version every node compares (io/profile_watch.py): one per user, read without
    decrypting; it changes with each save with consent (a new nonce) and with a withdrawal,
    not with an address kept unshown; a removed or unknown user's is ``REMOVED``. The
    bridge's read gives the shown address with the same version, audit-logged as the
    bridge's, without the address."""
    account = store.accounts.create_account(OPERATOR, "Franklin Labs", "london")
    user = store.accounts.create_user(OPERATOR, account, Role.HOST, "Rosalind Franklin")
    other = store.accounts.create_user(OPERATOR, account, Role.HOST, "Maurice Wilkins")
    me = _as(user, account)
    profiles = store.public_profiles

    start = profiles.versions([user, other, "no-such-user"])
    assert start == {user: NOT_SHOWN, other: NOT_SHOWN, "no-such-user": REMOVED}
    assert profiles.versions([]) == {}
    assert profiles.read_for_calls(user) == (None, NOT_SHOWN)
    _, kept = profiles.save_versioned(me, user, URL, consent=False)
    assert kept == NOT_SHOWN == profiles.versions([user])[user]  # nothing shown changed

    seen = {NOT_SHOWN}
    for consent in (True, True, False, True):
        clock.advance(minutes=1)
        change, written = profiles.save_versioned(me, user, URL, consent=consent)
        # What this node pushes to its bridge is what every other node reads.
        assert profiles.versions([user]) == {user: written}
        shown = URL if consent else None
        assert profiles.read_for_calls(user) == (shown, written)
        assert profiles.get_versioned(me, user)[1] == written
        assert written not in seen or not consent  # each save with consent: a new version
        seen.add(written)
    assert change == "given" and len(seen) == 4  # NOT_SHOWN, 2 saves shown, given again
    assert profiles.versions([other]) == {other: NOT_SHOWN}  # no one else's moved

    store.users.remove_user(OPERATOR, user)
    assert profiles.versions([user]) == {user: REMOVED}
    assert profiles.read_for_calls(user) == (None, REMOVED)

    with store.sessions() as session:
        entries = session.scalars(
            select(AuditEntry).where(
                AuditEntry.subject == f"user:{user}", AuditEntry.action == "profile.read"
            )
        ).all()
    by_bridge = [entry for entry in entries if "conference bridge" in repr(vars(entry))]
    assert len(by_bridge) == 3  # the reads that decrypted something: the three shown
    assert "social.example" not in repr([vars(entry) for entry in entries])


def test_the_bridge_reads_nothing_of_a_shredded_account(store: Store) -> None:
    """Once the account's data key is destroyed, the bridge's read shows nothing (and so
    hides what its legs showed), without an error that would stop the poll for others."""
    account = store.accounts.create_account(OPERATOR, "Franklin Labs", "london")
    user = store.accounts.create_user(OPERATOR, account, Role.HOST, "Rosalind Franklin")
    _, version = store.public_profiles.save_versioned(_as(user, account), user, URL, consent=True)
    assert store.public_profiles.read_for_calls(user) == (URL, version)
    store.accounts.shred_account(OPERATOR, account)
    assert store.public_profiles.read_for_calls(user) == (None, version)
