"""Run every benchmark and write bench/results/<name>.json with the machine's description."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from bench import machine, store

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


if __name__ == "__main__":
    main()
