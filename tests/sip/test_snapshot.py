"""A dialog written down (sip/snapshot.py) and ended from a fresh endpoint, as a restarted
service ends the calls of the one killed before it: the orphan's BYE is the BYE the first
endpoint would have sent, but for a CSeq above any it used."""

from __future__ import annotations

import pytest
from tests.sip.peers import ANSWER_SDP, SippUac, bridge, send

from callroster.sip.endpoint import CallAcknowledged, IncomingCall, SipEndpoint
from callroster.sip.message import Request, parse_message
from callroster.sip.snapshot import CSEQ_MARGIN, DialogSnapshot


def _established() -> tuple[SipEndpoint, SippUac]:
    ep, peer = bridge(), SippUac()
    send(ep, peer, peer.invite(), 0.0)
    assert isinstance(ep.events()[0], IncomingCall)
    ep.answer(peer.call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=0.0)
    peer.learn(ep.datagrams()[0].data)
    send(ep, peer, peer.ack(), 0.01)
    assert ep.events() == [CallAcknowledged(peer.call_id)]
    return ep, peer


def test_a_fresh_endpoint_ends_the_dialog_as_the_first_would_have() -> None:
    first, peer = _established()
    snapshot = first.dialog_snapshot(peer.call_id)
    assert snapshot is not None
    kept = DialogSnapshot.from_json(snapshot.to_json())
    assert kept == snapshot

    first.hangup(peer.call_id, 1.0)
    [bye_out] = first.datagrams()
    fresh = bridge()
    fresh.end_orphan(kept, 5.0)
    [orphan_out] = fresh.datagrams()

    bye, orphan = parse_message(bye_out.data), parse_message(orphan_out.data)
    assert isinstance(bye, Request) and isinstance(orphan, Request)
    assert orphan.method == "BYE" and orphan.uri == bye.uri
    assert (orphan_out.destination, orphan_out.transport) == (bye_out.destination, "udp")
    for header in ("From", "To", "Call-ID"):
        assert orphan.get(header) == bye.get(header), header
    assert orphan.get("CSeq") == f"{CSEQ_MARGIN} BYE"
    assert int((bye.get("CSeq") or "").split()[0]) < CSEQ_MARGIN
    assert fresh.events() == []  # nothing to report: the fresh endpoint holds no call


def test_no_snapshot_without_a_live_dialog() -> None:
    ep, peer = _established()
    assert ep.dialog_snapshot("no-such-call") is None
    ep.hangup(peer.call_id, 1.0)
    assert ep.dialog_snapshot(peer.call_id) is None


@pytest.mark.parametrize("text", ["", "{}", '{"role": "proxy"}', "[1, 2]"])
def test_a_broken_snapshot_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a dialog snapshot"):
        DialogSnapshot.from_json(text)
