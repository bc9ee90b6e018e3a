"""Our INVITE challenged with 401/407 and sent again with digest credentials: our UAC against
our UAS (which sends the challenges), joined by ``pump`` on a fake clock."""

from __future__ import annotations

import hashlib
import logging
import re

import pytest
from tests.sip.peers import ANSWER_SDP, SDP, TARGET, advance, pair, parse_all, pump, statuses

from callroster.sip.endpoint import (
    CallAnswered,
    CallCancelled,
    CallFailed,
    Credentials,
    Event,
    IncomingCall,
    Outgoing,
    SipEndpoint,
)
from callroster.sip.message import Request, Response, serialise

CALLEE = ("127.0.0.2", 5070)
TRUNK = Credentials("trunk-user", "correct horse battery")
PARAM = re.compile(r'([a-z]+)=("(?:[^"\\]|\\.)*"|[^,\s]+)')


def challenge(nonce: str = "n1", *, realm: str = "carrier", extra: str = "") -> str:
    return f'Digest realm="{realm}", nonce="{nonce}", qop="auth", opaque="op"{extra}'


def dial(a: SipEndpoint, b: SipEndpoint, credentials: Credentials | None = TRUNK) -> str:
    call_id = a.dial(
        TARGET,
        CALLEE,
        "udp",
        0.0,
        body=SDP,
        content_type="application/sdp",
        credentials=credentials,
    )
    pump(a, b, 0.0)
    [incoming] = b.events()
    assert isinstance(incoming, IncomingCall) and incoming.call_id == call_id
    return call_id


def refuse(
    a: SipEndpoint, b: SipEndpoint, call_id: str, value: str, *, status: int = 401, now: float
) -> list[Outgoing]:
    """The callee (or a proxy) answers the pending INVITE with a challenge."""
    header = "Proxy-Authenticate" if status == 407 else "WWW-Authenticate"
    reason = "Proxy Authentication Required" if status == 407 else "Unauthorized"
    b.answer(call_id, status, reason, extra_headers=[(header, value)], now=now)
    return pump(a, b, now)


def requests(sent: list[Outgoing], method: str) -> list[Request]:
    return [m for m in parse_all(sent) if isinstance(m, Request) and m.method == method]


def params(value: str) -> dict[str, str]:
    assert value.startswith("Digest ")
    return {
        name: text[1:-1] if text.startswith('"') else text
        for name, text in PARAM.findall(value.removeprefix("Digest "))
    }


def verifies(request: Request, header: str, credentials: Credentials) -> bool:
    """Checks the request's digest response as a registrar would (RFC 7616 3.4.1, qop=auth)."""
    got = params(request.get(header) or "")
    name = {"MD5": "md5", "SHA-256": "sha256"}[got["algorithm"]]

    def h(text: str) -> str:
        return hashlib.new(name, text.encode()).hexdigest()

    assert got["uri"] == request.uri and got["username"] == credentials.username
    ha1 = h(f"{credentials.username}:{got['realm']}:{credentials.password}")
    ha2 = h(f"{request.method}:{got['uri']}")
    expected = h(f"{ha1}:{got['nonce']}:{got['nc']}:{got['cnonce']}:{got['qop']}:{ha2}")
    return got["response"] == expected


def next_incoming(b: SipEndpoint, call_id: str) -> Request:
    [incoming] = b.events()
    assert isinstance(incoming, IncomingCall) and incoming.call_id == call_id
    return incoming.request


def answer(a: SipEndpoint, b: SipEndpoint, call_id: str, now: float) -> list[Outgoing]:
    b.answer(call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=now)
    return pump(a, b, now)


def settle(a: SipEndpoint, b: SipEndpoint, now: float) -> None:
    advance(a, b, now + 300.0)
    for ep in (a, b):
        assert ep.counts["server_transactions"] == 0 and ep.counts["client_transactions"] == 0


# -- the flows ------------------------------------------------------------------------------


