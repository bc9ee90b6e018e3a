"""Composition root: builds the web app and runs it beside the SIP listener."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from callroster import __version__
from callroster.api.account import router as account_router
from callroster.api.body_limit import DEFAULT_LIMIT, BodyLimit, RouteLimit
from callroster.api.calls import router as calls_router
from callroster.api.contacts import MAX_UPLOAD as MAX_CONTACT_LIST
from callroster.api.contacts import router as contacts_router
from callroster.api.crm import router as crm_router
from callroster.api.dial_out import router as dial_out_router
from callroster.api.errors import install as install_error_answers
from callroster.api.friend_invitations import router as friend_invitations_router
from callroster.api.health import router as health_router
from callroster.api.invitations import router as invitations_router
from callroster.api.live import random_ticket
from callroster.api.live import router as live_router
from callroster.api.metrics import router as metrics_router
from callroster.api.operator import router as operator_router
from callroster.api.operator_accounts import router as operator_accounts_router
from callroster.api.operator_consent import public_router as consent_key_router
from callroster.api.operator_consent import router as operator_consent_router
from callroster.api.operator_legal_holds import router as operator_legal_holds_router
from callroster.api.operator_requests import router as operator_requests_router
from callroster.api.request_timing import RequestTiming
from callroster.api.routes import router as api_router
from callroster.api.users import router as users_router
from callroster.api.web_join import MAX_OFFER
from callroster.api.web_join import router as web_join_router
from callroster.bridge.directory import StoreDirectory
from callroster.bridge.restart import GRACEFUL_STOP_SECONDS
from callroster.config import Settings
from callroster.errors import ConfigError, PortInUseError
from callroster.io.certificates import ServerCertificate
from callroster.io.key_watch import drop_calls_of_erased_accounts, watch_destroyed_keys
from callroster.io.profile_watch import watch_profiles
from callroster.io.purge_schedule import keep_purging
from callroster.io.sockets import bind_socket
from callroster.metrics import Metrics
from callroster.privacy.directory import CountryGate, FileDirectory
from callroster.roster.watch_tickets import WatchTickets
from callroster.services import Services, build_services
from callroster.store import audit_anchor
from callroster.store.audit_anchor import AnchorFile
from callroster.store.store import Store
from callroster.web import home
from callroster.web.consent import router as consent_router
from callroster.web.consent_middleware import ConsentMiddleware
from callroster.web.cookies import router as cookies_page_router
from callroster.web.friend_invitation import router as friend_invitation_page_router
from callroster.web.https_redirect import RedirectToHttps
from callroster.web.invitations import router as invitation_pages_router
from callroster.web.operator import router as operator_pages_router
from callroster.web.operator_consent import router as operator_consent_pages_router
from callroster.web.operator_requests import router as operator_requests_pages_router
from callroster.web.page_timing import router as page_timing_router
from callroster.web.pages import router as pages_router
from callroster.web.portal import router as portal_router
from callroster.web.privacy import router as privacy_page_router
from callroster.web.privacy_request import router as privacy_request_router
from callroster.web.profile import router as profile_router
from callroster.web.security_headers import SecurityHeaders
from callroster.web.setup import router as setup_router
from callroster.web.signin import router as signin_router
from callroster.web.unsubscribe import router as unsubscribe_router

log = logging.getLogger(__name__)
STATIC = Path(__file__).with_name("web") / "static"
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
# Every request body may hold DEFAULT_LIMIT (64 KiB) at most; these routes need more.
BODY_LIMITS = (
    RouteLimit("POST", "/api/v1/contacts", MAX_CONTACT_LIST),  # a contact list: 2 MiB
    # A browser's offer of up to 64 Ki characters, its line ends escaped in JSON, and a name.
    RouteLimit("POST", "/api/v1/conferences/{conference_id}/web-legs", 2 * MAX_OFFER),
)


def create_app(
    store: Store,
    settings: Settings,
    services: Services | None = None,
    lifespan: Lifespan | None = None,
) -> FastAPI:
    """The web app over ``store`` and, when given, the running ``services`` (the bridge, Live
    Call Status, click-to-call); ``lifespan`` starts and stops them with the app."""
    app = FastAPI(title="Callroster", version=__version__, lifespan=lifespan)
    app.state.store = store
    app.state.settings = settings
    app.state.monotonic = time.monotonic  # rate windows; the one clock the routes read
    app.state.watch_tickets = WatchTickets(random_ticket)  # open the live roster from a browser
    app.state.metrics = metrics = Metrics()  # what /metrics shows (callroster/metrics.py)
    if services is not None:
        metrics.watch(services.bridge, services.feed, services.call_log)
        app.state.bus = services.bus
        app.state.roster = services.roster
        app.state.feed = services.feed
        app.state.bridge = services.bridge
        app.state.click_to_call = services.click_to_call
        app.state.call_reporter = services.call_reporter
        app.state.invitation_sender = services.invitations
    install_error_answers(app)
    home.install(app)  # browsers get an HTML page for a 404, API clients JSON
    app.add_middleware(BodyLimit, default=DEFAULT_LIMIT, routes=BODY_LIMITS)
    # Each request's cookie consent, for the pages; no cookie of a refused category kept.
    app.add_middleware(ConsentMiddleware)
    # Outermost, so that every answer has them, a 413 of BodyLimit's included.
    docs = (app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url)
    app.add_middleware(SecurityHeaders, docs_paths=[path for path in docs if path])
    # Around all of the above: how long each answer took, by route (api/request_timing.py).
    app.add_middleware(RequestTiming, latency=metrics.http_latency)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own answer repeats what was sent ("input"), which may be a password, a
        # number or a name: say where and what is wrong, never the value.
        detail = [
            {
                "loc": list(error.get("loc", ())),
                "msg": error.get("msg", ""),
                "type": error.get("type", ""),
            }
            for error in exc.errors()
        ]
        return JSONResponse(status_code=422, content={"detail": detail})

    app.include_router(health_router)
    app.include_router(api_router)
    app.include_router(live_router)
    app.include_router(contacts_router)
    app.include_router(web_join_router)
    app.include_router(dial_out_router)
    app.include_router(calls_router)
    app.include_router(crm_router)
    app.include_router(account_router)
    app.include_router(users_router)
    app.include_router(invitations_router)
    app.include_router(friend_invitations_router)
    app.include_router(operator_router)
    app.include_router(operator_accounts_router)
    app.include_router(operator_legal_holds_router)
    app.include_router(operator_consent_router)
    app.include_router(consent_key_router)
    app.include_router(operator_requests_router)
    app.include_router(operator_requests_pages_router)
    app.include_router(operator_consent_pages_router)
    app.include_router(operator_pages_router)
    app.include_router(privacy_request_router)
    app.include_router(setup_router)
    app.include_router(metrics_router)
    app.include_router(signin_router)
    app.include_router(portal_router)
    app.include_router(privacy_page_router)
    app.include_router(cookies_page_router)
    app.include_router(consent_router)
    app.include_router(page_timing_router)
    app.include_router(profile_router)
    app.include_router(friend_invitation_page_router)
    app.include_router(unsubscribe_router)
    app.include_router(invitation_pages_router)
    app.include_router(pages_router)
    app.include_router(home.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def third_party_directory(settings: Settings) -> CountryGate | None:
    """The configured directory for name resolution, gated to the allowed countries."""
    if settings.directory_file is None:
        return None
    if not settings.directory_file.exists():
        raise ConfigError(f"directory file {settings.directory_file} does not exist")
    return CountryGate(FileDirectory(settings.directory_file), settings.directory_country_codes)


def tune_gc() -> None:
    """Keep Python's cyclic garbage collector from stopping the event loop the media clock
    and the WebSockets share: what is alive once the service is up (modules, the app, the
    store) is frozen out of collections, and the youngest generation is collected less often,
    so a full collection, a walk of the whole heap, comes rarely. Measured with 1,000 roster
    watchers (``make bench``): see docs/architecture.md, "Fan-out cost"."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)


