from __future__ import annotations

import pytest

from callroster.privacy import normalise


@pytest.mark.parametrize(
    "raw",
    [
        "+44 20 7946 0001",
        "020 7946 0001",
        "+442079460001",
        "tel:+44-20-7946-0001",
        "0044 20 7946 0001",
    ],
)
def test_every_spelling_of_a_number_normalises_to_one_e164(raw: str) -> None:
    assert normalise.phone_e164(raw, "GB") == "+442079460001"


def test_region_decides_national_numbers() -> None:
    assert normalise.phone_e164("(415) 555-0100", "US") == "+14155550100"


@pytest.mark.parametrize("raw", ["", "hello", "+44 1", "12"])
def test_impossible_numbers_are_refused(raw: str) -> None:
    with pytest.raises(normalise.InvalidValueError):
        normalise.phone_e164(raw)


def test_email_is_trimmed_and_lower_cased() -> None:
    assert normalise.email("  Ada.Lovelace@Example.COM ") == "ada.lovelace@example.com"


@pytest.mark.parametrize("raw", ["", "ada", "ada@", "@example.com", "ada@localhost", "a b@c.d"])
def test_bad_emails_are_refused(raw: str) -> None:
    with pytest.raises(normalise.InvalidValueError):
        normalise.email(raw)