def test_401_then_200() -> None:
    a, b = pair()
    call_id = dial(a, b)
    sent = refuse(a, b, call_id, challenge(extra=", algorithm=SHA-256"), now=0.1)
    assert statuses(sent) == [401, 100]
    [ack] = requests(sent, "ACK")  # the INVITE transaction's ACK for the 401 (same branch)
    assert ack.get("CSeq") == "1 ACK" and ack.get("Authorization") is None
    [retry] = requests(sent, "INVITE")
    assert a.events() == []  # the challenged attempt is not reported

    incoming = next_incoming(b, call_id)  # the callee sees the same call again
    assert incoming.get("Authorization") == retry.get("Authorization")
    assert retry.get("Call-ID") == call_id and retry.get("CSeq") == "2 INVITE"
    assert retry.body == SDP and retry.get("Content-Type") == "application/sdp"
    assert params(retry.get("Authorization") or "")["qop"] == "auth"
    assert params(retry.get("Authorization") or "")["algorithm"] == "SHA-256"
    assert params(retry.get("Authorization") or "")["opaque"] == "op"
    assert params(retry.get("Authorization") or "")["cnonce"] == "a4"  # from ids(): a3 is Via's
    assert retry.get("Proxy-Authorization") is None
    assert verifies(retry, "Authorization", TRUNK)
    assert not verifies(retry, "Authorization", Credentials(TRUNK.username, "wrong"))

    sent = answer(a, b, call_id, 0.5)
    [answered] = a.events()
    assert isinstance(answered, CallAnswered) and answered.response.status == 200
    [ack] = requests(sent, "ACK")  # the ACK for the 2xx carries the INVITE's credentials
    assert ack.get("CSeq") == "2 ACK" and ack.get("Authorization") == retry.get("Authorization")
    a.hangup(call_id, 5.0)
    [bye] = requests(pump(a, b, 5.0), "BYE")
    assert bye.get("CSeq") == "3 BYE"
    settle(a, b, 5.0)
    assert a.counts["calls"] == b.counts["calls"] == 0


def test_the_retry_keeps_the_call_and_changes_the_branch() -> None:
    a, b = pair()
    call_id = a.dial(TARGET, CALLEE, "udp", 0.0, body=SDP, credentials=TRUNK)
    [invite_out] = a.datagrams()
    b.receive(invite_out.data, ("127.0.0.1", 5060), "udp", 0.0)
    pump(a, b, 0.0)
    first = parse_all([invite_out])[0]
    assert isinstance(first, Request)
    next_incoming(b, call_id)
    [retry] = requests(refuse(a, b, call_id, challenge(), now=0.1), "INVITE")
    for name in ("Call-ID", "From", "To", "Contact", "Max-Forwards", "Session-Expires"):
        assert retry.get(name) == first.get(name), name
    assert retry.uri == first.uri and retry.body == first.body
    sent_by, _, branch = (first.get("Via") or "").partition(";branch=")
    assert (retry.get("Via") or "").startswith(sent_by + ";branch=")
    assert branch and branch not in (retry.get("Via") or "")


def test_407_from_a_proxy() -> None:
    a, b = pair()
    call_id = dial(a, b)
    sent = refuse(a, b, call_id, challenge(realm="proxy.carrier"), status=407, now=0.1)
    [retry] = requests(sent, "INVITE")
    assert retry.get("Authorization") is None
    assert params(retry.get("Proxy-Authorization") or "")["realm"] == "proxy.carrier"
    assert verifies(retry, "Proxy-Authorization", TRUNK)
    next_incoming(b, call_id)
    sent = answer(a, b, call_id, 0.5)
    assert [type(e) for e in a.events()] == [CallAnswered]
    [ack] = requests(sent, "ACK")
    assert ack.get("Proxy-Authorization") == retry.get("Proxy-Authorization")
    settle(a, b, 0.5)


def test_a_proxy_then_the_callee_each_challenge_once() -> None:
    a, b = pair()
    call_id = dial(a, b)
    refuse(a, b, call_id, challenge("p1", realm="proxy"), status=407, now=0.1)
    next_incoming(b, call_id)
    [retry] = requests(refuse(a, b, call_id, challenge("u1", realm="callee"), now=0.2), "INVITE")
    assert retry.get("CSeq") == "3 INVITE"
    proxy, callee = (
        params(retry.get("Proxy-Authorization") or ""),
        params(retry.get("Authorization") or ""),
    )
    assert (proxy["nonce"], proxy["nc"]) == ("p1", "00000002")  # the proxy's nonce, used again
    assert (callee["nonce"], callee["nc"]) == ("u1", "00000001")
    assert verifies(retry, "Proxy-Authorization", TRUNK) and verifies(retry, "Authorization", TRUNK)
    next_incoming(b, call_id)
    answer(a, b, call_id, 0.5)
    assert [type(e) for e in a.events()] == [CallAnswered]


