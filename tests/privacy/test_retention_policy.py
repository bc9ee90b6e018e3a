"""The retention table as pure policy: each row's limit, just before and just after, the
monthly cycle of call records, per-country overrides and legal holds."""

from __future__ import annotations

import datetime as dt

import pytest

from callroster.privacy.retention import (
    Holds,
    Period,
    RetentionPolicy,
    country_of_region,
    cycle_start,
    parse_overrides,
)
from callroster.privacy.retention_classes import RetentionClass as C

UTC = dt.UTC
SECOND = dt.timedelta(seconds=1)
POLICY = RetentionPolicy()


def at(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)


def test_a_call_record_goes_at_the_first_cycle_once_six_months_old() -> None:
    ended = at(2026, 5, 1)  # six months later is exactly the 1st of November
    assert not POLICY.expired(C.CALL_RECORDS, ended, at(2026, 11, 1) - SECOND, None)
    assert POLICY.expired(C.CALL_RECORDS, ended, at(2026, 11, 1), None)


def test_a_call_record_a_second_late_for_a_cycle_waits_for_the_next() -> None:
    ended = at(2026, 5, 1) + SECOND  # six months old a second after the November cycle
    assert not POLICY.expired(C.CALL_RECORDS, ended, at(2026, 11, 1, 0, 0, 1), None)
    assert not POLICY.expired(C.CALL_RECORDS, ended, at(2026, 12, 1) - SECOND, None)
    assert POLICY.expired(C.CALL_RECORDS, ended, at(2026, 12, 1), None)


def test_call_records_are_kept_six_to_seven_months() -> None:
    for ended in (at(2026, 1, 1), at(2026, 1, 15, 12), at(2026, 1, 31, 23, 59, 59)):
        purged = next(
            at(2026, month, 1)
            for month in range(2, 13)
            if POLICY.expired(C.CALL_RECORDS, ended, at(2026, month, 1), None)
        )
        kept = purged - ended
        assert dt.timedelta(days=181) <= kept <= dt.timedelta(days=7 * 31)


def test_service_data_goes_twelve_months_after_the_call() -> None:
    joined = at(2025, 11, 23, 9)
    assert not POLICY.expired(C.SERVICE_DATA, joined, at(2026, 11, 23, 9) - SECOND, None)
    assert POLICY.expired(C.SERVICE_DATA, joined, at(2026, 11, 23, 9), None)


def test_account_data_goes_twelve_months_after_termination() -> None:
    terminated = at(2025, 2, 28, 12)
    assert not POLICY.expired(C.ACCOUNT_DATA, terminated, at(2026, 2, 28, 12) - SECOND, None)
    assert POLICY.expired(C.ACCOUNT_DATA, terminated, at(2026, 2, 28, 12), None)
    assert not POLICY.expired(C.ACCOUNT_DATA, None, at(2099, 1, 1), None)  # still open


def test_months_are_calendar_months_with_the_day_clamped() -> None:
    assert Period(months=6).before(at(2026, 8, 31, 10)) == at(2026, 2, 28, 10)
    assert Period(months=12).before(at(2028, 2, 29)) == at(2027, 2, 28)
    assert Period(days=90).before(at(2026, 3, 31)) == at(2025, 12, 31)
    assert cycle_start(at(2026, 11, 23, 9, 30)) == at(2026, 11, 1)


def test_a_country_override_replaces_only_its_class_for_its_country() -> None:
    policy = RetentionPolicy.from_overrides(
        {"de": {"call_records": "3 months", "service_data": 90}}
    )
    now = at(2026, 11, 23, 9)
    assert policy.cutoff(C.CALL_RECORDS, now, "DE") == at(2026, 8, 1)
    assert policy.cutoff(C.CALL_RECORDS, now, "GB") == at(2026, 5, 1)
    assert policy.cutoff(C.SERVICE_DATA, now, "DE") == now - dt.timedelta(days=90)
    assert policy.cutoff(C.ACCOUNT_DATA, now, "DE") == at(2025, 11, 23, 9)
    ended = at(2026, 7, 31, 23)
    assert policy.expired(C.CALL_RECORDS, ended, now, "DE")
    assert not policy.expired(C.CALL_RECORDS, ended, now, "GB")


def test_an_account_s_country_is_its_home_region_s() -> None:
    assert [country_of_region(r) for r in ("london", "chicago", "miami", "hong-kong")] == [
        "GB",
        "US",
        "US",
        "HK",
    ]
    assert country_of_region("sydney") == "AU"
    assert country_of_region("johannesburg") == "ZA"


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ({"Germany": {"call_records": 30}}, "two-letter country"),
        ({"DE": {"calls": 30}}, "unknown class 'calls'"),
        ({"DE": {"recordings": 30}}, "not purged here"),
        ({"DE": {"call_records": "six months"}}, "not a period"),
        ({"DE": {"call_records": 0}}, "between 1 and 36500"),
        ({"DE": {"call_records": "0 days"}}, "at least one"),
    ],
)
def test_overrides_that_do_not_make_sense_are_refused_with_a_reason(
    raw: dict[str, dict[str, int | str]], words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        parse_overrides(raw)


def test_held_data_never_expires() -> None:
    long_ago = at(2020, 1, 1)
    now = at(2026, 11, 23)
    holds = Holds(conferences=frozenset({"conf-1"}), hosts=frozenset({"host-1"}))
    assert holds.covers("conf-1", None) and holds.covers("other", "host-1")
    assert not holds.covers("other", "host-2")
    assert Holds(account=True).covers(None, None)
    for cls in (C.CALL_RECORDS, C.SERVICE_DATA, C.ACCOUNT_DATA):
        assert POLICY.expired(cls, long_ago, now, None)
        assert not POLICY.expired(cls, long_ago, now, None, held=True)
