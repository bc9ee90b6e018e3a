"""'We call you' in a real chromium against a running service: a guest types a name and a
number, the service phones it through the operator's trunk (sipp as the carrier, asking for
digest credentials), the callee presses 1, and everyone's roster shows the typed name."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.browser import chromium
from tests.support.cli import runner as cli_runner
from tests.support.peers import free_udp_port, require, sipp_tone_file
from tests.support.service import RunningService, clean_env, running_service
from tests.support.waiting import until_sync

pytestmark = pytest.mark.browser
SCENARIOS = Path(__file__).parents[1] / "interop" / "scenarios"
SCENARIO = SCENARIOS / "uas_digest_join.xml"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[RunningService]:
    with running_service(tmp_path / "data") as running:
        yield running


def _legs(service: RunningService, demo: dict[str, Any]) -> list[dict[str, Any]]:
    request = urllib.request.Request(
        f"{service.base_url}/api/v1/conferences/{demo['conference_id']}/legs",
        headers={"Authorization": f"Bearer {demo['host_token']}"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        legs: list[dict[str, Any]] = json.load(response)["legs"]
    return legs


def _post(service: RunningService, path: str, token: str) -> None:
    request = urllib.request.Request(
        f"{service.base_url}{path}",
        data=b"",
        method="POST",
        headers={"Authorization": f"Bearer {token}"},
    )
    urllib.request.urlopen(request, timeout=5).close()


def test_a_guest_asks_to_be_called_and_joins_under_the_typed_name(
    service: RunningService, tmp_path: Path
) -> None:
    demo = service.demo()
    carrier_port = free_udp_port()
    added = cli_runner().run(
        [
            *["trunk", "add", "carrier", "--uri", f"sip:127.0.0.1:{carrier_port}"],
            *["--username", "callroster", "--password-stdin", "--prefix", "+44"],
            *["--data", str(service.data)],
        ],
        clean_env(),
        input="s3cret-trunk\n",
    )
    assert added.returncode == 0, added.stderr
    sipp_tone_file(tmp_path)
    carrier = subprocess.Popen(
        [require("sipp"), "-sf", str(SCENARIO), "-i", "127.0.0.1", "-p", str(carrier_port)]
        + ["-mp", str(free_udp_port(pair=True, span=4)), "-m", "1", "-nostdin", "-timeout", "60s"]
        + ["-key", "realm", "carrier.test", "-key", "nonce", "n0nce7"]
        + ["-key", "username", "callroster", "-key", "password", "s3cret-trunk"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        with chromium() as browser:
            host = browser.new_page()
            host.goto(f"{demo['web_url']}#token={demo['host_token']}")
            host.get_by_role("heading", name="Add a guest by phone").wait_for(timeout=5_000)
            guest = browser.new_page(viewport={"width": 390, "height": 844})
            guest.goto(demo["web_url"])
            form = guest.locator("#call-form")
            form.get_by_label("Your name, as everyone on the call will see it").fill("Gail Guest")
            form.get_by_label("Country").select_option("GB")
            form.get_by_label("Phone number").fill("020 7946 0777")
            form.get_by_role("button", name="Call me").click()
            guest.get_by_text(
                "Calling you on +442079460777. Answer, then press 1 to join."
            ).wait_for(timeout=10_000)
            # Ringing, then (the callee pressed 1) on the call, under the typed name for all.
            host.locator("#legs li .name", has_text="Gail Guest").wait_for(timeout=10_000)
            guest.locator("#legs li .name", has_text="Gail Guest").wait_for(timeout=5_000)
            until_sync(lambda: _legs(service, demo)[0]["status"] == "connected", 20, 0.2)
            [leg] = _legs(service, demo)
            assert (leg["status"], leg["name_source"], leg["joined_via"]) == (
                "connected",
                "entered",
                "dial_out",
            )
            _post(
                service,
                f"/api/v1/conferences/{demo['conference_id']}/legs/{leg['id']}/drop",
                demo["host_token"],
            )
            assert carrier.wait(timeout=15) == 0  # our BYE reached the carrier
            # A number the allow list refuses is refused with a clear message.
            form.get_by_label("Phone number").fill("+44 909 879 0000")
            form.get_by_role("button", name="Call me").click()
            guest.get_by_text("calls to premium-rate numbers are not allowed").wait_for(
                timeout=5_000
            )
    finally:
        if carrier.poll() is None:
            carrier.kill()


def test_the_host_sees_why_a_phoned_guest_did_not_join(
    service: RunningService, tmp_path: Path
) -> None:
    """The host adds a guest by phone from the page; the carrier answers 486 Busy Here. The
    leg shows ringing, then 'Did not join: the line was busy', and goes after a while; the
    roster API says why (left_reason)."""
    demo = service.demo()
    carrier_port = free_udp_port()
    added = cli_runner().run(
        ["trunk", "add", "carrier", "--uri", f"sip:127.0.0.1:{carrier_port}"]
        + ["--data", str(service.data)],
        clean_env(),
    )
    assert added.returncode == 0, added.stderr
    scenario = tmp_path / "uas_busy.xml"
    scenario.write_text(
        (SCENARIOS / "uas_reject.xml")
        .read_text()
        .replace("@STATUS@", "486")
        .replace("@REASON@", "Busy Here")
    )
    carrier = subprocess.Popen(
        [require("sipp"), "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(carrier_port)]
        + ["-m", "1", "-nostdin", "-timeout", "30s"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        with chromium() as browser:
            host = browser.new_page(viewport={"width": 390, "height": 844})
            host.goto(f"{demo['web_url']}#token={demo['host_token']}")
            host.get_by_role("heading", name="Add a guest by phone").wait_for(timeout=5_000)
            form = host.locator("#call-form")
            form.get_by_label("Their name, as everyone will see it").fill("Bertie Busy")
            form.get_by_label("Country").select_option("GB")
            form.get_by_label("Phone number").fill("020 7946 0486")
            form.get_by_role("button", name="Call them").click()
            leg = host.locator("#legs li", has_text="Bertie Busy")
            leg.get_by_text("Did not join: the line was busy").wait_for(timeout=10_000)
            status = host.locator("#status")
            assert status.inner_text() == "Bertie Busy did not join: the line was busy."
            assert not leg.locator(".controls").is_visible()  # nothing left to mute or drop
            [gone] = _legs(service, demo)
            assert (gone["status"], gone["left_reason"], gone["name"]) == (
                "left",
                "busy",
                "Bertie Busy",
            )
            # The notice stays for 10 s, then the leg leaves the list.
            leg.wait_for(state="detached", timeout=15_000)
            assert carrier.wait(timeout=10) == 0  # the 486 was acknowledged
    finally:
        if carrier.poll() is None:
            carrier.kill()
