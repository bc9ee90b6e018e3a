"""Issue 12, finding 5: caller ID was believed from anyone, and names leaked across accounts.
A number spoofed in P-Asserted-Identity (or From) showed the caller, to everyone holding the
link, as another customer's user ("Oscar Confidential-Client"), as the host, or under a name
from the account's private contact list.

Replayed against a real ``callroster serve`` with sipp: three callers from 127.0.0.77-79
dial the demo conference, each asserting a number in P-Asserted-Identity (and From): a user
of a second account, the demo host's own number, a contact of the demo account. With no
trusted SIP peers (the default) the roster (``GET …/legs``, the host's token) shows each
number marked unverified and no name, and no look-up ran (no ``user.match`` or
``contact.match`` in the audit log). The positive control names 127.0.0.76/30 in
``sip_trusted_peers``: the same calls are verified, the host and the contact are named, and
the other account's user still is not: names come only from the conference's own account."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.peers import sipp_command, sipp_tone_file
from tests.support.service import RunningService, running_service
from tests.support.waiting import until_sync, wait_until_sync

from callroster.accounts.actor import Role, operator_cli
from callroster.config import load_settings
from callroster.store.store import open_store

pytestmark = pytest.mark.interop
OPERATOR = operator_cli("finding 5")

OTHER_ACCOUNTS_USER = "+447700900555"  # "Oscar Confidential-Client", of another account
DEMO_HOST = "+442079460001"  # "Harriet Host", the demo conference's host
DEMO_CONTACT = "+447700900556"  # "Priya Private", on the demo account's contact list
CALLERS = {"127.0.0.77": OTHER_ACCOUNTS_USER, "127.0.0.78": DEMO_HOST, "127.0.0.79": DEMO_CONTACT}


@pytest.fixture(params=[False, True], ids=["no trusted peers", "callers' addresses trusted"])
def served(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[RunningService, bool]]:
    """The service, and whether it trusts the callers' addresses."""
    settings = {"sip_trusted_peers": "127.0.0.76/30"} if request.param else {}
    with running_service(tmp_path / "data", settings=settings) as running:
        yield running, bool(request.param)


def _api(service: RunningService, token: str, path: str, method: str = "GET") -> Any:
    request = urllib.request.Request(
        f"{service.base_url}/api/v1{path}",
        method=method,
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def _plant_names(service: RunningService, demo: dict[str, Any]) -> None:
    store = open_store(load_settings(data=service.data))
    try:
        other = store.accounts.create_account(OPERATOR, "Confidential Client Ltd", "london")
        store.accounts.create_user(
            OPERATOR, other, Role.HOST, "Oscar Confidential-Client", phone=OTHER_ACCOUNTS_USER
        )
        store.contacts.add(OPERATOR, demo["account_id"], "Priya Private", phone=DEMO_CONTACT)
    finally:
        store.close()


def _name_matches(service: RunningService) -> list[str]:
    store = open_store(load_settings(data=service.data))
    try:
        return [
            e.action for e in store.audit.entries() if e.action in ("user.match", "contact.match")
        ]
    finally:
        store.close()


def test_a_spoofed_caller_id_is_marked_and_names_stay_in_the_account(
    served: tuple[RunningService, bool], tmp_path: Path
) -> None:
    service, trusted = served
    demo = service.demo()
    _plant_names(service, demo)
    legs_path = f"/conferences/{demo['conference_id']}/legs"
    calls = []
    for source, number in CALLERS.items():
        workdir = tmp_path / source  # each sipp its own scenario file and error log
        workdir.mkdir()
        sipp_tone_file(workdir)
        command = sipp_command(
            "asserted",
            service.sip_port,
            demo["pin"],
            workdir,
            keys={"caller": number, "asserted": number},
            local_ip=source,
        )
        calls.append(
            subprocess.Popen(
                command,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    try:

        def legs() -> dict[str, dict[str, Any]]:
            shown = _api(service, demo["host_token"], legs_path)["legs"]
            return {leg["number"]: leg for leg in shown if leg["status"] != "left"}

        wait_until_sync(lambda: len(legs()) == 3, 15, "the three callers on the roster")
        if trusted:
            named = {DEMO_HOST: "Harriet Host", DEMO_CONTACT: "Priya Private"}
            wait_until_sync(
                lambda: {n: legs()[n]["name"] for n in named} == named, 10, "their names"
            )
        else:
            # The look-up (a thread reading the store) is over well within this when it runs.
            assert not until_sync(lambda: any(leg["name"] for leg in legs().values()), 1.5)
        shown = legs()
        matches = _name_matches(service)
    finally:
        for leg in _api(service, demo["host_token"], legs_path)["legs"]:
            if leg["status"] != "left":
                _api(service, demo["host_token"], f"{legs_path}/{leg['id']}/drop", "POST")
        for call in calls:
            try:
                call.wait(timeout=20)
            except subprocess.TimeoutExpired:
                call.kill()
                call.wait()
    # Never another account's name, verified or not.
    assert shown[OTHER_ACCOUNTS_USER]["name"] is None, shown
    assert all(leg["number_verified"] is trusted for leg in shown.values()), shown
    if trusted:
        assert (shown[DEMO_HOST]["name"], shown[DEMO_HOST]["name_source"]) == (
            "Harriet Host",
            "user",
        )
        assert shown[DEMO_CONTACT]["name_source"] == "contact"
        assert sorted(matches) == ["contact.match", "user.match"]
    else:
        assert [leg["name"] for leg in shown.values()] == [None, None, None]
        assert matches == []  # nothing was looked up for an unverified number
