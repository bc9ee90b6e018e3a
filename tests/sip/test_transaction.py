"""The four RFC 3261 transaction state machines, their timers and matching rules."""

from __future__ import annotations

import pytest

from callroster.sip.message import Request, Response, parse_message, response_to, serialise
from callroster.sip.transaction import (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    TransactionError,
    Transport,
    TxState,
    _Transaction,
    client_key,
    response_destination,
    sender_behind_nat,
    server_key,
)

S = TxState
PEER = ("192.0.2.1", 5061)


def request(
    method: str, branch: str = "z9hG4bK-1", *, via_host: str = "192.0.2.1:5061", cseq: int = 1
) -> Request:
    return Request(
        method,
        "sip:bridge@192.0.2.2",
        [
            ("Via", f"SIP/2.0/UDP {via_host};branch={branch}"),
            ("From", "<sip:alice@example.org>;tag=a1"),
            ("To", "<sip:bridge@192.0.2.2>"),
            ("Call-ID", "c1@example.org"),
            ("CSeq", f"{cseq} {method}"),
            ("Max-Forwards", "70"),
            ("Route", "<sip:proxy.example.org;lr>"),
        ],
    )


def answer(req: Request, status: int) -> Response:
    return response_to(req, status, "Whatever", to_tag="t1")


def fire_all(tx: _Transaction, until: float) -> list[tuple[float, bytes | None, bool]]:
    fired = []
    while (deadline := tx.next_timer()) is not None and deadline <= until:
        effect = tx.handle_timer(deadline)
        fired.append((deadline, effect.send, effect.timed_out))
    return fired


def test_server_invite_retransmits_a_failure_until_timer_h() -> None:
    tx = ServerInviteTransaction(request("INVITE"), PEER, "udp")
    tx.respond(answer(tx.request, 100), 0.0)
    sent = tx.respond(answer(tx.request, 486), 0.0)
    fired = fire_all(tx, 100.0)
    retransmits = [when for when, data, _ in fired if data == sent]
    assert retransmits == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert fired[-1] == (32.0, None, True)
    assert tx.history == [S.PROCEEDING, S.COMPLETED, S.TERMINATED]


def test_server_invite_ack_confirms_and_timer_i_absorbs() -> None:
    tx = ServerInviteTransaction(request("INVITE"), PEER, "udp")
    sent = tx.respond(answer(tx.request, 487), 0.0)
    assert tx.receive_request(tx.request, 0.2).send == sent  # retransmitted INVITE
    effect = tx.receive_request(request("ACK"), 0.3)
    assert effect.send is None and not effect.deliver
    assert tx.receive_request(request("ACK"), 0.4).send is None  # absorbed
    assert fire_all(tx, 100.0) == [(5.3, None, False)]
    assert tx.history == [S.PROCEEDING, S.COMPLETED, S.CONFIRMED, S.TERMINATED]


def test_server_invite_over_tcp_never_retransmits() -> None:
    tx = ServerInviteTransaction(request("INVITE"), PEER, "tcp")
    tx.respond(answer(tx.request, 603), 0.0)
    assert tx.next_timer() == 32.0  # H only
    tx.receive_request(request("ACK"), 1.0)
    assert tx.terminated  # timer I is zero on TCP
    assert tx.history == [S.PROCEEDING, S.COMPLETED, S.CONFIRMED, S.TERMINATED]


def test_server_invite_2xx_is_accepted_and_absorbs_retransmissions() -> None:
    tx = ServerInviteTransaction(request("INVITE"), PEER, "udp")
    sent = tx.respond(answer(tx.request, 200), 0.0)
    assert tx.state is S.ACCEPTED
    assert tx.receive_request(tx.request, 1.0).send == sent
    assert tx.receive_request(request("ACK"), 1.0).deliver  # the 2xx's ACK belongs to the TU
    assert fire_all(tx, 100.0) == [(32.0, None, False)]
    assert tx.history == [S.PROCEEDING, S.ACCEPTED, S.TERMINATED]


def test_server_invite_illegal_moves_raise() -> None:
    tx = ServerInviteTransaction(request("INVITE"), PEER, "udp")
    tx.respond(answer(tx.request, 486), 0.0)
    with pytest.raises(TransactionError):
        tx.respond(answer(tx.request, 200), 0.1)
    accepted = ServerInviteTransaction(request("INVITE", "z9hG4bK-2"), PEER, "udp")
    accepted.respond(answer(accepted.request, 200), 0.0)
    with pytest.raises(TransactionError):
        accepted.respond(answer(accepted.request, 180), 0.1)


