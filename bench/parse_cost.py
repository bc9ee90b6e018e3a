"""What the costliest SIP message and SDP body the limits allow cost to parse and answer
(issue 12's target: any of either up to 64 KB in under 5 ms).

The unit tests bound the same inputs' work in Python lines run, which load cannot move
(tests/support/cost.py); this is where their time is measured. Each input is run ROUNDS
times and the fastest and the median are kept: an interrupted run is slower, never faster,
so the fastest is what the code costs and the median what a loaded machine sees.

``python -m bench.parse_cost`` prints the figures and writes bench/results/parse_cost.json.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from bench import machine
from callroster.sdp.offer_answer import answer_offer
from callroster.sdp.session import MAX_FORMATS, MAX_LINES, MAX_MEDIA, SdpError, parse_sdp
from callroster.sip.message import MAX_DELIMITERS, MAX_HEADERS, SipError, parse_message

ROUNDS = int(os.environ.get("BENCH_PARSE_ROUNDS", "50"))
TARGET_MS = 5.0
LARGEST = 64 * 1024
SDP_HEAD = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0"]
SIP_HEAD = [
    "OPTIONS sip:127.0.0.1:5060 SIP/2.0",
    "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-bench",
    "From: <sip:bench@127.0.0.1>;tag=1",
    "To: <sip:127.0.0.1>",
    "Call-ID: bench",
    "CSeq: 1 OPTIONS",
]
LOCAL = {"local_address": "127.0.0.1", "local_port": 40000, "session_id": 1, "session_version": 1}


def sdp_bodies() -> dict[str, bytes]:
    formats = " ".join(str(1 + i % 127) for i in range(MAX_FORMATS))
    per_section = (MAX_LINES - len(SDP_HEAD)) // MAX_MEDIA - 1
    rtpmaps = [f"a=rtpmap:{1 + i % 127} X/8000" for i in range(per_section)]
    costliest = [*SDP_HEAD, *[f"m=audio 40000 RTP/AVP {formats}", *rtpmaps] * MAX_MEDIA]
    events = ",".join(["0-255"] * 10_000)
    return {
        "sdp: costliest within the limits": ("\r\n".join(costliest) + "\r\n").encode(),
        "sdp: 64 KB telephone-event list": (
            "\r\n".join([*SDP_HEAD, "m=audio 40000 RTP/AVP 0 101", f"a=fmtp:101 {events}"])
        ).encode()[:LARGEST],
        "sdp: 64 KB of lines (refused)": ("a=x\r\n" * 20_000).encode()[:LARGEST],
    }


def sip_messages() -> dict[str, bytes]:
    def message(lines: list[str]) -> bytes:
        return ("\r\n".join([*SIP_HEAD, *lines]) + "\r\n\r\n").encode()[:LARGEST]

    lines = MAX_HEADERS - len(SIP_HEAD) - 1
    return {
        "sip: costliest within the limits": message(["l: 0"] * lines),
        "sip: every header a Via": message(
            [f"Via: SIP/2.0/UDP h{i}:5060;branch=z9hG4bK{i}" for i in range(lines)]
        ),
        "sip: delimiters to the limit": message(["Route: " + "<a>," * (MAX_DELIMITERS - 10)]),
        "sip: 64 KB of headers (refused)": message(["l: 0"] * 15_000),
    }


def timed(action: Callable[[], object]) -> tuple[float, float]:
    """The fastest and the median of ROUNDS calls, in milliseconds."""
    took = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        action()
        took.append((time.perf_counter() - start) * 1000)
    return min(took), statistics.median(took)


def run() -> dict[str, dict[str, float]]:
    figures: dict[str, dict[str, float]] = {}
    for name, data in sdp_bodies().items():

        def answer(data: bytes = data) -> None:
            try:
                answer_offer(parse_sdp(data), **LOCAL)  # type: ignore[arg-type]
            except SdpError:
                pass

        fastest, median = timed(answer)
        figures[name] = {"bytes": len(data), "fastest_ms": fastest, "median_ms": median}
    for name, data in sip_messages().items():

        def parse(data: bytes = data) -> None:
            try:
                parse_message(data, max_size=LARGEST)
            except SipError:
                pass

        fastest, median = timed(parse)
        figures[name] = {"bytes": len(data), "fastest_ms": fastest, "median_ms": median}
    return figures


def run_and_report(results: Path) -> dict[str, dict[str, float]]:
    figures = run()
    record = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine.describe(),
        "rounds": ROUNDS,
        "target_ms": TARGET_MS,
        "figures": figures,
    }
    results.mkdir(exist_ok=True)
    (results / "parse_cost.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"parse cost (fastest and median of {ROUNDS}; target {TARGET_MS} ms):")
    for name, row in figures.items():
        verdict = "ok" if row["fastest_ms"] < TARGET_MS else "OVER TARGET"
        print(
            f"  {name:36} {row['bytes']:>6,} B  {row['fastest_ms']:6.2f} ms  "
            f"{row['median_ms']:6.2f} ms  {verdict}"
        )
    return figures


if __name__ == "__main__":
    run_and_report(Path(__file__).with_name("results"))
