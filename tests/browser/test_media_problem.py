"""A leg whose audio never reaches the bridge is marked on Live Call Status, in a real browser
against a running service: a sipp caller whose media socket stays silent shows "no audio from
this caller" after ten seconds, and the mark goes once its audio comes."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.support.browser import chromium
from tests.support.service import RunningService, running_service
from tests.support.talker import _bound_socket, sipp_call

from callroster.bridge.media_health import QUIET_FOR
from callroster.rtp.packet import RtpSender

pytestmark = pytest.mark.browser


@pytest.fixture
def service(tmp_path: Path) -> Iterator[RunningService]:
    with running_service(tmp_path / "data") as running:
        yield running


def test_a_silent_leg_is_marked_and_the_mark_goes_when_it_is_heard(
    service: RunningService, tmp_path: Path
) -> None:
    demo = service.demo()
    sock = _bound_socket()
    with (
        chromium() as browser,
        sipp_call(
            service, demo["pin"], tmp_path / "sipp", sock.getsockname()[1], duration_s=30
        ) as call,
    ):
        page = browser.new_page()
        page.goto(f"{demo['web_url']}#token={demo['host_token']}")
        leg = page.locator("#legs li").first
        leg.wait_for(timeout=10_000)
        joined = time.monotonic()
        badge = leg.locator(".badge.media-problem")
        badge.wait_for(timeout=(QUIET_FOR + 5) * 1000)
        # Not before the silence lasted: timed from when the service says the leg joined (the
        # page may first show the leg a second or more after it joined, under load).
        legs = httpx.get(
            f"{service.base_url}/api/v1/conferences/{demo['conference_id']}/legs",
            headers={"Authorization": f"Bearer {demo['host_token']}"},
        ).json()["legs"]
        joined_at = dt.datetime.fromisoformat(legs[0]["joined_at"]).timestamp()
        assert time.time() - joined_at >= QUIET_FOR - 1
        assert time.monotonic() - joined <= QUIET_FOR + 5
        assert badge.inner_text() == "no audio from this caller"
        assert badge.get_attribute("data-problem") == "nothing_received"
        remote = call.bridge_media()
        sender = RtpSender(ssrc=secrets.randbits(32), initial_sequence=1, initial_timestamp=0)
        deadline = time.monotonic() + 5
        while badge.count() and time.monotonic() < deadline:  # line noise, 20 ms apart
            sock.sendto(sender.next_packet(b"\xfe" * 160, 160), remote)
            page.wait_for_timeout(20)
        assert badge.count() == 0, "the mark stayed although the caller's audio came"
    sock.close()
