"""Name resolution in the policy's order, with real callers whose numbers a trusted peer
asserts (P-Asserted-Identity from 127.0.0.1, named in ``sip_trusted_peers``): a registered
user's number, the account's contact list, then the third-party directory only for allowed
countries. A number anyone could have sent gets no name (tests/bridge/test_name_lookup.py,
tests/security/test_caller_id.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.support.bridge import BridgeHarness, running_bridge
from tests.support.peers import run_sipp, sipp_tone_file
from tests.support.waiting import holds_for, wait_until

from callroster.accounts.actor import operator_cli
from callroster.privacy.directory import CountryGate, FileDirectory
from callroster.roster.roster import RosterLeg

pytestmark = pytest.mark.interop
OPERATOR = operator_cli("test")


def _stored_name(harness: BridgeHarness, number: str) -> str | None:
    legs = harness.store.conferences.legs(OPERATOR, harness.demo.conference_id)
    return next((leg.name for leg in legs if leg.number == number), None)


async def _join_and_read_name(
    harness: BridgeHarness, workdir: Path, number: str, resolves: bool = True
) -> tuple[str | None, str | None]:
    """The caller joins; once its name is shown (and stored), or, when none should be found,
    once the look-up has had its chance, every leg is dropped."""
    task = asyncio.create_task(
        run_sipp(
            "asserted",
            harness.sip_port,
            harness.demo.pin,
            workdir,
            keys={"caller": number, "asserted": number},
        )
    )

    def shown() -> list[RosterLeg]:
        roster = harness.roster.get(harness.demo.conference_id)
        return [leg for leg in roster.legs.values() if leg.number == number] if roster else []

    await wait_until(shown, 10, f"{number} on the roster")
    if resolves:
        await wait_until(lambda: shown()[0].name, 5, f"a name for {number}")
        name = shown()[0].name
        await wait_until(lambda: _stored_name(harness, number) == name, 5, "the name stored")
    else:
        # Nothing is to come; the look-up (a thread reading the store and a file) is over well
        # within this.
        await holds_for(lambda: shown()[0].name is None, 1.0, f"no name for {number}")
    for leg in list(harness.conference().present()):
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
    async with running_bridge(
        tmp_path / "data", directory, sip_trusted_peers="127.0.0.1"
    ) as harness:
        sipp_tone_file(tmp_path)
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
        assert await _join_and_read_name(harness, tmp_path, "+447700900888", resolves=False) == (
            None,
            None,
        )
        legs = harness.store.conferences.legs(OPERATOR, harness.demo.conference_id)
    stored = {leg.number: (leg.name, leg.name_source) for leg in legs}
    assert stored["+447700900333"] == ("Carol Contact", "contact")
