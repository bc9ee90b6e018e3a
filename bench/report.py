"""The bridge benchmark's figures as a compact console table and as ``bridge.md``."""

from __future__ import annotations

from typing import Any

COLUMNS = (
    ("legs", "N", "{}"),
    ("held", "held", "{}"),
    ("late_p50_ms", "p50 ms", "{:.2f}"),
    ("late_p99_ms", "p99 ms", "{:.2f}"),
    ("late_max_ms", "max ms", "{:.1f}"),
    ("bridge_cpu_pct", "CPU %", "{:.1f}"),
    ("cpu_per_leg_pct", "CPU/leg %", "{:.3f}"),
    ("mem_per_leg_kib", "KiB/leg", "{:.1f}"),
    ("bridge_pps_in", "pps in", "{:,}"),
    ("bridge_pps_out", "pps out", "{:,}"),
    ("loss_pct", "loss %", "{:.2f}"),
    ("gen_cpu_pct", "gen CPU %", "{:.1f}"),
    ("gen_late_p99_ms", "gen p99 ms", "{:.2f}"),
)


PROFILE_NOTE = "5 s after the window, tottime; profiling slows the loop, compare shares only"


def table(rows: list[dict[str, Any]], header: bool = True) -> str:
    lines = []
    if header:
        lines.append(" ".join(f"{title:>10}" for _, title, _ in COLUMNS))
    for row in rows:
        lines.append(" ".join(f"{fmt.format(row[key]):>10}" for key, _, fmt in COLUMNS))
    return "\n".join(lines)


def _md_table(headings: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(headings) + " |", "|" + "---|" * len(headings)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def _load(figures: dict[str, Any], when: str) -> str:
    return " ".join(f"{x:.2f}" for x in figures.get(f"load_average_{when}", []))


def _marginal(ladder: list[dict[str, Any]], i: int) -> str:
    if i == 0:
        return "-"
    a, b = ladder[i - 1], ladder[i]
    return f"{(b['rss_load_kib'] - a['rss_load_kib']) / (b['legs'] - a['legs']):.1f}"


def markdown(record: dict[str, Any]) -> str:
    figures = record["figures"]
    m = record["machine"]
    settings = figures["settings"]
    lines = [
        "# Bridge load",
        "",
        f"Run {record['when']} on {m['cpu']}, {m['cores']} cores, Python {m['python']}, "
        f"{m['system']}. Bridge and load generator share these cores (both uvloop, separate "
        "processes); the generator's own CPU and tick lateness are shown so the figures can "
        "be judged.",
        "",
        f"Each rung: N synthetic G.711 legs set up at {settings['setup_calls_per_s']:.0f} "
        f"calls/s ({settings['big_room']} in one conference from N = {settings['big_room']}, "
        f"the rest in conferences of {settings['small_room']}; {settings['talkers']} talks), "
        f"then a {settings['window_s']:.0f} s window. Stop when {settings['stop_when']}. "
        f"Load average before/after: {_load(figures, 'before')} / {_load(figures, 'after')} "
        "(the machine may be shared; other work there shows in the lateness).",
        "",
    ]
    lines += _md_table(
        [title for _, title, _ in COLUMNS],
        [[fmt.format(row[key]) for key, _, fmt in COLUMNS] for row in figures["ladder"]],
    )
    stopped = figures["stopped"]
    lines += [
        "",
        f"Stopped: {'at N = ' + str(stopped['at']) + ': ' if stopped['at'] else ''}"
        f"{stopped['reason']}.",
        "",
        "p50/p99/max: lateness of the bridge's 20 ms media tick. CPU %: bridge process "
        "user+sys over the window (100 % = one core). KiB/leg: (RSS under load - RSS with the "
        "conferences created but no call yet) / N; the detail table also gives the marginal "
        "cost between rungs. Lateness is measured with perf_counter mapped onto the loop's "
        "clock (libuv's counts whole ms; a tick can fire up to 1 ms early, hence small "
        "negative values). "
        "pps: RTP packets/s counted by the bridge. loss: 1 - packets the legs got back "
        "/ (legs held x 50/s x window). gen: the load generator itself.",
        "",
        "Detail per rung (setup time, jitter-buffer lost/late, media ticks skipped by the "
        "catch-up after a stall, RSS):",
        "",
    ]
    lines += _md_table(
        [
            "N",
            "setup s",
            "failures",
            "jitter lost",
            "jitter late",
            "ticks skipped",
            "RSS idle KiB",
            "RSS load KiB",
            "marginal KiB/leg",
            "BYE ok",
        ],
        [
            [
                str(r["legs"]),
                str(r["setup_s"]),
                ", ".join(r["setup_failures"]) or "-",
                str(r["jitter_lost"]),
                str(r["jitter_late"]),
                str(r.get("ticks_skipped", "-")),
                f"{r['rss_idle_kib']:,}",
                f"{r['rss_load_kib']:,}",
                _marginal(figures["ladder"], i),
                str(r.get("bye_ok", "")),
            ]
            for i, r in enumerate(figures["ladder"])
        ],
    )
    lines += ["", "## SIP call rate (sipp: INVITE to a PIN, ACK, 1 s, BYE)", ""]
    lines += _md_table(
        ["target /s", "calls", "successful", "failed", "achieved /s", "INVITE->200 ms", "retrans"],
        [
            [
                str(s["rate"]),
                str(s.get("count", "")),
                str(s.get("successful", "")),
                str(s.get("failed", s.get("error", ""))),
                str(s.get("achieved_calls_per_s", "")),
                str(s.get("invite_to_200_ms", "")),
                str(s.get("retransmissions", "")),
            ]
            for s in figures["sipp"]
        ],
    )
    for n, profile in figures["profiles"].items():
        top = profile["top"]
        entry = ", ".join(f"{k} {v} %" for k, v in profile["entry_points"].items())
        lines += [
            "",
            f"## Where the bridge's time goes at N = {n} (cProfile, {PROFILE_NOTE})",
            "",
            f"Cumulative by entry point: {entry}.",
            "",
        ]
        lines += _md_table(
            ["function", "calls", "tottime s", "share %"],
            [
                [f"`{t['function']}`", str(t["calls"]), str(t["tottime_s"]), str(t["share_pct"])]
                for t in top[:15]
            ],
        )
    return "\n".join(lines) + "\n"