async def keep_audit_anchored(
    store: Store, settings: Settings, every: float = audit_anchor.ANCHOR_SECONDS
) -> None:
    """Anchor the audit log's head outside the database now and every ``every`` seconds,
    after checking the entries since the last anchor (a problem is logged, and the anchor
    stays where it was)."""
    anchor_file = AnchorFile(settings.resolved_audit_anchor_file)
    while True:
        try:
            await asyncio.to_thread(audit_anchor.advance, store.audit, anchor_file)
        except (OSError, ValueError) as exc:
            log.error("audit log: cannot anchor at %s: %s", anchor_file.path, exc)
        await asyncio.sleep(every)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: ``serve`` owns SIGINT/SIGTERM for both SIP
    and web, so Ctrl-C stops everything in order and exits 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Sockets:
    """The listening sockets, bound before anything starts: web, and SIP on UDP and TCP, on
    each bind address (one, or an IPv4 and an IPv6 one), each on the same port everywhere;
    with HTTPS and ``http_redirect_port``, the plain-HTTP port that redirects to it."""

    def __init__(self, settings: Settings) -> None:
        self.http: list[socket.socket] = []
        self.redirect: list[socket.socket] = []  # plain HTTP, answered 308 to HTTPS
        self.sip: list[tuple[socket.socket, socket.socket]] = []  # (UDP, TCP) per address
        self.sip_tls: list[socket.socket] = []  # SIP over TLS, when it has a certificate
        try:
            self.http = self._bind_everywhere(settings, settings.http_port, "web")
            if settings.tls_enabled and settings.http_redirect_port is not None:
                port = settings.http_redirect_port
                self.redirect = self._bind_everywhere(settings, port, "HTTP redirect")
            self.sip = self._bind_sip(settings)
            if settings.sip_tls_cert_file is not None:
                self.sip_tls = self._bind_everywhere(settings, settings.sip_tls_port, "SIP TLS")
        except Exception:
            self.close()
            raise

    @property
    def sip_udp(self) -> socket.socket:
        """The first address's SIP UDP socket (its port is every SIP socket's port)."""
        return self.sip[0][0]

    @staticmethod
    def _bind_everywhere(settings: Settings, port: int, what: str) -> list[socket.socket]:
        """A TCP listener on each bind address, on one port (with port 0, the port the
        system gives the first; another is tried when that one is taken elsewhere)."""
        for attempt in range(20):
            bound: list[socket.socket] = []
            chosen = port
            try:
                for address in settings.bind_addresses:
                    bound.append(bind_socket(address, chosen, socket.SOCK_STREAM, what))
                    chosen = bound[-1].getsockname()[1]
                return bound
            except PortInUseError:
                for sock in bound:
                    sock.close()
                if port != 0 or attempt == 19:
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _bind_sip(settings: Settings) -> list[tuple[socket.socket, socket.socket]]:
        """UDP and TCP on the same port on every address. With port 0 (any), the port the
        system gives the first UDP socket may be taken for another; then another is tried."""
        for attempt in range(20):
            bound: list[tuple[socket.socket, socket.socket]] = []
            port = settings.sip_port
            try:
                for address in settings.bind_addresses:
                    udp = bind_socket(address, port, socket.SOCK_DGRAM, "SIP")
                    port = udp.getsockname()[1]
                    try:
                        tcp = bind_socket(address, port, socket.SOCK_STREAM, "SIP")
                    except PortInUseError:
                        udp.close()
                        raise
                    bound.append((udp, tcp))
                return bound
            except PortInUseError:
                for udp, tcp in bound:
                    udp.close()
                    tcp.close()
                if settings.sip_port != 0 or attempt == 19:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        for sock in [*self.http, *self.redirect]:
            sock.close()
        for udp, tcp in self.sip:
            udp.close()
            tcp.close()
        for sock in self.sip_tls:
            sock.close()


