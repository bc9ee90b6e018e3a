"""The dial-out allow list (issue 12, finding 6): every number the attacker had the service
call is refused, for hosts and guests alike; ordinary landlines and mobiles of the allowed
countries are called (the positive controls)."""

from __future__ import annotations

import re

import pytest

from callroster.bridge.dial_policy import DialPolicy, DialRefusedError, country_list, type_list
from callroster.config import Settings

DEFAULT = Settings().dial_policy

# The finding's numbers, one of each kind, and why each is refused.
REFUSED = {
    "+979123456789": "satellite and international network",  # international premium rate
    "+881612345678": "satellite and international network",  # Iridium and the like
    "+8823421234": "satellite and international network",
    "+883510012345": "satellite and international network",
    "+870773111632": "satellite and international network",  # Inmarsat
    "+18762101234": "numbers in JM (+1)",  # Jamaica, inside +1
    "+18092345678": "numbers in DO (+1)",  # Dominican Republic
    "+14734031234": "numbers in GD (+1)",  # Grenada
    "+252907012345": "numbers in SO (+252)",  # Somalia
    "+2392221234": "numbers in ST (+239)",  # Sao Tome and Principe
    "+78401234567": "numbers in RU (+7)",  # +7 840: Abkhazia, as Russia to phonenumbers
    "+448431234567": "premium-rate",  # UK 084x, special services
    "+448712345678": "premium-rate",  # UK 087x
    "+449012345678": "premium-rate",  # UK 09
    "+447640123456": "pagers",  # UK 076
    "+447012345678": "personal numbers",  # UK 070
    "+443001234567": "non-geographic (UAN)",  # UK 03
    "+445612345678": "VoIP",  # UK 056
    "+19005550123": "premium-rate",  # US 900
    "+447911123456": "numbers in GG (+44)",  # Guernsey: +44, but not the UK
    "+447700900123": "not in use",  # Ofcom's drama range: never allocated
    "+882123456789": "satellite and international network",  # not even a valid one
}
ALLOWED = {
    "+442079460123": "a London landline",
    "+441189496000": "a Reading landline (0118)",
    "+447400123456": "a UK mobile",
    "+448001234567": "a UK freephone number",
    "+12025550123": "a Washington DC number",
    "+14155550123": "a San Francisco number",
    "+16502530000": "a Mountain View number",
    "+18005550123": "a US toll-free number",
}


@pytest.mark.parametrize(("number", "why"), sorted(REFUSED.items()))
@pytest.mark.parametrize("guest", [False, True])
def test_the_findings_numbers_are_refused_saying_why(number: str, why: str, guest: bool) -> None:
    with pytest.raises(DialRefusedError, match=re.escape(why)) as refused:
        DEFAULT.check(number, guest=guest)
    assert number[1:] not in str(refused.value)  # the message does not repeat the number


@pytest.mark.parametrize(("number", "what"), sorted(ALLOWED.items()))
def test_ordinary_numbers_of_allowed_countries_are_called(number: str, what: str) -> None:
    DEFAULT.check(number, guest=False)
    if number.startswith("+44"):
        DEFAULT.check(number, guest=True)


@pytest.mark.parametrize("number", ["+12025550123", "+353861234567"])
def test_a_guest_is_held_to_the_guest_countries_a_host_is_not(number: str) -> None:
    DEFAULT.check(number, guest=False)
    with pytest.raises(DialRefusedError, match="this service does not call numbers in"):
        DEFAULT.check(number, guest=True)


def test_a_guest_country_outside_the_operators_list_does_not_count() -> None:
    policy = DialPolicy.of("GB", "GB,JM", "fixed_line,mobile")
    with pytest.raises(DialRefusedError, match="JM"):
        policy.check("+18762101234", guest=True)


def test_the_operator_may_allow_a_type_or_a_country() -> None:
    policy = DialPolicy.of("GB,JM,001", "GB", "fixed_line,mobile,premium_rate,voip,pager")
    for number in ("+449012345678", "+445612345678", "+447640123456", "+18762101234"):
        policy.check(number, guest=False)
    policy.check("+881612345678", guest=False)  # satellite, once 001 is listed
    with pytest.raises(DialRefusedError, match="satellite"):
        policy.check("+881612345678", guest=True)  # ...for hosts: not in the guests' list
    with pytest.raises(DialRefusedError, match="shared-cost"):
        policy.check("+80812345678", guest=False)


def test_settings_refuse_unknown_countries_and_types() -> None:
    with pytest.raises(ValueError, match="XX"):
        country_list("GB,XX")
    with pytest.raises(ValueError, match="unknown"):
        type_list("mobile,unknown")  # a number in no range is never allowed
    with pytest.raises(ValueError, match="premium"):
        Settings(dial_out_number_types="mobile,premium")
    assert Settings(dial_out_countries=" gb, us ").dial_out_countries == "GB,US"
