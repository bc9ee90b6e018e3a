"""Liveness and readiness (api/health.py): ``/readyz`` is 200 once the store answers and SIP
is bound, else 503 with the reasons (as soon as a graceful stop begins, too); ``/healthz``
answers whenever the process does."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx
from sqlalchemy import create_engine
from tests.support.bridge import running_bridge

from callroster.app import create_app


async def get(app: object, path: str) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
        base_url="http://callroster.test",
    ) as client:
        return await client.get(path)


async def test_ready_once_the_store_answers_and_sip_is_bound(tmp_path: Path) -> None:
    async with running_bridge(tmp_path / "data") as harness:
        app = create_app(harness.store, harness.settings, harness.services)
        ready = await get(app, "/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
        assert (await get(app, "/healthz")).json() == {"status": "ok"}


async def test_not_ready_without_the_bridge_or_the_store_and_says_why(tmp_path: Path) -> None:
    async with running_bridge(tmp_path / "data") as harness:
        no_bridge = await get(create_app(harness.store, harness.settings), "/readyz")
        assert no_bridge.status_code == 503
        assert no_bridge.json() == {
            "status": "not ready",
            "reasons": ["the bridge takes no calls (SIP not bound, or stopping)"],
        }

        # The database's disk is gone: the store cannot answer.
        gone = create_engine(f"sqlite:///{tmp_path / 'no-such-folder' / 'callroster.db'}")
        store = dataclasses.replace(harness.store, read_engine=gone)
        try:
            broken = await get(create_app(store, harness.settings, harness.services), "/readyz")
        finally:
            gone.dispose()
        assert broken.status_code == 503
        assert broken.json()["reasons"] == ["the store does not answer"]
        # Alive all the same.
        assert (await get(create_app(store, harness.settings), "/healthz")).status_code == 200


async def test_not_ready_once_a_graceful_stop_begins(tmp_path: Path) -> None:
    async with running_bridge(tmp_path / "data") as harness:
        app = create_app(harness.store, harness.settings, harness.services)
        assert (await get(app, "/readyz")).status_code == 200
        await harness.bridge.stop(grace=0.05)  # SIGTERM's stop, with nobody on a call
        stopping = await get(app, "/readyz")
        assert stopping.status_code == 503
        assert stopping.json()["reasons"] == [
            "the bridge takes no calls (SIP not bound, or stopping)"
        ]
