"""The address list a host types: read whole, every bad entry named in one message, capped,
nothing half-taken."""

from __future__ import annotations

import pytest

from callroster.invitations.recipients import RecipientsError, recipients, split


def test_a_typed_list_in_any_usual_form() -> None:
    typed = "ada@example.org, Bob Builder <bob@Example.COM>;\ncarol@sub.example.co.uk dave@x.io"
    assert recipients(split(typed), most=50) == [
        "ada@example.org",
        "bob@example.com",
        "carol@sub.example.co.uk",
        "dave@x.io",
    ]


def test_the_same_address_twice_counts_once() -> None:
    assert recipients(["Ada@example.org", "ada@EXAMPLE.org", "ada@example.org"], most=2) == [
        "Ada@example.org"
    ]


def test_malformed_entries_are_named_by_position_and_as_typed() -> None:
    with pytest.raises(RecipientsError) as refused:
        recipients(["ok@example.org", "bob@", "not an address", "x@y", "ok2@example.org"], most=50)
    said = str(refused.value)
    assert said == (
        "Not an email address: entries 2 (bob@), 3 (not an address), 4 (x@y). Nothing was sent."
    )


def test_many_bad_entries_name_five_and_count_the_rest() -> None:
    with pytest.raises(RecipientsError, match=r"entries 1 \(a\), .*5 \(e\) and 2 more\."):
        recipients(list("abcdefg"), most=50)


def test_an_entry_that_is_only_good_by_luck_is_refused() -> None:
    for bad in ("a@b@c.org", "a..b@c.org", ".a@c.org", "a@-c.org", "a@c", "a@c.org\r\nBcc: x@y.z"):
        with pytest.raises(RecipientsError):
            recipients([bad], most=50)


def test_a_thousand_addresses_are_refused_with_the_cap_and_the_count() -> None:
    many = [f"guest{n}@example.org" for n in range(1000)]
    with pytest.raises(RecipientsError) as refused:
        recipients(many, most=50)
    assert str(refused.value) == (
        "An invitation goes to 50 addresses at most at a time; this list has 1000. "
        "Nothing was sent."
    )
    assert len(recipients(many[:50], most=50)) == 50  # the control: at the cap is fine


def test_an_empty_list_is_refused() -> None:
    with pytest.raises(RecipientsError, match="at least one"):
        recipients(split(" , ;\n"), most=50)
