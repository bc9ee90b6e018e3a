"""What the web app and the bridge share at run time, built in one place: the event bus,
Live Call Status on it (the roster and its WebSocket feed), the bridge, click-to-call, and
where click-to-call's logs go. ``app.create_app`` puts them in ``app.state``; its lifespan
starts and stops them. Tests build the same with their own directory or without a bridge,
so no test assembles ``app.state`` by hand."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from callroster.api.calls import CallReporter, crm_reporter
from callroster.bridge.call_limits import CallLimits
from callroster.bridge.caller_id import TrustedPeers
from callroster.bridge.click_to_call import ClickToCall
from callroster.bridge.directory import ConferenceDirectory, StoreRestartLedger
from callroster.bridge.service import BridgeService
from callroster.bridge.web_pending import WebJoinLimits
from callroster.bus import EventBus
from callroster.call_log import CallLog
from callroster.clock import utc_now
from callroster.conference.events import Event
from callroster.config import Settings
from callroster.crm.destination import DestinationPolicy
from callroster.crm.webhook import WebhookSender
from callroster.errors import ConfigError
from callroster.invitations.sender import InvitationSender, MailServer
from callroster.io.clock import LoopClock
from callroster.io.roster_feed import RosterFeed
from callroster.io.sip_tls import SipTls
from callroster.roster.roster import Roster
from callroster.store.store import Store


@dataclass
class Services:
    bus: EventBus
    roster: Roster
    feed: RosterFeed
    bridge: BridgeService | None = None
    click_to_call: ClickToCall | None = None
    call_reporter: CallReporter | None = None
    crm_sender: WebhookSender | None = None  # closed when the service stops
    invitations: InvitationSender | None = None  # emails what the outbox holds
    call_log: CallLog | None = None  # a line per call start and end (callroster/call_log.py)


def wire_roster(
    bus: EventBus, clock: Callable[[], dt.datetime] = utc_now
) -> tuple[Roster, RosterFeed]:
    """A roster fed by the bus and the feed that sends each change to the conference's
    watchers. Each change is stamped with the time it happened by ``clock``: the service
    passes the store's (``store.clock``), so the roster and the records agree and a fake clock
    governs both."""
    roster = Roster()
    feed = RosterFeed()

    def apply(event: Event) -> None:
        change = roster.apply(event, clock())
        if change is not None:
            feed.publish(*change)

    bus.subscribe(apply)
    return roster, feed


def live_call_status(store: Store) -> Services:
    """The bus and Live Call Status only, with no bridge (pages and benchmarks of the roster
    alone)."""
    bus = EventBus()
    roster, feed = wire_roster(bus, store.clock)
    return Services(bus, roster, feed)


def crm_sender_for(settings: Settings) -> WebhookSender:
    """The CRM webhooks' sender: to the addresses ``crm_allow_private_targets`` allows, over
    TLS checked against the system's authorities and ``crm_ca_file``'s.

    Raises:
        ConfigError: ``crm_ca_file`` cannot be read or holds no certificate.
    """
    try:
        return WebhookSender(
            destinations=DestinationPolicy(allow_private=settings.crm_allow_private_targets),
            ca_file=settings.crm_ca_file,
        )
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
        raise ConfigError(
            f"bad setting crm_ca_file: {settings.crm_ca_file} holds no readable PEM "
            f"certificates ({reason})"
        ) from None


def build_services(store: Store, settings: Settings, directory: ConferenceDirectory) -> Services:
    """Everything, on the running event loop: the bridge (not yet started) asking
    ``directory``, click-to-call, and call logs to each account's CRM webhook (to the
    addresses the operator's ``crm_allow_private_targets`` allows)."""
    services = live_call_status(store)
    bridge = BridgeService(
        directory,
        services.bus,
        media_addresses=settings.bind_addresses,
        advertised_address=settings.host_for_links,
        clock=LoopClock(asyncio.get_running_loop(), store.clock),
        call_limits=CallLimits(
            per_source=settings.sip_calls_per_source, trusted=settings.sip_trusted_networks
        ),
        trusted_peers=TrustedPeers(settings.sip_trusted_networks),
        web_limits=WebJoinLimits(
            per_conference=settings.web_join_pending_per_conference,
            per_address=settings.web_join_pending_per_address,
            connect_within=settings.web_join_connect_seconds,
        ),
        ledger=StoreRestartLedger(store, settings.resolved_node_name),
        sip_tls=SipTls.from_settings(settings),
    )
    crm_sender = crm_sender_for(settings)
    services.bridge = bridge
    services.click_to_call = ClickToCall(bridge, services.bus, store.clock)
    services.crm_sender = crm_sender
    mail_server = MailServer.of(settings)
    if mail_server is not None:
        mail_server.check()  # a bad smtp_ca_file stops serve here, in one line
    services.invitations = InvitationSender(store, settings, mail_server)
    services.call_log = CallLog(asyncio.get_running_loop().time)
    services.bus.subscribe(services.call_log)
    services.call_reporter = crm_reporter(store, crm_sender)
    return services
