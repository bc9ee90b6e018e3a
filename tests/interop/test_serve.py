"""The service as `make run` starts it (`callroster serve --demo`, a real subprocess): a phone
dials the printed access number, keys the printed PIN and is joined; the leg is stored."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.peers import pin_keys, run_sipp, sipp_tone_file
from tests.support.service import clean_env, running_service

pytestmark = pytest.mark.interop


async def test_a_phone_joins_the_demo_conference_of_a_running_service(tmp_path: Path) -> None:
    with running_service(tmp_path / "data") as service:
        demo = service.demo()
        sipp_tone_file(tmp_path)
        result = await run_sipp(
            "pin_by_info",
            service.sip_port,
            demo["dial_in_number"],
            tmp_path,
            keys=pin_keys(demo["pin"]),
            duration_ms=4000,  # no '#': the PIN is tried 2 s after its 8th digit (issue 12)
        )
        assert result.returncode == 0, result.stdout + result.stderr
    # The leg was written to the store (encrypted) and is readable by the operator.
    dump = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, json; from callroster.config import load_settings;"
            "from callroster.store.store import open_store;"
            "from callroster.accounts.actor import operator_cli;"
            "s = open_store(load_settings(data=sys.argv[1]));"
            "legs = s.conferences.legs(operator_cli('test'), sys.argv[2]);"
            "print(json.dumps([[leg.number, leg.status] for leg in legs]))",
            str(tmp_path / "data"),
            demo["conference_id"],
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
    )
    assert json.loads(dump.stdout) == [["+447700900101", "left"]], dump.stderr
