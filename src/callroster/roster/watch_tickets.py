"""Tickets that open the roster's WebSocket: random, single-use, valid 30 seconds, each bound
to one credential and one conference. Pure: the time is given.

A browser cannot set headers on a WebSocket, so the host's page used to put its token in the
URL (``?token=``), where proxies' and servers' access logs, and anything else that records
URLs, keep a credential that lasts months. Now the page sends its token where credentials
belong, in ``Authorization`` of a POST, gets a ticket back, and opens the WebSocket with
``?ticket=``: a logged ticket is worthless, used or 30 seconds old.

Why a ticket rather than ``Sec-WebSocket-Protocol`` (the other header a browser can set): a
token there is still the long-lived credential on every connection, in a header that
proxies are free to log and that the server must echo back in its answer to select it.

Tickets are kept in this process's memory, never in the store: a ticket is redeemed within
moments by the same page, and the roster it opens is this process's own (the conference's
bridge runs here), so the POST and the WebSocket must reach the same process anyway. With
several processes behind a balancer that is not sticky, a ticket issued by one is unknown
to another: the page is refused (4401) and tries again with a new ticket. A restart forgets
every ticket, which costs a page one reconnection.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

PREFIX = "crw_"
LIFETIME = dt.timedelta(seconds=30)
# At most this many unredeemed tickets at once (about 2 MB): beyond it, issuing waits.
OUTSTANDING_LIMIT = 10_000


class TicketRefused(Exception):
    """A ticket that opens nothing: unknown (forged, or issued by another process), used,
    expired, or for another conference. ``reason`` is safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TooManyTickets(Exception):
    """``OUTSTANDING_LIMIT`` tickets are waiting to be redeemed; the oldest expires within
    ``retry_after_s``."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many tickets outstanding; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class _Grant:
    credential: str
    conference_id: str
    expires_at: dt.datetime


def _key(ticket: str) -> bytes:
    # Kept by digest: a lookup takes no time that depends on how much of a guess was right.
    return hashlib.sha256(ticket.encode()).digest()


class WatchTickets:
    """The tickets this process has issued and not yet seen redeemed or expire.

    ``random_ticket`` makes each ticket (``PREFIX`` and 256 random bits in the service:
    ``api/live.py``); randomness comes from outside, as the time does.
    """

    def __init__(
        self,
        random_ticket: Callable[[], str],
        lifetime: dt.timedelta = LIFETIME,
        limit: int = OUTSTANDING_LIMIT,
    ) -> None:
        self._random_ticket = random_ticket
        self.lifetime = lifetime
        self.limit = limit
        self._grants: dict[bytes, _Grant] = {}  # in the order issued: the oldest first

    def __len__(self) -> int:
        return len(self._grants)

    def issue(self, credential: str, conference_id: str, now: dt.datetime) -> str:
        """A new ticket for whoever holds ``credential`` to watch ``conference_id``.

        Raises:
            TooManyTickets: ``limit`` tickets are outstanding and none has expired.
        """
        self._forget_expired(now)
        if len(self._grants) >= self.limit:
            oldest = next(iter(self._grants.values()))
            raise TooManyTickets(max(1, int((oldest.expires_at - now).total_seconds()) + 1))
        ticket = self._random_ticket()
        if _key(ticket) in self._grants:  # a broken source of randomness, never chance
            raise ValueError("the ticket source repeated itself")
        self._grants[_key(ticket)] = _Grant(credential, conference_id, now + self.lifetime)
        return ticket

    def redeem(self, ticket: str, conference_id: str, now: dt.datetime) -> str:
        """The credential ``ticket`` was issued for; the ticket is used up, whatever the
        answer.

        Raises:
            TicketRefused: unknown, used, expired, or for another conference.
        """
        self._forget_expired(now)
        grant = self._grants.pop(_key(ticket), None)
        if grant is None or now >= grant.expires_at:
            raise TicketRefused(
                "this ticket is not valid (used, expired or unknown): get a new one"
            )
        if grant.conference_id != conference_id:
            raise TicketRefused("this ticket is for another conference")
        return grant.credential

    def _forget_expired(self, now: dt.datetime) -> None:
        # Issued in order with the same lifetime, so they expire in order too.
        while self._grants:
            key, grant = next(iter(self._grants.items()))
            if now < grant.expires_at:
                break
            del self._grants[key]
