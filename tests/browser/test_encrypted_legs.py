"""The padlock in Live Call Status, end to end: ``callroster serve`` with HTTPS and SIP over
TLS, the host's page in Debian chromium (the test certificate pinned by its key). A phone
over TLS with SRTP (baresip, ``mediaenc=srtp-mand``) shows as encrypted and the call as
"every connection encrypted"; a clear-text phone (baresip over UDP) shows "not encrypted"
and the call counts it; a guest who joins from the browser over HTTPS (DTLS-SRTP) is
encrypted; when the clear phone leaves, the call is all encrypted again. The API's roster
says the same. Every certificate is a tests/support/certs.py TestCa's."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page
from tests.support import audio
from tests.support.browser import async_chromium
from tests.support.certs import Issued, TestCa
from tests.support.peers import Baresip
from tests.support.service import RunningService, running_service

pytestmark = pytest.mark.browser
PIN_FLAG = "--ignore-certificate-errors-spki-list"
ALL_ENCRYPTED = "Every connection to this call is encrypted"


@dataclass
class Served:
    service: RunningService
    ca: TestCa
    web: Issued
    sip_tls_port: int
    demo: dict[str, Any]


def _free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    ca = TestCa(tmp_path / "ca")
    web, sip = ca.issue(tmp_path / "web", "web"), ca.issue(tmp_path / "sip", "sip")
    tls_port = _free_tcp_port()
    settings = {
        "tls_cert_file": str(web.cert_file),
        "tls_key_file": str(web.key_file),
        "sip_tls_cert_file": str(sip.cert_file),
        "sip_tls_key_file": str(sip.key_file),
        "sip_tls_port": str(tls_port),
    }
    with running_service(tmp_path / "data", settings=settings) as service:
        assert service.scheme == "https", service.banner
        yield Served(service, ca, web, tls_port, service.demo())


async def _leg(page: Page, name: str, security: str, phone: Baresip | None = None) -> None:
    """Waits until the host's roster shows a leg named ``name`` saying ``security``."""
    item = page.locator("#legs li", has_text=name)
    try:
        await item.locator(".security", has_text=security).wait_for(timeout=15_000)
    except Exception as exc:
        shown = await page.locator("#legs").inner_text()
        said = bytes(phone._output).decode(errors="replace") if phone else ""  # noqa: SLF001
        raise AssertionError(
            f"no {name!r} saying {security!r}; the roster shows:\n{shown}\nthe phone said:\n{said}"
        ) from exc


async def _banner(page: Page, text: str) -> None:
    await page.locator("#encryption", has_text=text).wait_for(timeout=15_000)


def _api_roster(served: Served) -> dict[str, Any]:
    demo = served.demo
    answer = httpx.get(
        f"{served.service.base_url}/api/v1/conferences/{demo['conference_id']}/legs",
        headers={"Authorization": f"Bearer {demo['host_token']}"},
        verify=ssl.create_default_context(cafile=str(served.ca.cert_file)),
    )
    assert answer.status_code == 200, answer.text
    roster: dict[str, Any] = answer.json()
    return roster


async def test_the_host_sees_which_legs_are_encrypted_and_whether_all_are(
    served: Served, tmp_path: Path
) -> None:
    demo, pin = served.demo, served.demo["pin"]
    tone = tmp_path / "tone.wav"
    audio.speech_like_tone(tone, 700.0, 60)
    secure = Baresip(
        tmp_path, tone, name="secure", cafile=served.ca.cert_file, mediaenc="srtp-mand"
    )
    clear = Baresip(tmp_path, tone, name="clear")
    phones = [secure, clear]
    microphone = tmp_path / "microphone.wav"
    audio.speech_like_tone(microphone, 1000.0, 60)
    flags = [
        f"{PIN_FLAG}={served.web.spki_sha256_base64}",
        f"--use-file-for-fake-audio-capture={microphone}",
        "--autoplay-policy=no-user-gesture-required",
    ]
    try:
        async with async_chromium(flags) as browser:
            host = await browser.new_page()
            await host.goto(f"{demo['web_url']}#token={demo['host_token']}")
            await host.get_by_role("status").filter(has_text="Live").wait_for(timeout=15_000)
            assert await host.locator("#encryption").is_hidden()  # nobody: no claim at all
            await secure.dial(f"sip:{pin}@127.0.0.1:{served.sip_tls_port};transport=tls", 60)
            await _leg(host, "secure", "encrypted", secure)
            await _banner(host, ALL_ENCRYPTED)
            await clear.dial(f"sip:{pin}@127.0.0.1:{served.service.sip_port}", 60)
            await _leg(host, "clear", "not encrypted", clear)
            await _banner(host, "1 of 2 connections not encrypted")
            secure_row = host.locator("#legs li", has_text="secure").locator(".security")
            assert (await secure_row.inner_text()).strip().endswith("encrypted")
            assert "not" not in await secure_row.inner_text()
            # A guest from the browser, over HTTPS: DTLS-SRTP media, offer over TLS.
            guest = await browser.new_page()
            await guest.goto(demo["web_url"])
            form = guest.locator("#join-form")
            await form.get_by_label("Your name, as everyone on the call will see it").fill(
                "Wendy Web"
            )
            await guest.get_by_role("button", name="Join with my microphone").click()
            await _leg(host, "Wendy Web", "encrypted")
            await _banner(host, "1 of 3 connections not encrypted")
            roster = _api_roster(served)
            by_via = sorted((leg["joined_via"], leg["encrypted"]) for leg in roster["legs"])
            assert by_via == [("dial_in", False), ("dial_in", True), ("web", True)], roster
            assert roster["all_encrypted"] is False
            await clear.hang_up()
            phones.remove(clear)
            await _banner(host, ALL_ENCRYPTED)
            assert _api_roster(served)["all_encrypted"] is True
    finally:
        for phone in phones:
            if phone.proc is not None:
                await phone.hang_up()
