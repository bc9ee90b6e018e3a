"""Who may scrape ``/metrics`` (api/metrics.py), and that what it shows names nobody: loopback
and the ``metrics_allowed_networks`` need no token, anyone else an operator token, and a
request through a proxy the service does not trust is not loopback. The exposition, after
requests for a room link and a conference, holds route templates and counts only (a scan for
the link, the PIN, the number, the names and the client's address, with a positive
control)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from tests.support.bridge import BridgeHarness, running_bridge
from tests.support.scan import holds

from callroster.accounts.actor import operator_cli
from callroster.app import create_app

STRANGER = "203.0.113.9"  # a documentation address: the internet
MONITORING = "198.51.100.7"


@asynccontextmanager
async def client(
    harness: BridgeHarness, source: str, **settings: str
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(harness.store, harness.settings.model_copy(update=settings), harness.services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(source, 40000)),
        base_url="http://callroster.test",
    ) as web:
        yield web


async def test_who_may_scrape(tmp_path: Path) -> None:
    async with running_bridge(tmp_path / "data") as harness:
        operator = harness.store.operator_tokens.issue(operator_cli("test"), "monitoring")[1]
        as_operator = {"Authorization": f"Bearer {operator}"}
        as_host = {"Authorization": f"Bearer {harness.demo.host_token}"}
        async with client(harness, "127.0.0.1") as web:
            assert (await web.get("/metrics")).status_code == 200
            proxied = await web.get("/metrics", headers={"X-Forwarded-For": STRANGER})
            assert proxied.status_code == 401  # a proxy on this machine, for someone unknown
        async with client(harness, "::1") as web:
            assert (await web.get("/metrics")).status_code == 200
        async with client(harness, STRANGER, metrics_allowed_networks=MONITORING) as web:
            assert (await web.get("/metrics")).status_code == 401
            assert (await web.get("/metrics", headers=as_host)).status_code == 403
            scraped = await web.get("/metrics", headers=as_operator)
            assert scraped.status_code == 200
            assert scraped.headers["content-type"].startswith("text/plain")
            assert (await web.get("/api/v1/operator/metrics")).status_code == 401
            assert (
                await web.get("/api/v1/operator/metrics", headers=as_operator)
            ).status_code == 200
        async with client(harness, MONITORING, metrics_allowed_networks="198.51.100.0/24") as web:
            assert (await web.get("/metrics")).status_code == 200
        async with client(
            harness, STRANGER, trusted_proxies="127.0.0.1", metrics_allowed_networks=MONITORING
        ) as web:
            # Behind a trusted proxy the address is the client's (uvicorn put it there):
            # still a stranger.
            assert (await web.get("/metrics")).status_code == 401


async def test_the_exposition_names_no_link_pin_number_name_or_address(tmp_path: Path) -> None:
    async with running_bridge(tmp_path / "data") as harness:
        demo = harness.demo
        conference = harness.store.conferences.get_conference(
            operator_cli("test"), demo.conference_id
        )
        link = conference.web_link
        async with client(harness, STRANGER, metrics_allowed_networks=STRANGER) as web:
            await web.get(f"/c/{link}")
            await web.get(f"/c/{link}x")  # a wrong link too
            await web.get(
                f"/api/v1/conferences/{demo.conference_id}",
                headers={"Authorization": f"Bearer {demo.host_token}"},
            )
            await web.get(f"/no/such/{link}")
            text = (await web.get("/metrics")).text
        assert 'route="/c/{link}"' in text
        assert 'route="/api/v1/conferences/{conference_id}"' in text
        assert 'route="unmatched"' in text
        assert "callroster_rtp_packets_dropped_total" in text
        assert 'callroster_media_tick_lateness_seconds_bucket{le="+Inf"}' in text
        secrets = [
            link,
            demo.pin,
            demo.host_pin,
            demo.dial_in_number,
            demo.host_email,
            demo.conference_title,
            demo.conference_id,
            STRANGER,
        ]
        assert [secret for secret in secrets if holds(text, secret)] == []
        # The scan's positive control: the same secrets planted in the text are found.
        planted = text + "\n".join(secrets)
        assert [secret for secret in secrets if holds(planted, secret)] == secrets


async def test_roster_watchers_are_counted(tmp_path: Path) -> None:
    async with running_bridge(tmp_path / "data") as harness:
        watchers = [harness.feed.watch(harness.demo.conference_id) for _ in range(3)]
        harness.feed.unwatch(harness.demo.conference_id, watchers[0])
        async with client(harness, "127.0.0.1") as web:
            text = (await web.get("/metrics")).text
        assert "\ncallroster_roster_watchers 2.0\n" in text
