"""Consent to the cookie policy, the pure part (``privacy/consent.py``): the text shown is
pinned to its version, the compliance cookie's value round-trips and anything else is no
consent, and the decision: a choice of this version holds, another version asks again, and
Global Privacy Control or Do Not Track are "reject all optional" without asking."""

from __future__ import annotations

import hashlib

import pytest

from callroster.privacy import consent
from callroster.privacy.consent import Category, Consent, decide, parse_cookie

VERSION = consent.POLICY_VERSION
ID = "3f2c8a1e-0b7d-4c55-9a61-2f0c1d9e8b70"
ALL = frozenset({Category.PERFORMANCE, Category.FUNCTIONALITY})


def test_the_text_shown_is_pinned_to_its_version(monkeypatch: pytest.MonkeyPatch) -> None:
    assert consent.PINNED[VERSION] == consent.TEXT_SHA256
    assert consent.TEXT_SHA256 == hashlib.sha256(consent.shown_text().encode()).hexdigest()
    for category in Category:
        assert consent.DESCRIPTIONS[category] in consent.shown_text()
    # Positive control: a word changed without a new version no longer matches the pin.
    monkeypatch.setattr(consent, "BANNER_TEXT", consent.BANNER_TEXT.replace("one month", "ever"))
    changed = hashlib.sha256(consent.shown_text().encode()).hexdigest()
    assert changed != consent.PINNED[VERSION]


def test_the_cookie_round_trips() -> None:
    for optional in (frozenset(), frozenset({Category.FUNCTIONALITY}), ALL):
        for method in consent.METHOD_LETTERS:
            given = Consent(optional, VERSION, method, ID)
            value = given.cookie_value()
            assert len(value) <= consent.COOKIE_LIMIT
            assert parse_cookie(value) == given
    assert Consent(ALL, VERSION, "banner", ID).cookie_value() == f"v1.{VERSION}.pf.b.{ID}"
    assert Consent(frozenset(), VERSION, "gpc", ID).cookie_value() == f"v1.{VERSION}.-.g.{ID}"


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "yes",
        f"v1.{VERSION}.pf.b",  # no id
        f"v2.{VERSION}.pf.b.{ID}",  # another format
        f"v1.{VERSION}.px.b.{ID}",  # an unknown category
        f"v1.{VERSION}.pp.b.{ID}",  # one twice
        f"v1.{VERSION}.pf.z.{ID}",  # an unknown method
        f"v1.{VERSION}..b.{ID}",
        f"v1.{VERSION}.pf.b.{ID}.extra",
        f"v1.{VERSION}.pf.b.{'a' * 200}",  # too long
        f"v1.{VERSION}.pf.b.<script>",
        f"v1.{VERSION}.pf.b.{ID}\x00",
        "v1.../.pf.b.x",
        "\u00e9" * 50,
    ],
)
def test_anything_else_is_no_consent(value: str | None) -> None:
    assert parse_cookie(value) is None
    decision = decide(value, None, None)
    assert decision.ask and decision.optional == frozenset() and decision.current is None


def test_a_choice_of_this_version_holds_and_another_asks_again() -> None:
    chosen = Consent(frozenset({Category.FUNCTIONALITY}), VERSION, "banner", ID).cookie_value()
    decision = decide(chosen, None, None)
    assert not decision.ask and decision.record is None
    assert decision.optional == {Category.FUNCTIONALITY}
    assert decision.allows(Category.FUNCTIONALITY) and decision.allows(Category.STRICTLY_NECESSARY)
    assert not decision.allows(Category.PERFORMANCE)
    # The same cookie under a newer policy: asked again, the old record named for `replaces`.
    newer = decide(chosen, None, None, version="2027-01-01")
    assert newer.ask and newer.optional == frozenset() and newer.current is None
    assert newer.previous_id == ID
    # No cookie at all: asked, nothing optional, nothing to replace.
    first = decide(None, None, None)
    assert first.ask and first.optional == frozenset() and first.previous_id is None


def test_gpc_and_dnt_reject_all_optional_without_asking() -> None:
    for gpc, dnt, signal in (("1", None, "gpc"), (None, "1", "dnt"), ("1", "1", "gpc")):
        decision = decide(None, gpc, dnt)
        assert not decision.ask and decision.optional == frozenset()
        assert (decision.signal, decision.record) == (signal, signal)
    # The signal wins over an earlier "accept all", and is recorded (once) in its place.
    accepted = Consent(ALL, VERSION, "banner", ID).cookie_value()
    over = decide(accepted, "1", None)
    assert over.optional == frozenset() and over.record == "gpc" and over.previous_id == ID
    # Once the cookie says "reject all", there is nothing more to record.
    settled = Consent(frozenset(), VERSION, "gpc", ID).cookie_value()
    assert decide(settled, "1", None).record is None
    assert decide(settled, None, "1").record is None
    # Any other value is no signal.
    for value in ("0", "", "yes", " 1 x", "1" * 100):
        assert decide(None, value, value).signal is None


def test_what_a_form_accepts() -> None:
    assert consent.chosen({"choice": "all"}) == ALL
    assert consent.chosen({"choice": "none", "performance": "on"}) == frozenset()
    assert consent.chosen({"choice": "chosen", "functionality": "on"}) == {Category.FUNCTIONALITY}
    # Targeting cannot be chosen: Callroster sets none.
    assert consent.chosen({"choice": "chosen", "targeting": "on"}) == frozenset()
    assert Category.TARGETING not in consent.chosen({"choice": "all"})
