"""Name resolution in the policy's order, with real callers: a registered user's number, the
account's contact list, then the third-party directory only for allowed countries."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.interop.test_dial_in import _tone_files
from tests.support.bridge import BridgeHarness, running_bridge
from tests.support.peers import run_sipp

from callroster.accounts.actor import operator_cli
from callroster.privacy.directory import CountryGate, FileDirectory

pytestmark = pytest.mark.interop
OPERATOR = operator_cli("test")


async def _join_and_read_name(
    harness: BridgeHarness, workdir: Path, number: str
) -> tuple[str | None, str | None]:
    task = asyncio.create_task(
        run_sipp("refused", harness.sip_port, harness.demo.pin, workdir, keys={"caller": number})
    )
    for _ in range(100):
        await asyncio.sleep(0.05)
        roster = harness.roster.get(harness.demo.conference_id)
        legs = [leg for leg in roster.legs.values() if leg.number == number] if roster else []
        if legs and legs[0].name:
            break
    await asyncio.sleep(0.3)
    for leg in list(harness.room().conference.present()):
        harness.bridge.control(harness.demo.conference_id, "drop", leg.id)
    await task
    [leg] = [
        leg
        for leg in harness.roster.get(harness.demo.conference_id).legs.values()
        if leg.number == number
    ]
    return leg.name, leg.name_source


async def test_names_resolve_in_the_policy_order(tmp_path: Path) -> None:
    csv = tmp_path / "directory.csv"
    csv.write_text(
        "+1 415 555 0142,Grace Directory\n+44 7700 900888,Not For GB\n"
        "+44 20 7946 0001,Directory Loses To User\n"
    )
    directory = CountryGate(FileDirectory(csv), ["US"])
    async with running_bridge(tmp_path / "data", directory) as harness:
        _tone_files(tmp_path)
        harness.store.contacts.add(
            OPERATOR, harness.demo.account_id, "Carol Contact", phone="+44 7700 900333"
        )
        # The demo host's own phone number: a registered user wins over everything else.
        assert await _join_and_read_name(harness, tmp_path, "+442079460001") == (
            "Harriet Host",
            "user",
        )
        assert await _join_and_read_name(harness, tmp_path, "+447700900333") == (
            "Carol Contact",
            "contact",
        )
        assert await _join_and_read_name(harness, tmp_path, "+14155550142") == (
            "Grace Directory",
            "directory",
        )
        # In the directory, but the directory may not be used for GB numbers.
        assert await _join_and_read_name(harness, tmp_path, "+447700900888") == (None, None)
        legs = harness.store.conferences.legs(OPERATOR, harness.demo.conference_id)
    stored = {leg.number: (leg.name, leg.name_source) for leg in legs}
    assert stored["+447700900333"] == ("Carol Contact", "contact")
