"""Dialogs (RFC 3261 12-15) and session timer terms (RFC 4028), without an endpoint."""

from __future__ import annotations

import pytest

from callroster.sip.dialog import CSeqOutOfOrder, Dialog, DialogError, DialogState, next_hop
from callroster.sip.message import BadRequest, Request, Response, response_to
from callroster.sip.session_timer import (
    SessionIntervalTooSmall,
    SessionTerms,
    SessionTimer,
    negotiate_as_uac,
    negotiate_as_uas,
    parse_session_expires,
)

D = DialogState
VIA = "SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKnew"


def invite(*extra: tuple[str, str], cseq: int = 7) -> Request:
    return Request(
        "INVITE",
        "sip:bridge@192.0.2.2",
        [
            ("Via", "SIP/2.0/UDP 192.0.2.1:5061;branch=z9hG4bK-1"),
            ("From", '"Alice" <sip:alice@example.org>;tag=a1'),
            ("To", "<sip:bridge@192.0.2.2>"),
            ("Call-ID", "c1@example.org"),
            ("CSeq", f"{cseq} INVITE"),
            ("Contact", "<sip:alice@192.0.2.1:5061;transport=tcp>"),
            *extra,
        ],
    )


def in_dialog(method: str, cseq: int) -> Request:
    return Request(
        method,
        "sip:bridge@192.0.2.2",
        [
            ("Via", "SIP/2.0/UDP 192.0.2.1:5061;branch=z9hG4bK-9"),
            ("From", "<sip:alice@example.org>;tag=a1"),
            ("To", "<sip:bridge@192.0.2.2>;tag=b1"),
            ("Call-ID", "c1@example.org"),
            ("CSeq", f"{cseq} {method}"),
        ],
    )


ROUTES = ("Record-Route", "<sip:p1.example.org;lr>, <sip:p2.example.org;lr>")


def test_uas_dialog_from_an_invite() -> None:
    dialog = Dialog.for_uas(invite(ROUTES), "b1")
    assert (dialog.call_id, dialog.local_tag, dialog.remote_tag) == ("c1@example.org", "b1", "a1")
    assert dialog.remote_target == "sip:alice@192.0.2.1:5061;transport=tcp"
    assert dialog.route_set == ("<sip:p1.example.org;lr>", "<sip:p2.example.org;lr>")
    assert dialog.remote_cseq == 7 and dialog.state is D.EARLY
    assert dialog.matches(in_dialog("BYE", 8))
    bye = dialog.create_request("BYE", VIA)
    assert bye.uri == dialog.remote_target
    assert bye.get_all("Route") == ["<sip:p1.example.org;lr>", "<sip:p2.example.org;lr>"]
    assert bye.get("CSeq") == "1 BYE" and bye.get("To") == '"Alice" <sip:alice@example.org>;tag=a1'
    assert dialog.next_hop("udp") == ("p1.example.org", 5060, "udp")


def test_uac_dialog_reverses_the_route_set() -> None:
    sent = invite()
    ok = response_to(
        sent, 200, "OK", to_tag="b9", extra_headers=[ROUTES, ("Contact", "<sip:bob@198.51.100.1>")]
    )
    dialog = Dialog.for_uac(sent, ok)
    assert dialog.route_set == ("<sip:p2.example.org;lr>", "<sip:p1.example.org;lr>")
    assert (dialog.local_tag, dialog.remote_tag, dialog.state) == ("a1", "b9", D.CONFIRMED)
    assert dialog.create_request("INFO", VIA).get("CSeq") == "8 INFO"
    ack = dialog.create_ack(7, VIA)
    assert ack.get("CSeq") == "7 ACK" and dialog.last_ack is not None and dialog.local_cseq == 8


def test_a_dialog_needs_a_from_tag_and_a_sip_contact() -> None:
    no_tag = Request("INVITE", "sip:b@h", [(n, v.split(";tag")[0]) for n, v in invite().headers])
    with pytest.raises(BadRequest):
        Dialog.for_uas(no_tag, "b1")
    tel = Request("INVITE", "sip:b@h", [*invite().headers[:5], ("Contact", "<tel:+441234>")])
    with pytest.raises(BadRequest):
        Dialog.for_uas(tel, "b1")