def test_a_stale_nonce_is_answered_again() -> None:
    a, b = pair()
    call_id = dial(a, b)
    refuse(a, b, call_id, challenge("n1"), now=0.1)
    next_incoming(b, call_id)
    sent = refuse(a, b, call_id, challenge("n2", extra=", stale=TRUE"), now=0.2)
    [retry] = requests(sent, "INVITE")
    assert retry.get("CSeq") == "3 INVITE" and len(retry.get_all("Authorization")) == 1
    got = params(retry.get("Authorization") or "")
    assert (got["nonce"], got["nc"]) == ("n2", "00000001")
    assert verifies(retry, "Authorization", TRUNK)
    assert a.events() == []
    next_incoming(b, call_id)
    answer(a, b, call_id, 0.5)
    assert [type(e) for e in a.events()] == [CallAnswered]


def test_a_second_challenge_that_is_not_stale_fails_the_call() -> None:
    a, b = pair()
    call_id = dial(a, b)
    refuse(a, b, call_id, challenge("n1"), now=0.1)
    next_incoming(b, call_id)
    sent = refuse(a, b, call_id, challenge("n2"), now=0.2)  # a new nonce, but not stale
    assert requests(sent, "INVITE") == [] and len(requests(sent, "ACK")) == 1
    assert a.events() == [CallFailed(call_id, 401, "Unauthorized")]
    settle(a, b, 0.2)
    assert a.counts["calls"] == b.counts["calls"] == 0


def test_stale_with_the_same_nonce_fails_the_call() -> None:
    a, b = pair()
    call_id = dial(a, b)
    refuse(a, b, call_id, challenge("n1"), now=0.1)
    next_incoming(b, call_id)
    refuse(a, b, call_id, challenge("n1", extra=", stale=true"), now=0.2)
    assert a.events() == [CallFailed(call_id, 401, "Unauthorized")]


def test_endless_stale_challenges_stop_after_three_retries() -> None:
    a, b = pair()
    call_id = dial(a, b)
    events: list[Event] = []
    for attempt in range(1, 10):
        sent = refuse(a, b, call_id, challenge(f"n{attempt}", extra=", stale=true"), now=attempt)
        events += a.events()
        if not requests(sent, "INVITE"):
            break
        next_incoming(b, call_id)
    assert attempt == 4  # CSeq 1 to 4: three INVITEs sent again
    assert events == [CallFailed(call_id, 401, "Unauthorized")]


def test_without_credentials_a_401_fails_the_call() -> None:
    a, b = pair()
    call_id = dial(a, b, credentials=None)
    sent = refuse(a, b, call_id, challenge(), now=0.1)
    assert requests(sent, "INVITE") == []
    assert a.events() == [CallFailed(call_id, 401, "Unauthorized")]
    settle(a, b, 0.1)


@pytest.mark.parametrize(
    "value",
    [
        'Basic realm="carrier"',
        'Digest realm="carrier"',
        'Digest realm="carrier", nonce="n", algorithm=AKAv1-MD5',
        'Digest realm="carrier, nonce="n',
    ],
)
def test_a_challenge_we_cannot_answer_fails_the_call(value: str) -> None:
    a, b = pair()
    call_id = dial(a, b)
    sent = refuse(a, b, call_id, value, now=0.1)
    assert requests(sent, "INVITE") == []
    assert a.events() == [CallFailed(call_id, 401, "Unauthorized")]


def test_a_407_without_proxy_authenticate_fails_the_call() -> None:
    a, b = pair()
    call_id = dial(a, b)
    b.answer(call_id, 407, "Proxy Authentication Required", now=0.1)
    sent = pump(a, b, 0.1)
    assert requests(sent, "INVITE") == []
    assert a.events() == [CallFailed(call_id, 407, "Proxy Authentication Required")]


