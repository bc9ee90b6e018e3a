"""Joining from the browser in a real chromium (Playwright) against a running service: the
guest types a name, is on the call over WebRTC, the host's page shows that name, a phone
(baresip) hears the browser's microphone and the browser hears the phone."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from playwright.async_api import Page
from tests.support import audio
from tests.support.browser import async_chromium
from tests.support.callers import prompt_seconds
from tests.support.peers import Baresip
from tests.support.service import RunningService, running_service

pytestmark = pytest.mark.browser

# In the page: the loudest frequency of what the call's <audio> element plays, and its level.
MEASURE = """async () => {
    const ctx = new AudioContext();
    const source = ctx.createMediaStreamSource(document.getElementById('call-audio').srcObject);
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 8192;
    source.connect(analyser);
    const bins = new Float32Array(analyser.frequencyBinCount);
    const peaks = [];
    for (let i = 0; i < 20; i++) {
        await new Promise((r) => setTimeout(r, 100));
        analyser.getFloatFrequencyData(bins);
        let best = 0;
        for (let b = 1; b < bins.length; b++) if (bins[b] > bins[best]) best = b;
        peaks.push([best * ctx.sampleRate / analyser.fftSize, bins[best]]);
    }
    await ctx.close();
    return peaks;
}"""


@pytest.fixture
def service(tmp_path: Path) -> Iterator[RunningService]:
    with running_service(tmp_path / "data") as running:
        yield running


async def _phone_joins(service: RunningService, pin: str, workdir: Path) -> Baresip:
    source = workdir / "phone.wav"
    audio.speech_like_tone(source, 700.0, 60)
    phone = Baresip(workdir, source)
    await phone.dial(f"sip:{pin}@127.0.0.1:{service.sip_port}", 40)
    return phone


async def _join(page: Page, name: str) -> None:
    form = page.locator("#join-form")
    await form.get_by_label("Your name, as everyone on the call will see it").fill(name)
    await page.get_by_role("button", name="Join with my microphone").click()
    try:
        await page.get_by_text(f"You are on the call as {name}.").wait_for(timeout=15_000)
    except Exception as exc:
        status = await page.locator("#join-status").inner_text()
        raise AssertionError(f"not on the call; the page says: {status!r}") from exc


async def test_a_guest_joins_from_the_browser_by_name_and_talks_with_a_phone(
    service: RunningService, tmp_path: Path
) -> None:
    demo = service.demo()
    microphone = tmp_path / "microphone.wav"
    audio.speech_like_tone(microphone, 1000.0, 60)
    phone = await _phone_joins(service, demo["pin"], tmp_path)
    try:
        async with async_chromium(
            [
                f"--use-file-for-fake-audio-capture={microphone}",
                "--autoplay-policy=no-user-gesture-required",
            ]
        ) as browser:
            host = await browser.new_page()
            await host.goto(f"{demo['web_url']}#token={demo['host_token']}")
            guest = await browser.new_page(viewport={"width": 390, "height": 844})
            await guest.goto(demo["web_url"])
            # A name is required before anything is asked of the microphone.
            await guest.get_by_role("button", name="Join with my microphone").click()
            assert await guest.locator("#join-name:invalid").count() == 1
            await _join(guest, "Wendy Web")
            # The host (and everyone) sees the typed name, and that the leg is on the web.
            await host.locator("#legs li .name", has_text="Wendy Web").wait_for(timeout=5_000)
            # After its "you are joining" prompt, the browser hears the phone's 700 Hz tone
            # (the prompt plays in real time; a little more for the page's audio to settle).
            await asyncio.sleep(prompt_seconds("joining") + 0.5)
            peaks = await guest.evaluate(MEASURE)
            loud = [f for f, level in peaks if level > -60]
            assert len(loud) >= 10 and abs(float(np.median(loud)) - 700) < 15, peaks
            # The phone records the browser's tone meanwhile: real audio, measured below.
            await asyncio.sleep(4)
            await guest.get_by_role("button", name="Mute me").click()
            await guest.get_by_text("You are muted.").wait_for(timeout=5_000)
            await (
                host.locator("#legs li", has_text="Wendy Web")
                .locator(".badge.muted")
                .wait_for(timeout=5_000)
            )
            await guest.get_by_role("button", name="Leave the call").click()
            await guest.get_by_text("You have left the call.").wait_for(timeout=5_000)
            await host.locator("#legs li .name", has_text="Wendy Web").wait_for(
                state="detached", timeout=10_000
            )
            # Joining again works; when the host drops the leg, the guest's page says so.
            await _join(guest, "Wendy Again")
            again = host.locator("#legs li", has_text="Wendy Again")
            host.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
            await again.locator("button[data-action=drop]").click()
            await guest.get_by_text("You are no longer on the call.").wait_for(timeout=10_000)
            assert await guest.get_by_role("button", name="Join with my microphone").is_enabled()
    finally:
        await phone.hang_up()
    heard = audio.read_wav(phone.heard())
    from_browser = audio.tone_windows(heard, 1000)
    assert len(from_browser) >= 4, audio.describe(heard)
    assert abs(float(np.median([audio.peak_frequency(w) for w in from_browser])) - 1000) < 10
