"""The bridge in-process on free loopback ports, with a real store and the demo seeded, so an
interop test can drive real peers at it and also read its state and use the conference's
command interface (as the host's API will)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callroster.accounts.demo import DemoDetails, ensure_demo
from callroster.app import Sockets
from callroster.bridge.click_to_call import ClickToCall
from callroster.bridge.directory import StoreDirectory
from callroster.bridge.service import BridgeService
from callroster.bus import EventBus
from callroster.conference.conference import Conference
from callroster.conference.events import Event
from callroster.config import Settings, load_settings
from callroster.io.roster_feed import RosterFeed
from callroster.privacy.directory import Directory
from callroster.roster.roster import Roster
from callroster.services import Services, build_services
from callroster.store.store import Store, open_store


@dataclass
class BridgeHarness:
    services: Services  # as the service builds them: pass to create_app
    store: Store
    demo: DemoDetails
    sip_port: int
    settings: Settings
    events: list[Event] = field(default_factory=list)
    sip_tls_port: int | None = None  # with a SIP TLS certificate in the settings

    @property
    def bridge(self) -> BridgeService:
        assert self.services.bridge is not None
        return self.services.bridge

    @property
    def click_to_call(self) -> ClickToCall:
        assert self.services.click_to_call is not None
        return self.services.click_to_call

    @property
    def bus(self) -> EventBus:
        return self.services.bus

    @property
    def roster(self) -> Roster:
        return self.services.roster

    @property
    def feed(self) -> RosterFeed:
        return self.services.feed

    def conference(self) -> Conference:
        """The demo conference, in progress (to read)."""
        conference = self.bridge.conference(self.demo.conference_id)
        assert conference is not None, "the demo conference is not in progress"
        return conference


@asynccontextmanager
async def running_bridge(
    data: Path,
    directory: Directory | None = None,
    *,
    bind: str = "127.0.0.1",
    sip_trusted_peers: str = "",
    **more_settings: Any,
) -> AsyncIterator[BridgeHarness]:
    """The bridge on free ports of ``bind`` (SIP, media and the address in its SDP and
    Contact): 127.0.0.1, or e.g. a veth's address a NAT'd network can reach.
    ``sip_trusted_peers``: whose P-Asserted-Identity is believed (the setting); other
    settings by name (``sip_tls_cert_file=...``: SIP over TLS on a free port too)."""
    settings = load_settings(
        data=data,
        sip_port=0,
        http_port=0,
        bind=bind,
        sip_trusted_peers=sip_trusted_peers,
        **({"sip_tls_port": 0} | more_settings),
    )
    store = open_store(settings)
    sockets = Sockets(settings)
    sip_port = int(sockets.sip_udp.getsockname()[1])
    settings = settings.model_copy(update={"sip_port": sip_port})
    tls_port = int(sockets.sip_tls[0].getsockname()[1]) if sockets.sip_tls else None
    demo = ensure_demo(store, settings)
    services = build_services(store, settings, StoreDirectory(store, directory))
    harness = BridgeHarness(services, store, demo, sip_port, settings, sip_tls_port=tls_port)
    harness.bus.subscribe(harness.events.append)
    await harness.bridge.start(sockets.sip, tls_sockets=sockets.sip_tls)
    try:
        yield harness
    finally:
        await harness.bridge.stop()
        assert services.crm_sender is not None
        await services.crm_sender.aclose()
        sockets.close()
        store.close()