def test_remote_cseq_must_not_go_down() -> None:
    dialog = Dialog.for_uas(invite(), "b1")
    dialog.check_remote_cseq(in_dialog("INFO", 9))
    dialog.check_remote_cseq(in_dialog("ACK", 7))  # ACK and CANCEL are not checked
    with pytest.raises(CSeqOutOfOrder) as caught:
        dialog.check_remote_cseq(in_dialog("INFO", 8))
    assert caught.value.code == 500
    assert caught.value.response_for(in_dialog("INFO", 8)).status == 500


def test_the_2xx_is_resent_until_the_ack() -> None:
    dialog = Dialog.for_uas(invite(), "b1")
    dialog.answered(7, b"200", 0.0, reliable=False)
    resends = []
    while (deadline := dialog.next_timer()) is not None and deadline < 10:
        alarms = dialog.handle_timer(deadline)
        resends.append((deadline, alarms.resend))
    assert resends == [(0.5, b"200"), (1.5, b"200"), (3.5, b"200"), (7.5, b"200")]
    assert dialog.acknowledged(in_dialog("ACK", 7))
    assert not dialog.acknowledged(in_dialog("ACK", 7))  # a retransmitted ACK
    assert dialog.next_timer() is None
    dialog.end()
    assert dialog.history == [D.EARLY, D.ANSWERED, D.CONFIRMED, D.TERMINATED]


def test_no_ack_within_64_t1() -> None:
    dialog = Dialog.for_uas(invite(), "b1")
    dialog.answered(7, b"200", 0.0, reliable=True)
    assert dialog.next_timer() == 32.0  # no resends on TCP, only the give-up
    assert dialog.handle_timer(32.0).ack_timed_out
    assert dialog.state is D.ANSWERED  # ending it (with BYE) is the owner's move


def test_illegal_dialog_moves_raise() -> None:
    dialog = Dialog.for_uas(invite(), "b1")
    dialog.answered(7, b"200", 0.0, reliable=False)
    with pytest.raises(DialogError):
        dialog.rejected()
    dialog.end()
    with pytest.raises(DialogError):
        dialog.answered(8, b"200", 1.0, reliable=False)


def test_next_hop() -> None:
    assert next_hop("sip:a@h.example", "tcp") == ("h.example", 5060, "tcp")
    # A sips: URI is reached over TLS only (RFC 3261 26.2.2), whatever the call came on.
    assert next_hop("sips:a@h.example", "udp") == ("h.example", 5061, "tls")
    assert next_hop("sip:a@h.example:5071;transport=TLS", "udp") == ("h.example", 5071, "tls")
    assert next_hop("sip:a@[2001:db8::1]:5070;transport=TCP", "udp") == ("2001:db8::1", 5070, "tcp")
    with pytest.raises(BadRequest):
        next_hop("tel:+441234", "udp")


NAT_VIA = "SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK-1;rport"  # the phone's own idea
NAT_CONTACT = "<sip:alice@192.168.1.20:5062>"


def _behind_nat(request: Request, via: str, contact: str | None = None) -> Request:
    """``request`` as a phone behind a NAT writes it: its private address in Via (and in
    Contact, when given)."""
    replace = {"Via": via, "Contact": contact}
    headers = [(name, replace.get(name) or value) for name, value in request.headers]
    return Request(request.method, request.uri, headers, request.body)


def test_in_dialog_requests_go_where_a_natted_peers_requests_come_from() -> None:
    """Its Contact names its private address: our BYE goes back through the NAT's mapping
    (the INVITE's source), the Request-URI is still the Contact."""
    request = _behind_nat(invite(), NAT_VIA, NAT_CONTACT)
    dialog = Dialog.for_uas(request, "b1")
    assert dialog.next_hop("udp") == ("192.168.1.20", 5062, "udp")  # before: the Contact
    dialog.heard_from(request, ("192.0.2.9", 40000), "udp")
    assert dialog.next_hop("udp") == ("192.0.2.9", 40000, "udp")
    bye = dialog.create_request("BYE", VIA)
    assert bye.uri == "sip:alice@192.168.1.20:5062"
    # A later request from elsewhere (the NAT's mapping moved) moves the flow with it...
    dialog.heard_from(_behind_nat(in_dialog("INFO", 8), NAT_VIA), ("192.0.2.9", 40002), "udp")
    assert dialog.next_hop("udp") == ("192.0.2.9", 40002, "udp")
    # ...and one from a peer that knows its address (no NAT) goes back to the Contact.
    dialog.heard_from(in_dialog("INFO", 9), ("192.0.2.1", 5061), "udp")
    assert dialog.next_hop("udp") == ("192.168.1.20", 5062, "udp")


