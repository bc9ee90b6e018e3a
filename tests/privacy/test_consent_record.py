"""The pure parts of a consent record (issue 16): how an address is truncated, what a consent
may hold, how long its record is kept."""

from __future__ import annotations

import datetime as dt

import pytest

from callroster.privacy.consent import CONSENT_LIFETIME
from callroster.privacy.consent_record import (
    USER_AGENT_LIMIT,
    ConsentGiven,
    ConsentMethod,
    InvalidConsentError,
    consent_ended,
    kept_until,
    truncate_ip,
)

AT = dt.datetime(2026, 12, 7, 1, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("address", "kept"),
    [
        ("203.0.113.77", "203.0.113.0"),
        ("203.0.113.0", "203.0.113.0"),
        (" 198.51.100.255 ", "198.51.100.0"),
        ("2001:db8:abcd:12:1:2:3:4", "2001:db8:abcd::"),
        ("2001:db8:abcd:ffff::1", "2001:db8:abcd::"),
        ("fe80::1%eth0", "fe80::"),
        ("::ffff:192.0.2.55", "192.0.2.0"),
        ("::1", "::"),
        ("testclient", "unknown"),
        ("", "unknown"),
        ("203.0.113.777", "unknown"),
        ("203.0.113.7/24", "unknown"),
    ],
)
def test_an_address_is_kept_as_its_network(address: str, kept: str) -> None:
    assert truncate_ip(address) == kept


def _given(**changes: object) -> ConsentGiven:
    fields: dict[str, object] = {
        "optional": frozenset({"performance", "targeting"}),
        "policy_version": "2025-1",
        "text_sha256": "0f" * 32,
        "given_at": AT,
        "method": ConsentMethod.GPC,
        "ip_truncated": "203.0.113.0",
        "user_agent": "Mozilla/5.0",
    }
    fields.update(changes)
    return ConsentGiven(**fields)  # type: ignore[arg-type]


def test_a_consent_holds_only_known_categories_an_aware_utc_time_and_a_real_hash() -> None:
    assert _given(optional=frozenset()).optional == frozenset()
    with pytest.raises(InvalidConsentError, match="unknown cookie categories"):
        _given(optional=frozenset({"necessary"}))
    with pytest.raises(InvalidConsentError):
        _given(given_at=AT.replace(tzinfo=None))
    with pytest.raises(InvalidConsentError):
        _given(given_at=AT.astimezone(dt.timezone(dt.timedelta(hours=1))))
    with pytest.raises(InvalidConsentError):
        _given(text_sha256="0F" * 32)
    with pytest.raises(InvalidConsentError):
        _given(policy_version="")
    with pytest.raises(InvalidConsentError):
        _given(replaces="")
    assert [m.value for m in ConsentMethod] == ["banner", "settings", "gpc", "dnt"]


def test_a_long_user_agent_is_cut_and_its_control_characters_dropped() -> None:
    given = _given(user_agent="A\x00\n" + "b" * 1000)
    assert len(given.user_agent) == USER_AGENT_LIMIT
    assert given.user_agent.startswith("Ab")


def test_the_repr_hides_the_address_and_user_agent() -> None:
    text = repr(_given())
    assert "203.0.113" not in text and "Mozilla" not in text and "gpc" in text


def test_a_record_is_kept_for_the_proof_period_after_its_consent_ended() -> None:
    assert consent_ended(AT, None) == AT + CONSENT_LIFETIME
    assert consent_ended(AT, AT + dt.timedelta(days=3)) == AT + dt.timedelta(days=3)
    assert consent_ended(AT, AT + dt.timedelta(days=90)) == AT + CONSENT_LIFETIME
    assert kept_until(AT, None, 1095) == AT + CONSENT_LIFETIME + dt.timedelta(days=1095)
    assert kept_until(AT, AT, 0) == AT