def test_server_non_invite() -> None:
    tx = ServerNonInviteTransaction(request("BYE"), PEER, "udp")
    assert tx.receive_request(tx.request, 0.0).send is None  # Trying: nothing to re-send
    sent = tx.respond(answer(tx.request, 200), 0.1)
    assert tx.receive_request(tx.request, 1.0).send == sent
    assert fire_all(tx, 100.0) == [(32.1, None, False)]
    assert tx.history == [S.TRYING, S.COMPLETED, S.TERMINATED]
    tcp = ServerNonInviteTransaction(request("BYE"), PEER, "tcp")
    tcp.respond(answer(tcp.request, 200), 0.0)
    assert tcp.terminated  # timer J is zero on TCP
    with pytest.raises(TransactionError):
        tx.respond(answer(tx.request, 200), 2.0)


def test_client_invite_timer_a_and_b() -> None:
    tx = ClientInviteTransaction(request("INVITE"), PEER, "udp", 0.0)
    fired = fire_all(tx, 100.0)
    assert [when for when, data, _ in fired if data == tx.data] == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert fired[-1] == (32.0, None, True)
    assert tx.history == [S.CALLING, S.TERMINATED]


def test_client_invite_acks_a_failure_and_absorbs_its_retransmission() -> None:
    invite = request("INVITE")
    tx = ClientInviteTransaction(invite, PEER, "udp", 0.0)
    assert tx.receive_response(answer(invite, 180), 0.1).deliver
    assert tx.next_timer() is None  # no retransmission, no timer B in Proceeding
    busy = answer(invite, 486)
    effect = tx.receive_response(busy, 0.2)
    assert effect.deliver and effect.send is not None
    ack = parse_message(effect.send)
    assert isinstance(ack, Request) and ack.method == "ACK" and ack.uri == invite.uri
    assert ack.get("Via") == invite.get("Via") and ack.get("To") == busy.get("To")
    assert ack.get("CSeq") == "1 ACK" and ack.get_all("Route") == ["<sip:proxy.example.org;lr>"]
    again = tx.receive_response(busy, 0.3)
    assert again.send == effect.send and not again.deliver
    assert fire_all(tx, 100.0) == [(32.2, None, False)]  # timer D
    assert tx.history == [S.CALLING, S.PROCEEDING, S.COMPLETED, S.TERMINATED]


def test_client_invite_passes_every_2xx_up() -> None:
    invite = request("INVITE")
    tx = ClientInviteTransaction(invite, PEER, "tcp", 0.0)
    assert tx.next_timer() == 32.0  # no timer A on TCP
    assert tx.receive_response(answer(invite, 200), 0.1).deliver
    assert tx.receive_response(answer(invite, 200), 0.6).deliver
    assert not tx.receive_response(answer(invite, 180), 0.7).deliver
    assert fire_all(tx, 100.0) == [(32.1, None, False)]  # timer M
    assert tx.history == [S.CALLING, S.ACCEPTED, S.TERMINATED]


def test_client_non_invite_timer_e_caps_at_t2() -> None:
    tx = ClientNonInviteTransaction(request("BYE"), PEER, "udp", 0.0)
    fired = fire_all(tx, 100.0)
    assert [when for when, data, _ in fired if data] == [
        0.5,
        1.5,
        3.5,
        7.5,
        11.5,
        15.5,
        19.5,
        23.5,
        27.5,
        31.5,
    ]
    assert fired[-1] == (32.0, None, True)


def test_client_non_invite_proceeding_and_timer_k() -> None:
    bye = request("BYE")
    tx = ClientNonInviteTransaction(bye, PEER, "udp", 0.0)
    assert tx.receive_response(answer(bye, 100), 0.1).deliver
    tx.handle_timer(0.5)
    assert tx.next_timer() == 4.5  # T2 in Proceeding
    assert tx.receive_response(answer(bye, 200), 1.0).deliver
    assert not tx.receive_response(answer(bye, 200), 1.1).deliver
    assert fire_all(tx, 100.0) == [(6.0, None, False)]  # timer K = T4
    assert tx.history == [S.TRYING, S.PROCEEDING, S.COMPLETED, S.TERMINATED]


def test_server_key_matching() -> None:
    invite = request("INVITE")
    assert server_key(request("ACK")) == server_key(invite)
    assert server_key(request("CANCEL")) != server_key(invite)
    assert server_key(request("CANCEL"), method="INVITE") == server_key(invite)
    assert server_key(request("INVITE", via_host="192.0.2.9:5061")) != server_key(invite)
    assert server_key(request("INVITE", "z9hG4bK-2")) != server_key(invite)


