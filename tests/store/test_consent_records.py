"""Consent records in the store (issue 16), on SQLite and PostgreSQL: a record is added and
read back by its random id; a later consent of the same browser ends the one it replaces and
leaves it otherwise as it was; the per-network hourly cap refuses the next one (and lets it
through an hour later); the truncated address and the user agent are not in the database's
bytes in clear or hex (with the scan's positive control); the operator's export is theirs
alone, decrypted, paged, and audit-logged without personal data."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from tests.conftest import FakeClock
from tests.privacy.test_consent_export_builder import REFERENCE
from tests.store.raw_bytes import assert_found_when_planted, found, named_views

from callroster.accounts.actor import Actor, Role, operator_cli, system
from callroster.config import Settings
from callroster.errors import AccessDeniedError
from callroster.privacy.consent import CONSENT_LIFETIME
from callroster.privacy.consent_export import ExportedRecord, ExportWindow, key_id, verify
from callroster.privacy.consent_record import ConsentGiven, ConsentMethod
from callroster.store import consent_records
from callroster.store.consent_records import (
    ConsentRateLimited,
    ConsentRateLimitedError,
    ExportedConsent,
)
from callroster.store.models import AuditEntry, ConsentRecord
from callroster.store.store import Store, open_store

OPERATOR = operator_cli("consent record tests")
TEXT_HASH = "ab" * 32
NETWORK = "198.51.100.0"
AGENT = "Mozilla/5.0 (X11; Linux x86_64) ConsentTestBrowser/1.0"


def given(
    clock: FakeClock,
    *,
    optional: frozenset[str] = frozenset({"performance"}),
    ip: str = NETWORK,
    replaces: str | None = None,
    method: ConsentMethod = ConsentMethod.BANNER,
    version: str = "2025-1",
) -> ConsentGiven:
    return ConsentGiven(
        optional=optional,
        policy_version=version,
        text_sha256=TEXT_HASH,
        given_at=clock(),
        method=method,
        ip_truncated=ip,
        user_agent=AGENT,
        replaces=replaces,
    )


def test_a_record_is_added_and_read_back_without_its_personal_data(
    store: Store, clock: FakeClock
) -> None:
    record_id = store.consent_records.add(given(clock, optional=frozenset()))
    view = store.consent_records.get(record_id)
    assert view is not None
    assert (view.id, view.optional, view.policy_version, view.text_sha256) == (
        record_id,
        frozenset(),
        "2025-1",
        TEXT_HASH,
    )
    assert (view.method, view.given_at, view.ended_at, view.replaces) == (
        ConsentMethod.BANNER,
        clock(),
        None,
        None,
    )
    assert not hasattr(view, "ip_truncated") and not hasattr(view, "user_agent")
    assert store.consent_records.get("no-such-record") is None
    assert store.consent_records.get("x" * 500) is None
    assert len(record_id) == 36 and record_id != store.consent_records.add(given(clock))


def test_its_own_browser_reads_what_the_record_keeps_and_the_read_is_audited(
    store: Store, clock: FakeClock
) -> None:
    record_id = store.consent_records.add(given(clock))
    visitor = Actor(f"consent:{record_id[:8]}", Role.GUEST, None, "192.0.2.7", "settings")
    shown = store.consent_records.shown_to_its_browser(visitor, record_id)
    assert shown is not None
    assert (shown.view.id, shown.ip_truncated, shown.user_agent) == (record_id, NETWORK, AGENT)
    with store.sessions() as session:
        reads = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "consent_record.read")
        ).all()
    assert [(e.actor, e.subject) for e in reads] == [(visitor.label, f"consent_record:{record_id}")]
    assert NETWORK not in repr([vars(e) for e in reads]) and "ConsentTest" not in repr(
        [vars(e) for e in reads]
    )
    # None for an id that is not a record (nothing audited), or one past its proof period.
    assert store.consent_records.shown_to_its_browser(visitor, "no-such-record") is None
    clock.advance(days=consent_records.DEFAULT_PROOF_DAYS + 60)
    assert store.consent_records.shown_to_its_browser(visitor, record_id) is None
    with store.sessions() as session:
        assert (
            len(
                session.scalars(
                    select(AuditEntry).where(AuditEntry.action == "consent_record.read")
                ).all()
            )
            == 1
        )


def test_a_later_consent_ends_the_one_it_replaces_and_old_records_survive(
    store: Store, clock: FakeClock
) -> None:
    first = store.consent_records.add(given(clock, optional=frozenset({"performance"})))
    clock.advance(days=3)
    second = store.consent_records.add(
        given(clock, optional=frozenset(), replaces=first, version="2026-1")
    )
    old, new = store.consent_records.get(first), store.consent_records.get(second)
    assert old is not None and new is not None
    assert old.ended_at == clock() and old.optional == frozenset({"performance"})
    assert old.policy_version == "2025-1"
    assert new.replaces == first and new.ended_at is None
    # Replacing an already ended record does not move its end; a forged id points nowhere.
    clock.advance(days=1)
    store.consent_records.add(given(clock, replaces=first))
    again = store.consent_records.get(first)
    assert again is not None and again.ended_at == clock() - dt.timedelta(days=1)
    forged = store.consent_records.add(given(clock, replaces="not-a-record"))
    view = store.consent_records.get(forged)
    assert view is not None and view.replaces is None


def test_one_network_is_capped_per_hour(store: Store, clock: FakeClock) -> None:
    store.consent_records.per_source_hour = 3
    for _ in range(3):
        store.consent_records.add(given(clock))
        clock.advance(minutes=10)
    with pytest.raises(ConsentRateLimitedError) as refused:
        store.consent_records.add(given(clock))
    assert ConsentRateLimited is ConsentRateLimitedError
    assert 0 < refused.value.retry_after_s <= 3600
    # Another network is not held up by this one.
    store.consent_records.add(given(clock, ip="2001:db8:1::"))
    with store.sessions() as session:
        assert len(session.scalars(select(ConsentRecord)).all()) == 4
    # Once the first of the three is an hour old, one more goes through.
    clock.advance(seconds=refused.value.retry_after_s)
    store.consent_records.add(given(clock))


def test_address_and_user_agent_are_not_in_the_database_in_clear(
    store: Store, settings: Settings, clock: FakeClock, request: pytest.FixtureRequest
) -> None:
    planted_agent = "ConsentScanAgent/7.3 (canary 5cb1f0)"
    network = "203.0.113.0"
    store.consent_records.add(
        ConsentGiven(
            optional=frozenset({"targeting"}),
            policy_version="2025-1",
            text_sha256=TEXT_HASH,
            given_at=clock(),
            method=ConsentMethod.SETTINGS,
            ip_truncated=network,
            user_agent=planted_agent,
        )
    )
    store.close()
    views = named_views(settings, request)
    assert found(views, planted_agent) == []
    assert found(views, network) == []
    assert_found_when_planted(settings, request, planted_agent, network)


def test_only_the_operator_exports_and_each_export_is_audited_without_personal_data(
    store: Store, clock: FakeClock
) -> None:
    ids = []
    for n in range(5):
        ids.append(store.consent_records.add(given(clock, ip=f"192.0.2.{n}")))
        clock.advance(minutes=1)
    with pytest.raises(AccessDeniedError):
        store.consent_records.export(system("not an operator"))
    page = store.consent_records.export(OPERATOR)
    assert [r.view.id for r in page.records] == ids and page.next_since is None
    assert {r.ip_truncated for r in page.records} == {f"192.0.2.{n}" for n in range(5)}
    assert {r.user_agent for r in page.records} == {AGENT}
    # Paged: two at a time, continued from next_since, every record once.
    seen: list[str] = []
    since: dt.datetime | None = None
    while True:
        part = store.consent_records.export(OPERATOR, since=since, limit=2)
        seen += [r.view.id for r in part.records]
        if part.next_since is None:
            break
        since = part.next_since
    assert seen == ids
    window = store.consent_records.export(
        OPERATOR, since=page.records[1].view.given_at, until=page.records[3].view.given_at
    )
    assert [r.view.id for r in window.records] == ids[1:3]
    with store.sessions() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "consent_records.export")
        ).all()
    assert [e.subject for e in entries][:2] == [
        "consent_records:5 rows",
        "consent_records:2 rows, more to come",
    ]
    text = " ".join(f"{e.subject} {e.reason} {e.actor}" for e in entries)
    assert "192.0.2." not in text and "Mozilla" not in text


def test_records_given_at_one_instant_are_never_split_across_pages(
    store: Store, clock: FakeClock
) -> None:
    ids = [store.consent_records.add(given(clock, ip=f"192.0.2.{n}")) for n in range(3)]
    clock.advance(seconds=1)
    later = store.consent_records.add(given(clock))
    first = store.consent_records.export(OPERATOR, limit=2)
    # Three at the first instant do not fit in two: the page holds them all (cannot split).
    assert sorted(r.view.id for r in first.records) == sorted(ids)
    assert first.next_since == clock()
    second = store.consent_records.export(OPERATOR, since=first.next_since, limit=2)
    assert [r.view.id for r in second.records] == [later]
    clock.advance(seconds=1)
    ids2 = [store.consent_records.add(given(clock, ip="192.0.2.9")) for _ in range(2)]
    page = store.consent_records.export(OPERATOR, since=first.next_since, limit=2)
    # later + first of ids2 fit, but ids2 share an instant: the page stops before it.
    assert [r.view.id for r in page.records] == [later]
    assert page.next_since is not None
    rest = store.consent_records.export(OPERATOR, since=page.next_since, limit=2)
    assert sorted(r.view.id for r in rest.records) == sorted(ids2)


def test_the_purge_deletes_records_past_their_proof_period_and_keeps_younger_ones(
    store: Store, clock: FakeClock
) -> None:
    store.consent_records.proof_days = 10  # as Settings.consent_proof_days would
    lapsed = store.consent_records.add(given(clock, ip="192.0.2.1"))  # ends by its month
    replaced = store.consent_records.add(given(clock, ip="192.0.2.2"))
    clock.advance(days=2)
    replacing = store.consent_records.add(given(clock, ip="192.0.2.2", replaces=replaced))
    # 12 days on: `replaced` ended 10 days ago (past its proof); the others' month still runs.
    clock.advance(days=10)
    dry = store.purge().run(dry_run=True)
    assert dry.counts.get("consent") == {"consent_records": 1}
    assert store.consent_records.get(replaced) is None  # hidden already, before the purge
    report = store.purge().run()
    assert report.as_dict()["counts"]["consent"] == {"consent_records": 1}
    with store.sessions() as session:
        left = set(session.scalars(select(ConsentRecord.id)))
    assert left == {lapsed, replacing}
    # One second short of the cookie's month + 10 days: kept; one second past: purged.
    clock.advance(days=CONSENT_LIFETIME.days + 10 - 12, seconds=-1)
    assert store.purge().run().total_rows == 0
    assert store.consent_records.get(lapsed) is not None
    clock.advance(seconds=1)
    report = store.purge().run()
    assert report.total_rows == 1 and store.consent_records.get(lapsed) is None
    assert store.consent_records.get(replacing) is not None  # given 2 days later
    with store.sessions() as session:
        assert set(session.scalars(select(ConsentRecord.id))) == {replacing}
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "retention.purge")
        ).all()
    assert [e.subject for e in entries] == ["consent_records", "consent_records"]


def test_the_purge_goes_in_batches(store: Store, clock: FakeClock) -> None:
    store.consent_records.proof_days = 0
    for n in range(5):
        store.consent_records.add(given(clock, ip=f"192.0.2.{n}"))
    clock.advance(days=CONSENT_LIFETIME.days + 1)
    report = store.purge(batch_rows=2).run()
    assert report.counts["consent"] == {"consent_records": 5}
    assert report.batches == 3


def test_a_signed_export_verifies_with_the_stores_public_key_which_outlives_a_restart(
    store: Store, settings: Settings, clock: FakeClock
) -> None:
    for n in range(3):
        store.consent_records.add(given(clock, ip=f"192.0.2.{n}"))
    public = store.consent_records.public_key()
    for fmt in ("json", "csv"):
        signed = store.consent_records.signed_export(OPERATOR, fmt)  # type: ignore[arg-type]
        assert signed.records == 3 and signed.next_since is None
        assert verify(signed.data, public).records == 3
    reopened = open_store(settings, clock=clock)
    try:
        assert key_id(reopened.consent_records.public_key()) == key_id(public)
        data = reopened.consent_records.signed_export(OPERATOR, "json").data
        assert verify(data, public).records == 3
    finally:
        reopened.close()


def test_the_signing_key_is_kept_only_wrapped_by_the_master_key(
    store: Store, settings: Settings, request: pytest.FixtureRequest
) -> None:
    seed = store.keys.platform_seed("consent_signing")
    public = store.consent_records.public_key()
    assert Ed25519PrivateKey.from_private_bytes(seed).public_key() == public
    store.close()
    views = named_views(settings, request)
    assert found(views, seed) == []
    assert list(settings.data.rglob("*.pem")) == []
    assert_found_when_planted(settings, request, seed)


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 10])
def test_a_signed_export_pages_as_the_export_does_and_holds_its_records_byte_for_byte(
    store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    """The signed export reads its rows in batches (two here) and cuts each page before an
    instant it cannot hold whole, as ``export`` does: the same records, the same
    ``next_since``, and the very bytes the first builder made of ``export``'s records."""
    monkeypatch.setattr(consent_records, "EXPORT_BATCH_ROWS", 2)
    for instant, many in enumerate([1, 3, 1, 2, 1, 1]):
        for n in range(many):
            store.consent_records.add(given(clock, ip=f"192.0.{instant}.{n}"))
        clock.advance(seconds=1)
    store.consent_records.signing_keys.ensure()
    with store.sessions.begin() as session:
        signer = store.consent_records.signing_keys.signer(session)
    for fmt in ("json", "csv"):
        since: dt.datetime | None = None
        held = 0
        while True:
            page = store.consent_records.export(OPERATOR, since=since, limit=limit)
            signed = store.consent_records.signed_export(OPERATOR, fmt, since=since, limit=limit)
            assert (signed.records, signed.next_since) == (len(page.records), page.next_since)
            window = ExportWindow(clock(), since=since, next_since=page.next_since)
            expected = REFERENCE[fmt]([_as_exported(r) for r in page.records], window, signer)
            assert bytes(signed.data) == expected
            held += signed.records
            if page.next_since is None:
                break
            since = page.next_since
        assert held == 9


def _as_exported(record: ExportedConsent) -> ExportedRecord:
    """A record of ``export`` as the first builder was given it."""
    return ExportedRecord(
        id=record.view.id,
        given_at=record.view.given_at,
        ended_at=record.view.ended_at,
        method=record.view.method.value,
        categories=tuple(sorted(record.view.optional)),
        policy_version=record.view.policy_version,
        text_sha256=record.view.text_sha256,
        replaces=record.view.replaces,
        ip_truncated=record.ip_truncated,
        user_agent=record.user_agent,
    )
