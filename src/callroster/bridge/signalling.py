"""The SIP endpoint, driven: bytes in, datagrams out, events up, one timer re-armed.

aioquic's shape: after anything goes into :class:`SipEndpoint` (a message, a command, a
timer), :meth:`Signalling.pump` sends what it wants sent, hands its events to the bridge and
re-arms one timer for its next deadline. Time comes from the injected clock only.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable

from callroster.bridge.dial_target import DialTarget
from callroster.bridge.ports import Address, Network
from callroster.clock import Clock, Timer
from callroster.sip.endpoint import SipEndpoint
from callroster.sip.events import Event as SipEvent

_PUMP_ROUNDS = 100  # handling an event can produce more; bounded, never a loop


class Signalling:
    def __init__(
        self,
        network: Network,
        clock: Clock,
        on_event: Callable[[SipEvent], None],
        *,
        advertised_host: str,
        port: int,
        other_hosts: Iterable[str] = (),
        trusted_peer: Callable[[str], bool] = lambda host: False,
        tls_port: int | None = None,
    ) -> None:
        """``advertised_host``: our address (or name) in Via and Contact; ``other_hosts``:
        our address in another IP family, used toward peers of that family;
        ``trusted_peer``: whether an address (trunk, proxy) may speak for any call's peer;
        ``tls_port``: where we take SIP over TLS, if anywhere."""
        self.endpoint = SipEndpoint(
            advertised_host,
            port,
            ids=lambda: secrets.token_hex(8),
            other_hosts=other_hosts,
            trusted_peer=trusted_peer,
            tls_port=tls_port,
        )
        self._network = network
        self._clock = clock
        self._on_event = on_event
        self._timer: Timer | None = None

    def receive(self, data: bytes, source: Address, transport: str) -> None:
        self.endpoint.receive(data, source, transport, self._clock.time())  # type: ignore[arg-type]
        self.pump()

    def connection_closed(self, source: Address) -> None:
        self.endpoint.connection_closed(source)

    def answer(
        self,
        call_id: str,
        status: int,
        reason: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        extra_headers: tuple[tuple[str, str], ...] | list[tuple[str, str]] = (),
    ) -> None:
        """Answer an INVITE (sent at the next :meth:`pump`)."""
        self.endpoint.answer(
            call_id,
            status,
            reason,
            body=body,
            content_type=content_type,
            extra_headers=extra_headers,
            now=self._clock.time(),
        )

    def hangup(self, call_id: str) -> None:
        """BYE, or CANCEL for a call still ringing (sent at the next :meth:`pump`)."""
        self.endpoint.hangup(call_id, self._clock.time())

    def dial(self, target: DialTarget, offer: bytes) -> str:
        """Send an INVITE to ``target`` with our SDP ``offer``; returns its Call-ID.

        Raises:
            CallLimitReached: too many calls in progress.
        """
        call_id = self.endpoint.dial(
            target.request_uri,
            (target.host, target.port),
            target.transport,
            self._clock.time(),
            from_user=target.caller_id or "callroster",
            body=offer,
            content_type="application/sdp",
            credentials=target.credentials,
        )
        return call_id

    def pump(self) -> None:
        """Send what the endpoint wants sent, act on its events, re-arm its timer."""
        endpoint = self.endpoint
        for _ in range(_PUMP_ROUNDS):
            for out in endpoint.datagrams():
                self._network.send_sip(out)
            events = endpoint.events()
            if not events:
                break
            for event in events:
                self._on_event(event)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        when = endpoint.next_timer()
        if when is not None:
            self._timer = self._clock.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.endpoint.handle_timer(self._clock.time())
        self.pump()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