def test_a_peer_that_knows_its_address_is_reached_at_its_contact() -> None:
    """The Via says where it came from: the Contact is taken at its word, even a port the
    requests did not come from (a phone may send from one port and listen on another)."""
    dialog = Dialog.for_uas(invite(), "b1")
    dialog.heard_from(invite(), ("192.0.2.1", 5061), "udp")
    assert dialog.next_hop("udp") == ("192.0.2.1", 5061, "tcp")
    dialog.heard_from(invite(), ("192.0.2.1", 33333), "tcp")  # no rport: not a NAT's doing
    assert dialog.next_hop("udp") == ("192.0.2.1", 5061, "tcp")


def test_a_route_set_wins_over_the_nat_flow() -> None:
    """Behind a record-routing proxy, the proxy reaches the phone: requests go to it."""
    request = _behind_nat(invite(ROUTES), NAT_VIA)
    dialog = Dialog.for_uas(request, "b1")
    dialog.heard_from(request, ("192.0.2.9", 40000), "udp")
    assert dialog.next_hop("udp") == ("p1.example.org", 5060, "udp")


# -- session timers ------------------------------------------------------------------------


def test_parse_session_expires() -> None:
    assert parse_session_expires("1800;refresher=uac") == (1800, "uac")
    assert parse_session_expires(" 90 ; refresher=UAS") == (90, "uas")
    assert parse_session_expires("90;refresher=other") == (90, None)
    for bad in ("", "x", "-1", "99999999999"):
        with pytest.raises(BadRequest):
            parse_session_expires(bad)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([], None),
        ([("Session-Expires", "1800")], SessionTerms(1800, "uas")),
        ([("Session-Expires", "1800"), ("Supported", "timer")], SessionTerms(1800, "uac", True)),
        ([("Session-Expires", "90;refresher=uas"), ("k", "timer")], SessionTerms(90, "uas", True)),
        ([("Session-Expires", "90;refresher=uac")], SessionTerms(90, "uas")),  # cannot refresh
    ],
)
def test_negotiate_as_uas(headers: list[tuple[str, str]], expected: SessionTerms | None) -> None:
    assert negotiate_as_uas(invite(*headers)) == expected


def test_too_small_an_interval_is_refused_with_422() -> None:
    request = invite(("Session-Expires", "89"))
    with pytest.raises(SessionIntervalTooSmall) as caught:
        negotiate_as_uas(request)
    response = caught.value.response_for(request, to_tag="b1")
    assert (response.status, response.get("Min-SE")) == (422, "90")


def test_negotiate_as_uac() -> None:
    def ok(*headers: tuple[str, str]) -> Response:
        return response_to(invite(), 200, "OK", to_tag="b", extra_headers=headers)

    assert negotiate_as_uac(ok()) is None
    assert negotiate_as_uac(ok(("Session-Expires", "600;refresher=uas"))) == SessionTerms(
        600, "uas"
    )
    assert negotiate_as_uac(ok(("Session-Expires", "600"))) == SessionTerms(600, "uac")
    assert negotiate_as_uac(ok(("Session-Expires", "nonsense"))) is None


def test_session_timer_deadlines() -> None:
    ours = SessionTimer(90, we_refresh=True, now=0.0)
    assert (ours.refresh_at, ours.expires_at, ours.due(44.9), ours.due(45.0)) == (
        45.0,
        90.0,
        None,
        "refresh",
    )
    ours.refresh_started()
    assert ours.next_deadline() == 90.0 and ours.due(90.0) == "expire"
    ours.refresh_failed(50.0)
    assert ours.refresh_at == 54.0
    ours.refreshed(60.0, None, we_are_uac=True)
    assert ours.refresh_at == 105.0
    theirs = SessionTimer(1800, we_refresh=False, now=0.0)
    assert theirs.refresh_at is None and theirs.expires_at == 1768.0
    theirs.refreshed(100.0, SessionTerms(900, "uas"), we_are_uac=False)
    assert theirs.we_refresh and theirs.interval == 900  # a refresher=uas refresh from them
    timer = SessionTimer.from_terms(SessionTerms(90, "uac"), we_are_uac=False, now=0.0)
    assert not timer.we_refresh and timer.expires_at == 60.0