def test_cancel_after_the_retry_targets_the_new_invite() -> None:
    a, b = pair()
    call_id = dial(a, b)
    [retry] = requests(refuse(a, b, call_id, challenge(), now=0.1), "INVITE")
    next_incoming(b, call_id)
    b.answer(call_id, 180, "Ringing", now=0.2)
    pump(a, b, 0.2)
    assert [type(e).__name__ for e in a.events()] == ["CallProgressed"]
    a.hangup(call_id, 1.0)
    sent = pump(a, b, 1.0)
    [cancel] = requests(sent, "CANCEL")
    assert cancel.get("CSeq") == "2 CANCEL" and cancel.get("Via") == retry.get("Via")
    assert cancel.uri == retry.uri
    assert sorted(statuses(sent)) == [200, 487]
    assert b.events() == [CallCancelled(call_id)] and a.events() == []
    settle(a, b, 1.0)
    assert a.counts["calls"] == b.counts["calls"] == 0


def test_a_hangup_before_the_challenge_arrives_ends_the_call_quietly() -> None:
    a, b = pair()
    call_id = a.dial(TARGET, CALLEE, "udp", 0.0, body=SDP, credentials=TRUNK)
    [invite] = a.datagrams()
    b.receive(invite.data, ("127.0.0.1", 5060), "udp", 0.0)
    b.datagrams()  # the 100 Trying is lost: a stays Calling, so the CANCEL has to wait
    next_incoming(b, call_id)
    a.hangup(call_id, 0.05)
    assert a.datagrams() == []
    sent = refuse(a, b, call_id, challenge(), now=0.1)
    assert [m.method for m in parse_all(sent) if isinstance(m, Request)] == ["ACK"]
    assert a.events() == [] and a.counts["calls"] == 0
    settle(a, b, 0.1)


def test_a_challenged_call_that_nobody_answers_times_out() -> None:
    a, b = pair()
    call_id = dial(a, b)
    refuse(a, b, call_id, challenge(), now=0.1)
    next_incoming(b, call_id)
    advance(a, b, 400.0)  # b never answers the second INVITE: a gives up at answer_timeout
    [failed] = a.events()
    assert isinstance(failed, CallFailed) and failed.status == 487  # after our CANCEL at 180 s
    assert a.counts["calls"] == 0


def test_a_retransmitted_401_does_not_send_a_third_invite() -> None:
    a, b = pair()
    call_id = dial(a, b)
    b.answer(
        call_id, 401, "Unauthorized", extra_headers=[("WWW-Authenticate", challenge())], now=0.1
    )
    [unauthorized] = b.datagrams()
    for now in (0.1, 0.6):
        a.receive(unauthorized.data, CALLEE, "udp", now)
    sent = a.datagrams()
    assert [m.method for m in parse_all(sent) if isinstance(m, Request)] == [
        "ACK",
        "INVITE",
        "ACK",
    ]
    assert a.events() == []


def test_the_password_is_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    a, b = pair()
    call_id = dial(a, b)
    refuse(a, b, call_id, challenge("n1"), now=0.1)
    next_incoming(b, call_id)
    refuse(a, b, call_id, challenge("n2"), now=0.2)
    assert caplog.records and TRUNK.password not in caplog.text
    assert TRUNK.password not in repr(TRUNK)


def test_a_401_for_a_call_we_did_not_start_is_dropped() -> None:
    a, _ = pair()
    stray = Response(
        401,
        "Unauthorized",
        [
            ("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKnothing"),
            ("From", "<sip:x@127.0.0.1>;tag=1"),
            ("To", "<sip:y@127.0.0.2>;tag=2"),
            ("Call-ID", "unknown@127.0.0.1"),
            ("CSeq", "1 INVITE"),
            ("WWW-Authenticate", challenge()),
        ],
    )
    a.receive(serialise(stray), CALLEE, "udp", 0.0)
    assert a.datagrams() == [] and a.events() == []


def test_credentials_that_cannot_go_into_a_header_fail_the_call() -> None:
    a, b = pair()
    call_id = dial(a, b, credentials=Credentials("user\r\nX-Evil: 1", "p"))
    sent = refuse(a, b, call_id, challenge(), now=0.1)
    assert requests(sent, "INVITE") == []
    assert a.events() == [CallFailed(call_id, 401, "Unauthorized")]
