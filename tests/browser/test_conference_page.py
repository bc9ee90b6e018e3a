"""The conference page in a real browser: a guest opening the invitation link sees how to
join, on a phone-sized screen, and the page is labelled for assistive technology."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import expect
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
        # An empty room says so in words, and that it is open to join.
        expect(page.locator("#empty-room")).to_contain_text("Nobody is on the call yet")
        expect(page.locator("#count")).to_have_text("0")
        expect(page.locator("#unlocked")).to_be_visible()
        assert page.locator("#locked").is_hidden()
        # Nothing overflows sideways on a 390-pixel-wide phone.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390
        page.screenshot(path=str(tmp_path / "conference.png"))


def test_unknown_link_is_a_404_page(service: RunningService) -> None:
    with chromium() as browser:
        page = browser.new_page()
        response = page.goto(f"{service.base_url}/c/no-such-link")
        assert response is not None and response.status == 404


def test_the_page_works_under_its_content_security_policy(service: RunningService) -> None:
    demo = service.demo()
    with chromium() as browser:
        page = browser.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        response = page.goto(demo["web_url"])
        assert response is not None
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        # The script runs (the roster's WebSocket connects and says so) and the stylesheet,
        # a file as the policy wants, applies.
        expect(page.locator("#status")).not_to_have_text("Connecting…")
        assert page.evaluate("getComputedStyle(document.querySelector('main')).maxWidth") == "704px"
        assert not page.locator("#recording").is_visible()
        assert [text for text in console if "Content Security Policy" in text] == []


@contextmanager
def _other_site(target: str) -> Iterator[str]:
    """A page on another origin (another port of 127.0.0.1) that frames ``target``."""
    html = f'<!doctype html><title>bait</title><iframe id="bait" src="{target}"></iframe>'.encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_another_site_cannot_frame_the_page(service: RunningService) -> None:
    """Another site frames the conference page to dress up "Join with my microphone": the
    browser refuses to render it. The control: the same kind of page framing /healthz, which
    has no such policy, shows it."""
    demo = service.demo()
    with chromium() as browser:
        page = browser.new_page()
        with _other_site(f"{service.base_url}/healthz") as attacker:
            page.goto(attacker)
            expect(page.frame_locator("#bait").locator("body")).to_contain_text('"status"')
        with _other_site(demo["web_url"]) as attacker:
            with page.expect_console_message(lambda m: "frame-ancestors" in m.text):
                page.goto(attacker)
            framed = page.frame_locator("#bait")
            assert framed.locator("#pin").count() == 0
            assert framed.locator("#join-button").count() == 0
            frame = page.frames[1]
            assert (
                frame.evaluate("document.body ? document.body.innerText : ''").find(demo["pin"])
                == -1
            )
