"""``callroster privacy erase`` and ``replay-erasures`` as an operator runs them, each its own
process on a data folder: a backup of the SQLite files taken before an erasure is restored,
and the replay erases a Tell a Friend invitation it brought back, and says so in its
counts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from sqlalchemy import func, select
from tests.support.cli import runner

from callroster.accounts.actor import Actor, Role, operator_cli
from callroster.config import load_settings
from callroster.invitations.friend import STANDARD_WORDING
from callroster.store.models import FriendInvitation
from callroster.store.store import open_store

OPERATOR = operator_cli("cli privacy test")
FRIEND = "ines.okafor@example.org"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLROSTER_")}
    return runner().run(list(args), env)


def _invitations(data: Path) -> int:
    store = open_store(load_settings(data=data), migrate_to_head=False)
    try:
        with store.sessions() as session:
            return int(session.scalar(select(func.count(FriendInvitation.id))) or 0)
    finally:
        store.close()


def test_replay_after_restoring_a_backup_erases_a_friend_invitation_again(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    store = open_store(load_settings(data=data))
    try:
        account = store.accounts.create_account(OPERATOR, "Firm LLP", "london")
        user = store.accounts.create_user(OPERATOR, account, Role.HOST, "Ada Lovelace")
        host = Actor(user, Role.HOST, account, "192.0.2.7", "test")
        for address in (FRIEND, "olu.bello@example.org"):
            store.friend_invitations.queue(
                host,
                address,
                address,
                STANDARD_WORDING,
                standard_wording=True,
                per_sender_per_day=10,
                per_account_per_day=100,
            )
    finally:
        store.close()
    backup = tmp_path / "backup"
    backup.mkdir()
    for path in data.glob("callroster.db*"):
        shutil.copy2(path, backup / path.name)

    erased = _run("privacy", "erase", "--email", FRIEND, "--data", str(data))
    assert erased.returncode == 0, erased.stderr
    assert json.loads(erased.stdout) == {"counts": {"friend_invitations": 1}, "journalled": 2}
    assert _invitations(data) == 1

    for path in data.glob("callroster.db*"):
        path.unlink()
    for path in backup.iterdir():
        shutil.copy2(path, data / path.name)
    assert _invitations(data) == 2  # control: the backup brought the invitation back

    replayed = _run("privacy", "replay-erasures", "--data", str(data))
    assert replayed.returncode == 0, replayed.stderr
    assert json.loads(replayed.stdout) == {"counts": {"erasures": 2, "friend_invitations": 1}}
    assert _invitations(data) == 1
    assert FRIEND not in replayed.stdout + replayed.stderr
