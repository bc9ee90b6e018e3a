"""Shredding reaches a running service within seconds (issue 15): after
``callroster account shred <id> --yes`` from the CLI (another process), a running
``callroster serve`` refuses the host's token and link and says the account's and the host's
names nowhere, without a restart, though it had the data key in memory."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from tests.support.cli import runner as cli_runner
from tests.support.service import clean_env, running_service
from tests.support.waiting import until_sync

pytestmark = pytest.mark.interop

NAMES = ("Demo LLP", "Harriet Host", "Dana Admin")


def _cli(*args: str) -> str:
    result = cli_runner().run(list(args), clean_env())
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_shred_from_the_cli_reaches_the_running_service_within_seconds(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    with running_service(data) as service:
        demo = service.demo()
        operator_token = _cli("operator-token", "create", "test", "--data", str(data)).split()[-1]
        host = {"Authorization": f"Bearer {demo['host_token']}"}
        operator = {"Authorization": f"Bearer {operator_token}"}
        guest = {"Authorization": f"Bearer {demo['web_url'].rsplit('/', 1)[-1]}"}
        with httpx.Client(base_url=service.base_url, timeout=10) as web:

            def answers() -> list[httpx.Response]:
                return [
                    web.get("/api/v1/me", headers=host),
                    web.get("/api/v1/operator/accounts", headers=operator),
                    web.get(f"/api/v1/conferences/{demo['conference_id']}/legs", headers=host),
                    web.get(f"/api/v1/conferences/{demo['conference_id']}/legs", headers=guest),
                ]

            # Positive control: the running service has the key in memory and uses it.
            before = answers()
            assert before[0].status_code == 200 and "Harriet Host" in before[0].text
            assert "Demo LLP" in before[1].text
            assert before[2].status_code == 200 and before[3].status_code == 200
            _cli("account", "shred", demo["account_id"], "--yes", "--data", str(data))
            shredded_at = time.monotonic()
            seen: list[list[httpx.Response]] = []

            def erased() -> bool:
                seen.append(answers())
                me, accounts, _, _ = seen[-1]
                return (
                    me.status_code in (401, 403, 410)
                    and accounts.status_code == 200
                    and not any(name in answer.text for answer in seen[-1] for name in NAMES)
                )

            assert until_sync(erased, 10), [(r.status_code, r.text[:200]) for r in seen[-1]]
            took = time.monotonic() - shredded_at
            print(f"shred to refusal and no name: {took:.2f} s")
            assert took < 5
            _, _, legs, link = seen[-1]
            assert legs.status_code in (401, 403, 410) and link.status_code in (401, 403, 410)
