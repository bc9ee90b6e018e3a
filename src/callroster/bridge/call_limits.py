"""Who may start another call now: the bridge's defence against a flood of calls. Pure.

A flood of INVITEs to the access number (100 a second from one address reached 1,416 calls,
each with its media socket and its prompt, and slowed the web 200 times) must not keep
anyone else out. Three bounds, checked when an INVITE arrives, before anything is opened:

- **Per source** (an IPv4 address, an IPv6 /64; see bridge/pin_guard.py's ``source_key``):
  at most :attr:`CallLimits.per_source` calls at once. Trusted SIP peers (a proxy or carrier
  edge in front, which sends everyone's calls: the ``sip_trusted_peers`` setting) are exempt.
- **At the PIN prompt**: callers who have not yet given a right PIN may hold at most
  :attr:`CallLimits.pin_share` of the bridge's calls. When that share is full, a new call
  takes the place of the caller longest at the prompt still keying digits, if that one has
  been there :attr:`CallLimits.evict_after` seconds (a flood from many addresses then cycles
  through the prompt instead of keeping it; a caller whose dialled PIN is being checked is
  never the one to go, so dialling the PIN directly gets in). When nobody there can, the
  call longest still being routed to an access number makes room the same way
  (``bridge/inbound.py``): under load that is where a flood's calls wait. Otherwise the new
  call is refused.
  Callers are also timed out sooner when it is busy:
  :attr:`CallLimits.pin_time_limit` seconds at the prompt normally, and
  :attr:`CallLimits.pin_time_limit_busy` once more than half that share is in use.
- The SIP endpoint's own ``max_calls`` (503 beyond it) remains the last bound.

Refusals are 503 with ``Retry-After``: the bridge is busy, which is what a carrier should
hear, and nothing in it tells a guesser about PINs.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Literal

Refusal = Literal["per_source", "pin_prompt_full"]


@dataclass(frozen=True)
class CallLimits:
    per_source: int = 20
    max_calls: int = 1000
    pin_share: float = 0.1
    pin_time_limit: float = 90.0
    pin_time_limit_busy: float = 20.0
    evict_after: float = 0.5
    trusted: tuple[str, ...] = ()  # networks exempt from the per-source bound
    _networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(
        init=False, repr=False, compare=False, default=()
    )

    def __post_init__(self) -> None:
        # Parsed once, so a bad network fails at start-up, not at the first call.
        networks = tuple(ipaddress.ip_network(n, strict=False) for n in self.trusted)
        object.__setattr__(self, "_networks", networks)

    @property
    def pin_capacity(self) -> int:
        return max(1, int(self.max_calls * self.pin_share))

    def is_trusted(self, source: str) -> bool:
        try:
            address = ipaddress.ip_address(source)
        except ValueError:
            return False
        return any(address in network for network in self._networks)

    def refuse(
        self, source: str, from_source: int, at_pin: int, *, certified: bool = True
    ) -> Refusal | None:
        """Why a new call from ``source`` is refused now (None: it is not), given the
        calls that source already has and the calls still at the PIN prompt. Not
        ``certified``: over TLS without the client certificate asked for, so bounded as
        any caller whatever its address."""
        trusted = certified and self.is_trusted(source)
        if from_source >= self.per_source and not trusted:
            return "per_source"
        if at_pin >= self.pin_capacity:
            return "pin_prompt_full"
        return None

    def pin_deadline(self, at_pin: int) -> float:
        """Seconds a caller may spend at the PIN prompt, given how many are there."""
        busy = at_pin > self.pin_capacity // 2
        return self.pin_time_limit_busy if busy else self.pin_time_limit