def test_rfc2543_peers_match_without_a_magic_cookie() -> None:
    invite = request("INVITE", "old-1")
    ack = request("ACK", "old-1")
    assert server_key(ack) == server_key(invite)
    assert server_key(request("INVITE", "old-1", cseq=2)) != server_key(invite)


def test_client_key_matches_responses() -> None:
    bye = request("BYE")
    assert client_key(answer(bye, 200)) == client_key(bye)
    cancel = request("CANCEL")
    assert client_key(answer(cancel, 200)) != client_key(request("INVITE"))


@pytest.mark.parametrize(
    ("via", "transport", "expected"),
    [
        ("SIP/2.0/UDP 192.0.2.1:5080;branch=z9hG4bK1", "udp", ("192.0.2.1", 5080)),
        ("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1", "udp", ("192.0.2.1", 5060)),
        ("SIP/2.0/UDP phone.example.org:5080;branch=z9hG4bK1", "udp", ("192.0.2.1", 5080)),
        ("SIP/2.0/UDP 10.0.0.1:5080;branch=z9hG4bK1;rport=40000", "udp", ("192.0.2.1", 40000)),
        ("SIP/2.0/TCP 10.0.0.1:5080;branch=z9hG4bK1", "tcp", ("192.0.2.1", 40000)),
        # Behind a NAT (its Via names a private address) and no rport: where it came from.
        ("SIP/2.0/UDP 10.0.0.1:5080;branch=z9hG4bK1", "udp", ("192.0.2.1", 40000)),
        ("SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1", "udp", ("192.0.2.1", 40000)),
    ],
)
def test_response_destination(via: str, transport: Transport, expected: tuple[str, int]) -> None:
    """RFC 3261 18.2.2: the source IP and the Via's port; the source port too with rport
    (RFC 3581), on TCP (the connection), and from a sender a NAT visibly rewrote."""
    req = Request("OPTIONS", "sip:x@y", [("Via", via)])
    assert response_destination(req, ("192.0.2.1", 40000), transport) == expected


@pytest.mark.parametrize(
    ("via", "source", "behind"),
    [
        ("SIP/2.0/UDP 192.0.2.1:5080;branch=z9hG4bK1", ("192.0.2.1", 5080), False),
        ("SIP/2.0/UDP 192.0.2.1:5080;branch=z9hG4bK1", ("192.0.2.1", 40000), False),  # no rport
        ("SIP/2.0/UDP 192.0.2.1:5080;branch=z9hG4bK1;rport", ("192.0.2.1", 40000), True),
        ("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1;rport", ("192.0.2.1", 5060), False),
        ("SIP/2.0/UDP 10.0.0.1:5080;branch=z9hG4bK1", ("192.0.2.1", 5080), True),
        ("SIP/2.0/UDP [2001:db8::1]:5080;branch=z9hG4bK1", ("2001:db8:0::1", 5080), False),
        ("SIP/2.0/UDP phone.example.org:5080;branch=z9hG4bK1", ("192.0.2.1", 5080), False),
        ("SIP/2.0/UDP 10.0.0.1:5080;rport=40000;received=192.0.2.1", ("192.0.2.1", 40000), True),
        ("garbage", ("192.0.2.1", 5080), False),
    ],
)
def test_sender_behind_nat(via: str, source: tuple[str, int], behind: bool) -> None:
    """The sender does not know the address it is seen from: another IP in its Via, or,
    having asked for rport, another port. A host name says nothing either way."""
    assert sender_behind_nat(Request("INVITE", "sip:x@y", [("Via", via)]), source) is behind


def test_every_network_input_is_in_the_tables() -> None:
    """Received bytes can never make a live transaction raise: every response and request
    retransmission is listed for every state but Terminated."""
    from callroster.sip.transaction import TRANSITIONS, TxEvent

    for kind, table in TRANSITIONS.items():
        inputs = (
            {TxEvent.REQUEST, TxEvent.ACK}
            if kind == "server-invite"
            else {TxEvent.REQUEST}
            if kind == "server-non-invite"
            else {TxEvent.PROVISIONAL, TxEvent.SUCCESS, TxEvent.FAILURE}
        )
        for state, moves in table.items():
            assert inputs <= set(moves), (kind, state)


def test_serialised_requests_round_trip() -> None:
    tx = ClientNonInviteTransaction(request("INFO"), PEER, "udp", 0.0)
    assert parse_message(tx.data) == parse_message(serialise(tx.request))
