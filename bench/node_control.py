"""The parent's handle on ``bench.bridge_node``: a benchmark child whose hello says where the
bridge listens and how much memory it used before any call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.child_process import Child


class NodeProcess(Child):
    def __init__(self, data: Path, log_path: Path, module: str = "bench.bridge_node") -> None:
        super().__init__(module, [str(data)], log_path)
        self.sip_port = 0
        self.rss_start_kib = 0

    async def start(self, timeout: float = 60.0) -> dict[str, Any]:
        hello = await super().start(timeout)
        self.sip_port = int(hello["sip_port"])
        self.rss_start_kib = int(hello["rss_kib"])
        return hello

    async def ask(self, cmd: str, timeout: float = 120.0, **args: Any) -> dict[str, Any]:
        return await super().ask(cmd, timeout, **args)
