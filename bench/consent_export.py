"""The operator's signed export of consent records (issue 16) at its row limit: N records
(default 100,000, ``EXPORT_ROW_LIMIT``) planted in a SQLite store (or the PostgreSQL database
of ``BENCH_CONSENT_DATABASE_URL``), then each format exported by
``ConsentRecords.signed_export`` in a fresh child process, twice: once for the time and the
resident memory's high-water mark above the process's size before the export (RSS, from
``ru_maxrss``), once under ``tracemalloc`` for the Python allocations' peak (slower; its time
is not reported); then once more over HTTP, served by uvicorn as the app serves it
(``export_response``) to a client reading about 60 MB/s, for the serving process's
high-water mark (BENCH_CONSENT_WHOLE_BODY=1: sent as one body instead of in slices). Each
file is also verified (``consent_export.verify``), and its size and SHA-256 are reported, so
two versions of the code can be compared byte for byte on the same planted store
(``BENCH_CONSENT_KEEP=<folder>`` keeps the store there and reuses it; the store's clock is
fixed, so the files are the same each run).

``python -m bench.consent_export`` (BENCH_CONSENT_ROWS=N to choose N); writes
bench/results/consent_export.json. Not part of ``python -m bench`` (about two minutes:
planting, then six exports).
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

from bench import machine
from callroster.accounts.actor import operator_cli
from callroster.config import load_settings
from callroster.privacy import consent_export
from callroster.store import consent_records as records_module
from callroster.store.models import ConsentRecord
from callroster.store.store import Store, open_store

ROWS = int(os.environ.get("BENCH_CONSENT_ROWS", "100000"))
DATABASE_URL = os.environ.get("BENCH_CONSENT_DATABASE_URL", "")
KEEP = os.environ.get("BENCH_CONSENT_KEEP", "")
WHOLE_BODY = os.environ.get("BENCH_CONSENT_WHOLE_BODY", "") == "1"
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
            session.execute(insert(ConsentRecord), batch)
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


def http_child(data: Path, fmt: consent_export.Format) -> None:
    """Serves one export over HTTP as the app does (``api.operator_consent.export_response``,
    uvicorn with h11 as this install runs it), then its figures at ``/figures``."""
    import asyncio
    import socket

    import uvicorn
    from fastapi import FastAPI
    from fastapi.responses import Response

    from callroster.api.operator_consent import export_response

    store = open_store(_settings(data), clock=lambda: NOW)
    actor = operator_cli("consent export bench")
    store.consent_records.public_key()
    figures: dict[str, Any] = {}
    app = FastAPI()

    @app.get("/export")
    def export() -> Response:
        gc.collect()
        figures["rss_before_mb"] = round(_rss_now_kib() / 1024, 1)
        signed = store.consent_records.signed_export(actor, fmt)
        if WHOLE_BODY:  # one body, not slices (what the slices are measured against)
            return Response(memoryview(signed.data), media_type="application/octet-stream")
        return export_response(signed, fmt, "bench")

    @app.get("/figures")
    def report() -> dict[str, Any]:
        high = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return figures | {"rss_peak_above_mb": round(high - figures["rss_before_mb"], 1)}

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    print(json.dumps({"port": listener.getsockname()[1]}), flush=True)
    config = uvicorn.Config(app, http="h11", log_level="warning", lifespan="off")
    asyncio.run(uvicorn.Server(config).serve(sockets=[listener]))


def _download(fmt: str, data: Path) -> dict[str, Any]:
    """One export downloaded from ``http_child`` by a client reading 64 KiB a millisecond
    (about 60 MB/s: a fast operator's link, slower than the server can write)."""
    import http.client

    command = [sys.executable, "-m", "bench.consent_export", "http", str(data), fmt]
    child_process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert child_process.stdout is not None
        port = json.loads(child_process.stdout.readline())["port"]
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        started = time.perf_counter()
        connection.request("GET", "/export")
        answer = connection.getresponse()
        digest, size = hashlib.sha256(), 0
        while chunk := answer.read(65536):
            digest.update(chunk)
            size += len(chunk)
            time.sleep(0.001)
        seconds = time.perf_counter() - started
        connection.request("GET", "/figures")
        figures: dict[str, Any] = json.loads(connection.getresponse().read())
        connection.close()
    finally:
        child_process.terminate()
        child_process.wait(timeout=30)
    return figures | {
        "seconds": round(seconds, 2),
        "bytes": size,
        "sha256": digest.hexdigest(),
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
        figures[f"{fmt}_http"] = _download(fmt, data)
        print(f"{fmt} over HTTP", json.dumps(figures[f"{fmt}_http"]), flush=True)
    return figures


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "http":
        http_child(Path(sys.argv[2]), sys.argv[3])  # type: ignore[arg-type]
        return
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
    record = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine.describe(),
        "figures": figures,
    }
    (RESULTS / "consent_export.json").write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
