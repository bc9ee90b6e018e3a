"""Dial-in numbers as a guest sees them: their own country's first (the browser's language,
or the page's picker), every number on a page of its own."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from callroster.accounts import demo
from callroster.accounts.actor import operator_cli
from callroster.app import create_app
from callroster.config import Settings
from callroster.store.store import Store
from callroster.web.numbers import guest_country

OPERATOR = operator_cli("test")
PLAN = {"+33142868200": "Paris", "+442079460000": "London", "+12025550123": "Washington"}


@pytest.mark.parametrize(
    ("header", "chosen", "country"),
    [
        ("fr-FR,fr;q=0.9,en-GB;q=0.8", None, "FR"),
        ("fr,en-GB;q=0.8", None, "GB"),  # the first language naming a region
        ("en-US;q=0.5,de-DE;q=0.9", None, "DE"),  # by quality, not position
        ("en_gb", None, "GB"),
        ("fr-FR", "us", "US"),  # the picker wins
        ("fr-FR", "ZZ", "FR"),  # an unknown choice is ignored
        ("en", None, None),
        ("", None, None),
        ("xx-YY;q=abc, de-AT", None, "AT"),
    ],
)
def test_the_guests_country(header: str, chosen: str | None, country: str | None) -> None:
    assert guest_country(header, chosen) == country


def _numbers_in(html: str) -> list[str]:
    return re.findall(r'class="dial-in" href="tel:(\+\d+)"', html)


@pytest.fixture
def room(store: Store, settings: Settings) -> tuple[TestClient, str]:
    details = demo.ensure_demo(store, settings)
    for number, label in PLAN.items():
        store.numbers.add(OPERATOR, number, label=label)
    link = details.web_url.removeprefix(settings.web_base_url)
    return TestClient(create_app(store, settings)), link


def test_a_guest_sees_their_countrys_numbers_then_every_number(
    room: tuple[TestClient, str],
) -> None:
    client, link = room
    french = client.get(link, headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert french.status_code == 200
    assert _numbers_in(french.text) == ["+33142868200"]
    assert f'href="{link}/numbers"' in french.text and "Every access number (4)" in french.text
    assert '<option value="FR" selected>' in french.text
    picked = client.get(f"{link}?country=GB", headers={"Accept-Language": "fr-FR"})
    assert _numbers_in(picked.text) == ["+442079460000"]
    assert "sip:2000@" in picked.text  # the demo's SIP-only number, also GB
    unknown = client.get(link, headers={"Accept-Language": "ja-JP"})
    # No number of the guest's country: every number, by country (FR, GB, US).
    assert _numbers_in(unknown.text) == ["+33142868200", "+442079460000", "+12025550123"]
    full = client.get(f"{link}/numbers", headers={"Accept-Language": "en-GB"})
    assert full.status_code == 200 and "Access numbers: Demo conference" in full.text
    listed = re.findall(r'tel:(\+\d+)"', full.text.split('<ol id="numbers">')[1])
    assert listed == ["+442079460000", "+33142868200", "+12025550123"]
    assert "London" in full.text and "GB (+44) · toll" in full.text
    assert client.get("/c/not-a-link/numbers").status_code == 404