def running(services: Services, store: Store, settings: Settings, sockets: Sockets) -> Lifespan:
    """The service's lifespan: the bridge listens before the web does and stops after it;
    the audit log is anchored every minute meanwhile; call logs still being retried to a CRM
    are dropped (and logged) at the end.

    The bridge's start closes what a killed process left open and ends its calls, and keeps
    a heartbeat (bridge/restart.py). The stop is graceful: callers hear that the service is
    restarting, for GRACEFUL_STOP_SECONDS at most."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        assert services.bridge is not None and services.crm_sender is not None
        await services.bridge.start(sockets.sip, tls_sockets=sockets.sip_tls)
        anchoring = asyncio.create_task(keep_audit_anchored(store, settings))
        purging = asyncio.create_task(keep_purging(store, settings))  # in a thread
        services.bus.subscribe_erasures(drop_calls_of_erased_accounts(store, services.bridge))
        key_watching = asyncio.create_task(
            watch_destroyed_keys(store, services.bus, settings.key_watch_seconds)
        )
        profile_watching = asyncio.create_task(  # /me changes made on other nodes
            watch_profiles(store, services.bridge, settings.key_watch_seconds)
        )
        assert services.invitations is not None
        inviting = asyncio.create_task(services.invitations.run())
        try:
            yield
        finally:
            anchoring.cancel()
            purging.cancel()
            key_watching.cancel()
            profile_watching.cancel()
            inviting.cancel()
            await services.bridge.stop(grace=GRACEFUL_STOP_SECONDS)
            await services.crm_sender.aclose()

    return lifespan


def web_certificate(settings: Settings) -> ServerCertificate | None:
    """The web port's certificate when HTTPS is on (``tls_cert_file``), loaded now: a file
    that does not load stops ``serve`` with one line, before a socket is bound.

    Raises:
        ConfigError: naming the file and what is wrong with it.
    """
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    return ServerCertificate(settings.tls_cert_file, settings.tls_key_file)


def web_server_config(
    app: FastAPI, settings: Settings, tls: ssl.SSLContext | None = None
) -> uvicorn.Config:
    """uvicorn's settings for the web app; with ``tls`` (``web_certificate``'s live context,
    which the reloader changes in place), the port speaks HTTPS only.

    ``X-Forwarded-For`` (and ``-Proto``) are believed only from the ``trusted_proxies`` the
    operator names; by default from nobody, so the address a route sees (sign-in lock-out,
    per-address limits, the audit log) is always the connection's. uvicorn's own default would
    believe any process on the machine (127.0.0.1)."""
    trusted = settings.trusted_proxy_list
    # No per-message compression: each connection would keep its own zlib state and
    # compress every roster message again (measured: p99 0.65 s instead of 2.4 s at 1,000
    # watchers); roster messages are a few hundred bytes.
    return uvicorn.Config(
        app,
        log_level="warning",
        log_config=None,  # its records go to the service's one handler (callroster/logs.py)
        lifespan="on",
        access_log=False,
        ws_per_message_deflate=False,
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
        ssl_context_factory=None if tls is None else (lambda _config, _default: tls),
    )


def redirect_server_config(settings: Settings, https_port: int) -> uvicorn.Config:
    """uvicorn's settings for the plain-HTTP port that redirects to HTTPS
    (web/https_redirect.py): h11, whose cap on a request's head (8 KiB) is set, a second of
    keep-alive, and no lifespan, as there is no app behind it."""
    return uvicorn.Config(
        RedirectToHttps(settings.redirect_hosts, https_port),
        http="h11",
        h11_max_incomplete_event_size=8 * 1024,
        timeout_keep_alive=1,
        log_level="warning",
        log_config=None,
        lifespan="off",
        access_log=False,
        ws="none",
    )


async def serve(
    store: Store,
    settings: Settings,
    sockets: Sockets,
    on_ready: Callable[[], None] = lambda: None,
    certificate: ServerCertificate | None = None,
) -> None:
    """Run until SIGINT/SIGTERM, then stop listening and close the store. With
    ``certificate`` (``web_certificate``), the web port speaks HTTPS, the certificate files
    are checked for a renewal every ``tls_reload_seconds``, and the redirect port, if bound,
    answers plain HTTP."""
    directory = StoreDirectory(store, third_party_directory(settings))
    services = build_services(store, settings, directory)
    app = create_app(store, settings, services, running(services, store, settings, sockets))
    tls = None if certificate is None else certificate.context
    server = _Server(web_server_config(app, settings, tls))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    web = asyncio.create_task(server.serve(sockets=sockets.http))
    while not server.started and not web.done():
        await asyncio.sleep(0.01)
    if web.done():
        await web  # re-raise whatever stopped it
        return
    watching = None  # the certificate files, for a renewal
    if certificate is not None:
        watching = asyncio.create_task(certificate.watch(settings.tls_reload_seconds))
    redirect = None  # the plain-HTTP port (its sockets already listen: nothing is missed)
    if sockets.redirect:
        https_port = sockets.http[0].getsockname()[1]
        redirect = _Server(redirect_server_config(settings, https_port))
        redirecting = asyncio.create_task(redirect.serve(sockets=sockets.redirect))
    tune_gc()
    on_ready()
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait({web, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if watching is not None:
        watching.cancel()
    if redirect is not None:
        redirect.should_exit = True
        await redirecting
    server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await web  # the lifespan's end stops the bridge
    waiter.cancel()
    log.info("stopped")
