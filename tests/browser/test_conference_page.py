"""The conference page in a real browser: a guest opening the invitation link sees how to
join, on a phone-sized screen, and the page is labelled for assistive technology."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.browser import chromium
from tests.support.service import RunningService, running_service

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    with running_service(tmp_path_factory.mktemp("web")) as running:
        yield running


def test_guest_sees_how_to_join_on_a_phone(service: RunningService, tmp_path: Path) -> None:
    demo = service.demo()
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
        response = page.goto(demo["web_url"])
        assert response is not None and response.status == 200
        assert page.locator("h1").inner_text() == "Demo conference"
        assert page.locator("#pin").inner_text() == demo["pin"]
        assert page.locator(".dial-in").first.inner_text() == demo["dial_in_uri"]
        assert page.locator("#direct").inner_text() == demo["direct_uri"]
        assert page.locator("html").get_attribute("lang") == "en"
        # Nothing overflows sideways on a 390-pixel-wide phone.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390
        page.screenshot(path=str(tmp_path / "conference.png"))


def test_unknown_link_is_a_404_page(service: RunningService) -> None:
    with chromium() as browser:
        page = browser.new_page()
        response = page.goto(f"{service.base_url}/c/no-such-link")
        assert response is not None and response.status == 404
