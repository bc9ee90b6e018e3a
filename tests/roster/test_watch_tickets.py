"""Tickets that open the live roster's WebSocket, on a clock given by hand: single use,
30 seconds, one conference, unguessable, and a bounded number outstanding."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest

from callroster.roster.watch_tickets import (
    LIFETIME,
    PREFIX,
    TicketRefused,
    TooManyTickets,
    WatchTickets,
)

AT = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


def random_ticket() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def test_a_ticket_opens_its_conference_once() -> None:
    tickets = WatchTickets(random_ticket)
    ticket = tickets.issue("cr_host", "conf-a", AT)
    assert ticket.startswith(PREFIX) and "cr_host" not in ticket and len(ticket) > 40
    assert tickets.redeem(ticket, "conf-a", AT + dt.timedelta(seconds=1)) == "cr_host"
    with pytest.raises(TicketRefused, match="not valid"):
        tickets.redeem(ticket, "conf-a", AT + dt.timedelta(seconds=2))
    assert len(tickets) == 0


def test_a_ticket_lasts_30_seconds() -> None:
    tickets = WatchTickets(random_ticket)
    early, late = tickets.issue("cr_host", "conf-a", AT), tickets.issue("cr_host", "conf-a", AT)
    just_in_time = AT + LIFETIME - dt.timedelta(microseconds=1)
    assert tickets.redeem(early, "conf-a", just_in_time) == "cr_host"
    with pytest.raises(TicketRefused, match="not valid"):
        tickets.redeem(late, "conf-a", AT + LIFETIME)


def test_a_ticket_for_another_conference_opens_nothing_and_is_used_up() -> None:
    tickets = WatchTickets(random_ticket)
    ticket = tickets.issue("cr_host", "conf-a", AT)
    with pytest.raises(TicketRefused, match="another conference"):
        tickets.redeem(ticket, "conf-b", AT)
    with pytest.raises(TicketRefused, match="not valid"):
        tickets.redeem(ticket, "conf-a", AT)


def test_forged_tickets_and_those_of_another_process_open_nothing() -> None:
    tickets, elsewhere = WatchTickets(random_ticket), WatchTickets(random_ticket)
    real = elsewhere.issue("cr_host", "conf-a", AT)
    tickets.issue("cr_host", "conf-a", AT)
    for forged in (real, PREFIX, f"{PREFIX}forged", "cr_host", "", real[:-1]):
        with pytest.raises(TicketRefused):
            tickets.redeem(forged, "conf-a", AT)
    # A source of tickets that repeats itself is refused, never handed out twice.
    stuck = WatchTickets(lambda: f"{PREFIX}same")
    stuck.issue("cr_host", "conf-a", AT)
    with pytest.raises(ValueError):
        stuck.issue("cr_guest", "conf-a", AT)


def test_outstanding_tickets_are_bounded_and_expired_ones_make_room() -> None:
    tickets = WatchTickets(random_ticket, limit=3)
    for n in range(3):
        tickets.issue("cr_host", "conf-a", AT + dt.timedelta(seconds=n))
    with pytest.raises(TooManyTickets) as full:
        tickets.issue("cr_host", "conf-a", AT + dt.timedelta(seconds=10))
    assert full.value.retry_after_s == 21  # the oldest expires at 30 s
    tickets.issue("cr_host", "conf-a", AT + LIFETIME)  # the oldest expired: room again
    assert len(tickets) == 3
