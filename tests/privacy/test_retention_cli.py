"""``callroster retention run [--dry-run]`` as an operator runs it, as its own process on a
data folder: the dry run reports what would go and changes nothing; the run purges it and
prints the same counts (no personal data); a second run finds nothing."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from sqlalchemy import func, select
from tests.store.test_retention import _plant, _world
from tests.support.cli import runner

from callroster.config import load_settings
from callroster.store.models import CallRecord
from callroster.store.store import open_store


def _retention(data: Path, *extra: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLROSTER_")}
    done = runner().run(["retention", "run", "--data", str(data), *extra], env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert isinstance(report, dict)
    return report


def _left(data: Path) -> int:
    store = open_store(load_settings(data=data))
    try:
        with store.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(CallRecord)) or 0)
    finally:
        store.close()


def test_retention_run_dry_then_for_real(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = open_store(load_settings(data=data))
    try:
        world = _world(store)
        _plant(store, world, dt.datetime(2020, 1, 1, tzinfo=dt.UTC), 3)  # long past
        _plant(store, world, dt.datetime.now(dt.UTC) - dt.timedelta(days=1), 2)  # kept
    finally:
        store.close()

    dry = _retention(data, "--dry-run")
    assert dry["dry_run"] is True
    assert dry["counts"] == {
        "call_records": {"call_records": 3},
        "service_data": {},
        "account_data": {},
        "consent": {},
    }
    assert _left(data) == 5

    done = _retention(data)
    assert done["dry_run"] is False and done["counts"] == dry["counts"]
    assert "Curie" not in json.dumps(done)
    assert _left(data) == 2
    assert _retention(data)["counts"] == {
        "call_records": {},
        "service_data": {},
        "account_data": {},
        "consent": {},
    }
