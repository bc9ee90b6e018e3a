"""Debian chromium against ``callroster serve`` over HTTPS, with the test's own certificate
pinned by its public key (``--ignore-certificate-errors-spki-list=<sha256 of the SPKI>``,
not a blanket ``--ignore-certificate-errors``): the host's conference page loads with HSTS,
and Live Call Status connects its WebSocket over wss:// and shows "Live".

Controls: without the pin, and with the pin of another key, the same navigation fails with a
certificate error, so it is the pin, for this key only, that lets chromium in."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.async_api import Error as PlaywrightError
from tests.support.browser import async_chromium
from tests.support.certs import Issued, TestCa
from tests.support.service import RunningService, running_service

pytestmark = pytest.mark.browser
PIN_FLAG = "--ignore-certificate-errors-spki-list"


@dataclass
class Served:
    service: RunningService
    issued: Issued
    other: Issued
    demo: dict[str, Any]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("https-browser")
    ca = TestCa(folder / "ca")
    issued = ca.issue(folder / "web", "web")
    other = ca.issue(folder / "other", "other")  # same authority, another key
    settings = {"tls_cert_file": str(issued.cert_file), "tls_key_file": str(issued.key_file)}
    with running_service(folder / "data", settings=settings) as service:
        assert service.scheme == "https", service.banner
        yield Served(service, issued, other, service.demo())


async def test_pinned_chromium_loads_the_page_and_live_call_status_over_wss(
    served: Served,
) -> None:
    demo = served.demo
    assert demo["web_url"].startswith("https://127.0.0.1:")
    async with async_chromium([f"{PIN_FLAG}={served.issued.spki_sha256_base64}"]) as browser:
        page = await browser.new_page()
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        answer = await page.goto(f"{demo['web_url']}#token={demo['host_token']}")
        assert answer is not None and answer.status == 200
        headers = await answer.all_headers()
        assert headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
        live = page.get_by_role("status").filter(has_text="Live")
        await live.wait_for(timeout=15_000)
        assert sockets and all(url.startswith("wss://127.0.0.1:") for url in sockets), sockets
        assert await page.evaluate("location.protocol") == "https:"


@pytest.mark.parametrize("pin", ["none", "another key"])
async def test_without_the_pin_of_this_key_the_navigation_fails_on_the_certificate(
    served: Served, pin: str
) -> None:
    flags = [] if pin == "none" else [f"{PIN_FLAG}={served.other.spki_sha256_base64}"]
    async with async_chromium(flags) as browser:
        page = await browser.new_page()
        with pytest.raises(PlaywrightError, match="net::ERR_CERT_AUTHORITY_INVALID"):
            await page.goto(served.demo["web_url"])
