"""The operator's signed export of consent records (issue 16) at its row limit: N records
(default 100,000, ``EXPORT_ROW_LIMIT``) planted in a SQLite store (or the PostgreSQL database
of ``BENCH_CONSENT_DATABASE_URL``), then each format exported by
``ConsentRecords.signed_export`` in a fresh child process, twice: once for the time and the
resident memory's high-water mark above the process's size before the export (RSS, from
``ru_maxrss``), once under ``tracemalloc`` for the Python allocations' peak (slower; its time
is not reported). Each file is also verified (``consent_export.verify``), and its size and
SHA-256 are reported, so two versions of the code can be compared byte for byte on the same
planted store (``BENCH_CONSENT_KEEP=<folder>`` keeps the store there and reuses it).

``python -m bench.consent_export`` (BENCH_CONSENT_ROWS=N to choose N); writes
bench/results/consent_export.json. Not part of ``python -m bench`` (planting takes about a
minute).
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from callroster.accounts.actor import operator_cli
from callroster.config import load_settings
from callroster.privacy import consent_export
from callroster.store import consent_records as records_module
from callroster.store.models import ConsentRecord
from callroster.store.store import Store, open_store

ROWS = int(os.environ.get("BENCH_CONSENT_ROWS", "100000"))
DATABASE_URL = os.environ.get("BENCH_CONSENT_DATABASE_URL", "")
KEEP = os.environ.get("BENCH_CONSENT_KEEP", "")
RESULTS = Path(__file__).with_name("results")
BATCH = 5_000
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)  # the store's clock: the same file each run
AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    '(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1 "quoted" ünïcødé',
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "=cmd|' /C calc'!A0 curl/8.5.0",
)
CATEGORIES = ("", "performance", "functional,performance", "functional,marketing,performance")


def _settings(data: Path) -> Any:
    url = DATABASE_URL or f"sqlite:///{data / 'callroster.db'}"
    return load_settings(data=data, database_url=url)


def _rss_now_kib() -> int:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def plant(store: Store, rows: int) -> float:
    """``rows`` consent records given over the past day, every tenth one replaced."""
    started = time.perf_counter()
    cipher = store.consent_records._cipher()  # noqa: SLF001 - the bench writes rows directly
    source = b"\x01" * 32
    first = NOW - dt.timedelta(days=1)
    step = dt.timedelta(days=1) / max(rows, 1)
    with store.consent_records._sessions.begin() as session:  # noqa: SLF001
        for start in range(0, rows, BATCH):
            batch = []
            for n in range(start, min(rows, start + BATCH)):
                given = first + step * n
                batch.append(
                    {
                        "id": str(uuid.UUID(int=n + 1)),
                        "categories": CATEGORIES[n % len(CATEGORIES)],
                        "policy_version": f"2026-{n % 3 + 1}",
                        "text_sha256": hashlib.sha256(str(n % 3).encode()).hexdigest(),
                        "method": ("banner", "settings", "gpc", "dnt")[n % 4],
                        "given_at": given,
                        "ended_at": given + dt.timedelta(seconds=1) if n % 10 == 0 else None,
                        "replaces": str(uuid.UUID(int=n)) if n % 10 == 1 else None,
                        "ip_enc": cipher.encrypt(records_module.IP_CONTEXT, f"203.0.{n % 256}.0"),
                        "user_agent_enc": cipher.encrypt(
                            records_module.USER_AGENT_CONTEXT, AGENTS[n % len(AGENTS)]
                        ),
                        "source_index": source,
                    }
                )
            session.execute(insert(ConsentRecord.__table__), batch)
    return time.perf_counter() - started


def child(data: Path, fmt: consent_export.Format, traced: bool, out: Path) -> dict[str, Any]:
    """One export in this process; its figures."""
    store = open_store(_settings(data), clock=lambda: NOW)
    actor = operator_cli("consent export bench")
    store.consent_records.public_key()  # the key ring and signing key read before measuring
    gc.collect()
    before_kib = _rss_now_kib()
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    signed = store.consent_records.signed_export(actor, fmt)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if traced else 0
    tracemalloc.stop()
    high_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    data_bytes = bytes(signed.data)
    out.write_bytes(data_bytes)
    verify_started = time.perf_counter()
    verified = consent_export.verify(data_bytes, store.consent_records.public_key())
    store.close()
    return {
        "records": signed.records,
        "verified_records": verified.records,
        "seconds": round(seconds, 2),
        "verify_seconds": round(time.perf_counter() - verify_started, 2),
        "bytes": len(data_bytes),
        "sha256": hashlib.sha256(data_bytes).hexdigest(),
        "rss_before_mb": round(before_kib / 1024, 1),
        "rss_peak_above_mb": round((high_kib - before_kib) / 1024, 1),
        "tracemalloc_peak_mb": round(peak / 1e6, 1),
    }


def _run_child(data: Path, fmt: str, traced: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-consent-out-") as folder:
        out = Path(folder) / f"export.{fmt}"
        command = [sys.executable, "-m", "bench.consent_export", "child", str(data), fmt]
        command += ["traced" if traced else "plain", str(out)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def measure(data: Path, rows: int) -> dict[str, Any]:
    figures: dict[str, Any] = {"rows": rows, "database": "postgresql" if DATABASE_URL else "sqlite"}
    if not (data / "planted").exists():
        store = open_store(_settings(data), clock=lambda: NOW)
        figures["plant_seconds"] = round(plant(store, rows), 1)
        store.close()
        (data / "planted").write_text(str(rows))
    for fmt in ("json", "csv"):
        plain = _run_child(data, fmt, traced=False)
        traced = _run_child(data, fmt, traced=True)
        plain["tracemalloc_peak_mb"] = traced["tracemalloc_peak_mb"]
        figures[fmt] = plain
        print(fmt, json.dumps(plain), flush=True)
    return figures


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        _, _, data, fmt, mode, out = sys.argv
        answer = child(Path(data), fmt, mode == "traced", Path(out))  # type: ignore[arg-type]
        print(json.dumps(answer), flush=True)
        return
    if KEEP:
        Path(KEEP).mkdir(parents=True, exist_ok=True)
        figures = measure(Path(KEEP), ROWS)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-consent-") as folder:
            figures = measure(Path(folder), ROWS)
    RESULTS.mkdir(exist_ok=True)
    record = {"when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "figures": figures}
    (RESULTS / "consent_export.json").write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
