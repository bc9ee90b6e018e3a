"""Run every benchmark and write bench/results/<name>.json with the machine's description
(and bench/results/bridge.md for the bridge under load)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from bench import (
    access_request,
    bridge_load,
    call_flood,
    machine,
    metrics_scrape,
    parse_cost,
    pin_guessing,
    retention_purge,
    roster_fanout,
    speaking,
    srtp_legs,
    store,
    web_legs,
)
from bench.report import table

RESULTS = Path(__file__).with_name("results")


def main() -> None:
    RESULTS.mkdir(exist_ok=True)
    for name, module in (("store", store),):
        figures = module.run()
        record = {
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": machine.describe(),
            "figures": figures,
        }
        (RESULTS / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
        print(f"{name}:")
        for key, value in figures.items():
            print(f"  {key:32} {value:>12,.1f}")
    # The costliest SIP message and SDP body the limits allow: parse and answer time against
    # the 5 ms target (a few seconds); writes parse_cost.json.
    parse_cost.run_and_report(RESULTS)
    # The bridge under load: its own process and a ladder of synthetic phones (a few minutes);
    # writes bridge.json and bridge.md itself.
    print("bridge:")
    figures = bridge_load.run_and_report(RESULTS)
    print(table(figures["ladder"]))
    stopped = figures["stopped"]
    print(f"  stopped: {stopped['reason']}" + (f" (N = {stopped['at']})" if stopped["at"] else ""))
    for result in figures["sipp"]:
        print(
            f"  sipp {result['rate']:>4}/s: {result.get('successful', '-')} ok, "
            f"{result.get('failed', result.get('error', '-'))} failed, "
            f"{result.get('achieved_calls_per_s', '-')} calls/s achieved, "
            f"INVITE->200 {result.get('invite_to_200_ms', '-')} ms"
        )
    # Live Call Status fan-out: 1,000 WebSocket watchers of one conference (about 2.5 minutes);
    # writes roster.json and roster.md and prints its table.
    roster_fanout.run_and_report(RESULTS)
    # The speaking indicator: how soon the Live Call Status page in chromium shows a caller
    # talking (about 2 minutes); writes speaking.json and speaking.md and prints its figures.
    speaking.run_and_report(RESULTS)
    # Browsers on the call: service CPU and audio received with 0, 5, 10 and 20 WebRTC legs
    # (about 1.5 minutes); writes web.json and web.md.
    web_legs.run_and_report(RESULTS)
    # PIN guessing by phone: answers a guesser learns in a minute from 1 and from 50 addresses,
    # and how long a caller with the right PIN waits meanwhile (about 2.5 minutes); writes
    # pin_guessing.json and pin_guessing.md.
    pin_guessing.run_and_report(RESULTS)
    # A flood of calls: a caller with the right PIN joins while sipp sends 100 calls a second
    # (about 1 minute); writes call_flood.json and call_flood.md.
    call_flood.run_and_report(RESULTS)
    # What a Prometheus scrape costs the media tick: 100 and 200 legs, a window without and
    # one with a scrape every second (about 1.5 minutes); writes metrics.json.
    print("metrics scrape:")
    metrics_scrape.main()
    # SRTP against plain RTP: CPU per leg in the bridge process, both suites, same run (about
    # 4 minutes); writes srtp.json and srtp.md.
    srtp_legs.run_and_report(RESULTS)
    # The retention purge of 1,000,000 expired call records (BENCH_PURGE_ROWS) while a 50-leg
    # conference runs in the same process: purge time, tick lateness with and without (about
    # 5 minutes); writes retention_purge.json.
    print("retention purge:")
    retention_purge.main()

    # An access request for one number among 1,000,000 call records (BENCH_ACCESS_ROWS), on
    # SQLite and PostgreSQL: the export's time, cold and warm (about 4 minutes); writes
    # access_request.json.
    print("access request:", access_request.run_and_report(RESULTS))


if __name__ == "__main__":
    main()
