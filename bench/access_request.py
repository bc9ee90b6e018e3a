"""How long an access request takes to answer for one number among N call records (issue 15:
"answer an access request for one number among 5,000,000 call records (target under 1 s),
on SQLite and on PostgreSQL").

N call records of other numbers (random blind indexes, written directly in 50,000-row
transactions) and, among them, 20 of the person's own, written by the store (encrypted),
plus the person as a user and as a contact. Then the whole access export as a download
serves it: ``store.subject_data.collect`` by email and number (every table, decrypted) and
the ZIP made of it (``privacy.subject_export``). Timed cold (first look-up) and warm (median
of 5). ``python -m bench.access_request`` (BENCH_ACCESS_ROWS, default 1,000,000: planting
5,000,000 takes about 10 minutes per database on a 2-core machine; the look-up is by index,
so it grows with the index's depth, not N); writes bench/results/access_request.json.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from tests.support.postgres import PostgresServer

from bench import machine
from callroster.accounts.actor import Role, operator_cli
from callroster.config import load_settings
from callroster.privacy.subject_export import export_zip
from callroster.store.models import CallRecord
from callroster.store.store import Store, open_store
from callroster.store.subject_data import Person

ROWS = int(os.environ.get("BENCH_ACCESS_ROWS", "1000000"))
NUMBER = "+447700900461"
EMAIL = "rosalind@franklin.example"
ACTOR = operator_cli("access request benchmark")
RESULTS = Path(__file__).with_name("results")


def _plant(store: Store, rows: int) -> dict[str, Any]:
    account = store.accounts.create_account(ACTOR, "Bench LLP", "london")
    host = store.accounts.create_user(
        ACTOR, account, Role.HOST, "Rosalind Franklin", email=EMAIL, phone=NUMBER
    )
    store.contacts.add(ACTOR, account, "Ros Franklin", phone="07700 900461")
    when = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    started = time.perf_counter()
    done = 0
    while done < rows:
        chunk = min(50_000, rows - done)
        values = [
            {
                "id": str(uuid.uuid4()),
                "account_id": account,
                "conference_id": None,
                "leg_id": "bench",
                "direction": "outbound",
                "number_enc": b"\x00" * 60,
                "number_index": uuid.uuid4().bytes * 2,
                "requested_by": host,
                "started_at": when,
                "ended_at": when,
                "outcome": "answered",
                "duration_s": 60,
            }
            for _ in range(chunk)
        ]
        with store.sessions.begin() as session:
            session.execute(insert(CallRecord), values)
        done += chunk
    for i in range(20):
        store.call_records.start(
            account, None, f"leg-{i}", "07700 900461", None, host, when, actor=ACTOR
        )
    return {"rows": done + 20, "plant_s": round(time.perf_counter() - started, 1)}


def _answer(store: Store) -> tuple[float, int]:
    started = time.perf_counter()
    tables = store.privacy_requests.subject_data.collect(Person(email=EMAIL, number=NUMBER))
    data = export_zip(tables, dt.datetime.now(dt.UTC))
    seconds = time.perf_counter() - started
    assert len(tables["call_records"]) == 20 and len(tables["users"]) == 1, tables.keys()
    return seconds, len(data)


def _measure(store: Store, rows: int) -> dict[str, Any]:
    figures = _plant(store, rows)
    cold, size = _answer(store)
    warm = statistics.median(_answer(store)[0] for _ in range(5))
    figures |= {"cold_ms": round(cold * 1000, 1), "warm_ms": round(warm * 1000, 1)}
    figures["zip_bytes"] = size
    return figures


def run(rows: int = ROWS) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-access-") as folder:
        store = open_store(load_settings(data=Path(folder) / "sqlite"))
        try:
            results["sqlite"] = _measure(store, rows)
        finally:
            store.close()
        print(f"sqlite: {results['sqlite']}", flush=True)
        with PostgresServer() as server:
            url = server.create_database("bench_access")
            store = open_store(load_settings(data=Path(folder) / "pg", database_url=url))
            try:
                results["postgresql"] = _measure(store, rows)
            finally:
                store.close()
        print(f"postgresql: {results['postgresql']}", flush=True)
    return results


def run_and_report(results: Path = RESULTS) -> dict[str, Any]:
    figures = run()
    record = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine.describe(),
        "figures": figures,
    }
    results.mkdir(exist_ok=True)
    (results / "access_request.json").write_text(json.dumps(record, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    run_and_report()
