"""SIP message parsing, serialising and stream framing (callroster.sip.message and .uri)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callroster.sip.message import (
    BadRequest,
    MessageTooLarge,
    Request,
    Response,
    SipError,
    VersionNotSupported,
    branch_of,
    header_params,
    parse_cseq,
    parse_message,
    parse_stream,
    response_to,
    serialise,
    via_params,
    via_sent_by,
)
from callroster.sip.uri import NameAddr, SipUri, parse_name_addr, parse_uri

# No example database: it would write .hypothesis/ into the source tree.
FUZZ = settings(max_examples=300, deadline=None, database=None)
STRUCTURED = settings(FUZZ, max_examples=150, suppress_health_check=[HealthCheck.too_slow])

SDP = (
    b"v=0\r\n"
    b"o=user1 53655765 2353687637 IN IP4 127.0.1.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 127.0.1.1\r\n"
    b"t=0 0\r\n"
    b"m=audio 6000 RTP/AVP 0\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
)


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


# What sipp's built-in uac scenario sends (sipp -sn uac), with its SDP.
SIPP_INVITE = (
    crlf(
        "INVITE sip:service@127.0.0.1:5060 SIP/2.0\n"
        "Via: SIP/2.0/UDP 127.0.1.1:5061;branch=z9hG4bK-3862-1-0\n"
        "From: sipp <sip:sipp@127.0.1.1:5061>;tag=3862SIPpTag001\n"
        "To: service <sip:service@127.0.0.1:5060>\n"
        "Call-ID: 1-3862@127.0.1.1\n"
        "CSeq: 1 INVITE\n"
        "Contact: sip:sipp@127.0.1.1:5061\n"
        "Max-Forwards: 70\n"
        "Subject: Performance Test\n"
        "Content-Type: application/sdp\n"
        f"Content-Length:   {len(SDP)}\n"
        "\n"
    )
    + SDP
)

OPTIONS = crlf(
    "OPTIONS sip:bridge.example.org SIP/2.0\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\n"
    "Max-Forwards: 70\n"
    "To: <sip:bridge.example.org>\n"
    "From: <sip:ping@proxy.example.org>;tag=1928301774\n"
    "Call-ID: a84b4c76e66710@pc33.atlanta.example.org\n"
    "CSeq: 63104 OPTIONS\n"
    "Accept: application/sdp\n"
    "Content-Length: 0\n"
    "\n"
)

# RFC 3665 3.2 style: two proxies on the path, Via list folded into one line.
OK_WITH_RECORD_ROUTE = (
    crlf(
        "SIP/2.0 200 OK\n"
        "Via: SIP/2.0/TCP ss2.biloxi.example.com:5060;branch=z9hG4bK721e4.1"
        ";received=192.0.2.222\n"
        "Via: SIP/2.0/TCP ss1.atlanta.example.com:5060;branch=z9hG4bK2d4790.1"
        ";received=192.0.2.111, SIP/2.0/TCP client.atlanta.example.com:5060"
        ";branch=z9hG4bK74bf9;received=192.0.2.101\n"
        "Record-Route: <sip:ss2.biloxi.example.com;lr>, <sip:ss1.atlanta.example.com;lr>\n"
        "From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\n"
        "To: Bob <sip:bob@biloxi.example.com>;tag=314159\n"
        "Call-ID: 3848276298220188511@atlanta.example.com\n"
        "CSeq: 2 INVITE\n"
        "Contact: <sip:bob@client.biloxi.example.com;transport=tcp>\n"
        "Content-Type: application/sdp\n"
        f"Content-Length: {len(SDP)}\n"
        "\n"
    )
    + SDP
)

COMPACT = crlf(
    "MESSAGE sip:user@example.com SIP/2.0\n"
    "v: SIP/2.0/UDP host1.example.com;branch=z9hG4bK-compact\n"
    'f: "Caller" <sip:caller@example.com>;tag=abc\n'
    "t: <sip:user@example.com>\n"
    "i: compact-1@host1\n"
    "CSeq: 7 MESSAGE\n"
    "m: <sip:caller@host1.example.com>\n"
    "k: timer, 100rel\n"
    "s: hi there\n"
    "c: text/plain\n"
    "e: gzip\n"
    "l: 5\n"
    "\n"
    "hello"
)

# RFC 4475 3.1.1.1 flavour: whitespace around colons and a Subject folded over three lines.
FOLDED = crlf(
    "OPTIONS sip:bridge.example.org SIP/2.0\n"
    "Via  :  SIP/2.0/UDP 192.0.2.2;branch=z9hG4bKkdjuw\n"
    "To: <sip:bridge.example.org>\n"
    "From: <sip:a@example.org>;tag=1\n"
    "Call-ID: folded@192.0.2.2\n"
    "CSeq: 1 OPTIONS\n"
    "Subject: I know you're there,\n"
    "         pick up the phone\n"
    "\tand talk to me!\n"
    "\n"
)

VALID = [SIPP_INVITE, OPTIONS, OK_WITH_RECORD_ROUTE, COMPACT, FOLDED]

# A minimal valid request to break one piece at a time.
BASE = (
    "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\n"
    "From: <sip:a@example.org>;tag=1\n"
    "To: <sip:b@example.org>\n"
    "Call-ID: base@10.0.0.1\n"
    "CSeq: 1 OPTIONS\n"
)


def request_bytes(start: str = "OPTIONS sip:b@example.org SIP/2.0", headers: str = BASE) -> bytes:
    return crlf(f"{start}\n{headers}\n")


def without(header: str) -> str:
    return "".join(line + "\n" for line in BASE.splitlines() if not line.startswith(header))


# -- real messages -----------------------------------------------------------------------


def test_sipp_invite() -> None:
    msg = parse_message(SIPP_INVITE)
    assert isinstance(msg, Request)
    assert (msg.method, msg.uri) == ("INVITE", "sip:service@127.0.0.1:5060")
    assert msg.body == SDP
    assert msg.get("content-type") == "application/sdp"
    assert msg.get("CONTENT-LENGTH") == str(len(SDP))
    assert parse_cseq(msg.get("CSeq") or "") == (1, "INVITE")
    via = msg.get("Via") or ""
    assert branch_of(via) == "z9hG4bK-3862-1-0"
    assert via_sent_by(via) == ("UDP", "127.0.1.1", 5061)
    sender = parse_name_addr(msg.get("From") or "")
    assert sender == NameAddr("sipp", "sip:sipp@127.0.1.1:5061", {"tag": "3862SIPpTag001"})
    assert sender.tag == "3862SIPpTag001"
    assert parse_name_addr(msg.get("To") or "").tag is None
    assert parse_uri(parse_name_addr(msg.get("Contact") or "").uri) == SipUri(
        "sip", "sipp", "127.0.1.1", 5061
    )


def test_options() -> None:
    msg = parse_message(OPTIONS)
    assert isinstance(msg, Request)
    assert msg.method == "OPTIONS"
    assert msg.body == b""
    assert via_params(msg.get("Via") or "") == {"branch": "z9hG4bK776asdhds", "rport": None}
    assert msg.get("Max-Forwards") == "70"
    assert msg.get("Expires") is None
    assert msg.get_all("Expires") == []


def test_ok_with_record_route() -> None:
    msg = parse_message(OK_WITH_RECORD_ROUTE)
    assert isinstance(msg, Response)
    assert (msg.status, msg.reason) == (200, "OK")
    vias = msg.get_all("Via")
    assert [via_sent_by(v)[1] for v in vias] == [
        "ss2.biloxi.example.com",
        "ss1.atlanta.example.com",
        "client.atlanta.example.com",
    ]
    assert [branch_of(v) for v in vias] == ["z9hG4bK721e4.1", "z9hG4bK2d4790.1", "z9hG4bK74bf9"]
    assert msg.get("Via") == vias[0]
    routes = [parse_name_addr(r) for r in msg.get_all("Record-Route")]
    assert [r.uri for r in routes] == [
        "sip:ss2.biloxi.example.com;lr",
        "sip:ss1.atlanta.example.com;lr",
    ]
    assert parse_uri(routes[0].uri).params == {"lr": None}
    assert parse_cseq(msg.get("CSeq") or "") == (2, "INVITE")
    assert msg.body == SDP


def test_compact_headers() -> None:
    msg = parse_message(COMPACT)
    expected = {
        "Call-ID": "compact-1@host1",
        "From": '"Caller" <sip:caller@example.com>;tag=abc',
        "To": "<sip:user@example.com>",
        "Via": "SIP/2.0/UDP host1.example.com;branch=z9hG4bK-compact",
        "Contact": "<sip:caller@host1.example.com>",
        "Content-Length": "5",
        "Content-Type": "text/plain",
        "Supported": "timer",
        "Subject": "hi there",
        "Content-Encoding": "gzip",
    }
    for name, value in expected.items():
        assert msg.get(name) == value, name
        assert msg.get(name.lower()) == value, name
    assert msg.get_all("Supported") == ["timer", "100rel"]
    assert msg.get("i") == "compact-1@host1"  # compact names work for lookup too
    assert msg.body == b"hello"


def test_folded_header() -> None:
    msg = parse_message(FOLDED)
    assert msg.get("Subject") == "I know you're there, pick up the phone and talk to me!"
    assert via_sent_by(msg.get("Via") or "") == ("UDP", "192.0.2.2", None)


def test_lf_only_line_endings() -> None:
    sdp = SDP.replace(b"\r\n", b"\n")
    data = SIPP_INVITE.replace(b"\r\n", b"\n").replace(
        f"Content-Length:   {len(SDP)}".encode(), f"Content-Length: {len(sdp)}".encode()
    )
    msg = parse_message(data)
    assert isinstance(msg, Request)
    assert msg.get("Call-ID") == "1-3862@127.0.1.1"
    assert msg.get("Content-Type") == "application/sdp"
    assert msg.body == sdp


def test_body_truncated_to_content_length_and_rest_without_it() -> None:
    msg = parse_message(request_bytes(headers=BASE + "Content-Length: 3\n") + b"abcdef")
    assert msg.body == b"abc"
    assert parse_message(request_bytes() + b"abcdef").body == b"abcdef"


def test_leading_crlf_ignored() -> None:
    assert parse_message(b"\r\n\r\n" + OPTIONS) == parse_message(OPTIONS)


def test_list_split_respects_quotes_and_brackets() -> None:
    headers = BASE + 'Contact: "Doe, John" <sip:j@h;x=a,b>, <sip:k@h>\nDate: Sat, 13 Nov 2010\n'
    msg = parse_message(request_bytes(headers=headers))
    assert msg.get_all("contact") == ['"Doe, John" <sip:j@h;x=a,b>', "<sip:k@h>"]
    assert msg.get_all("m") == msg.get_all("Contact")
    assert msg.get_all("Date") == ["Sat, 13 Nov 2010"]  # not a list header: never split


def test_version_is_case_insensitive() -> None:
    assert isinstance(parse_message(request_bytes("OPTIONS sip:b@example.org sip/2.0")), Request)


def test_reason_phrase_utf8_and_empty() -> None:
    msg = parse_message(crlf("SIP/2.0 486 Occupé\n" + BASE.replace("OPTIONS", "INVITE") + "\n"))
    assert isinstance(msg, Response) and msg.reason == "Occupé"
    msg = parse_message(crlf("SIP/2.0 200 \n" + BASE + "\n"))
    assert isinstance(msg, Response) and msg.reason == ""


# -- serialise -----------------------------------------------------------------------------


@pytest.mark.parametrize("data", VALID)
def test_round_trip(data: bytes) -> None:
    msg = parse_message(data)
    if msg.get("Content-Length") is None:
        # serialise() always writes a Content-Length; the rest is unchanged.
        assert FOLDED is data
        msg = replace(msg, headers=[*msg.headers, ("Content-Length", str(len(msg.body)))])
    assert parse_message(serialise(msg)) == msg
    assert serialise(parse_message(serialise(msg))) == serialise(msg)


def test_serialise_fixes_content_length() -> None:
    msg = Request(
        "MESSAGE",
        "sip:b@example.org",
        [("Via", "SIP/2.0/UDP h;branch=z9hG4bK1"), ("l", "99"), ("Subject", "x"), ("l", "1")],
        b"hello",
    )
    assert serialise(msg) == crlf(
        "MESSAGE sip:b@example.org SIP/2.0\n"
        "Via: SIP/2.0/UDP h;branch=z9hG4bK1\n"
        "l: 5\n"
        "Subject: x\n"
        "\n"
        "hello"
    )
    bare = Response(180, "Ringing", [("Via", "SIP/2.0/UDP h")])
    assert serialise(bare) == crlf("SIP/2.0 180 Ringing\nVia: SIP/2.0/UDP h\nContent-Length: 0\n\n")


def test_constructors_normalise_and_validate() -> None:
    built = Request("OPTIONS", "sip:x@y", [("Subject", "  hi \t")])
    assert built.headers == (("Subject", "hi"),)
    assert built == Request("OPTIONS", "sip:x@y", (("Subject", "hi"),))
    with pytest.raises(ValueError):
        Request("OPTIONS", "sip:x@y", [("Subject", "hi\r\nVia: evil")])
    with pytest.raises(ValueError):
        Request("OPTIONS", "sip:x@y", [("Bad Name", "x")])
    with pytest.raises(ValueError):
        Request("OPT IONS", "sip:x@y")
    with pytest.raises(ValueError):
        Request("OPTIONS", "no scheme")
    with pytest.raises(ValueError):
        Response(700, "Nope")
    with pytest.raises(ValueError):
        Response(200, "OK\r\nX: y")


# -- malformed input ---------------------------------------------------------------------------

MALFORMED = {
    "garbage start line": request_bytes("HELLO"),
    "request line with two parts": request_bytes("OPTIONS sip:b@example.org"),
    "request line with four parts": request_bytes("OPTIONS sip:b@example.org SIP/2.0 x"),
    "method not a token": request_bytes("OPT(IONS sip:b@example.org SIP/2.0"),
    "uri without scheme": request_bytes("OPTIONS example.org SIP/2.0"),
    "garbage version": request_bytes("OPTIONS sip:b@example.org HTTP/1.1"),
    "status code too long": request_bytes("SIP/2.0 2000 OK"),
    "status code not a number": request_bytes("SIP/2.0 abc OK"),
    "status code out of range": request_bytes("SIP/2.0 099 Low"),
    "empty": b"",
    "only keep-alive": b"\r\n\r\n",
    "no empty line": request_bytes()[:-2],
    "header without colon": request_bytes(headers=BASE + "Max-Forwards 70\n"),
    "header name with space": request_bytes(headers=BASE + "Max Forwards: 70\n"),
    "continuation before first header": request_bytes(headers=" folded\n" + BASE),
    "content-length not integer": request_bytes(headers=BASE + "Content-Length: abc\n"),
    "content-length negative": request_bytes(headers=BASE + "Content-Length: -1\n"),
    "content-length with sign": request_bytes(headers=BASE + "Content-Length: +0\n"),
    "content-length unicode digit": request_bytes(headers=BASE + "Content-Length: ٣\n"),
    "content-length huge": request_bytes(headers=BASE + "Content-Length: " + "9" * 5000 + "\n"),
    "content-length beyond body": request_bytes(headers=BASE + "Content-Length: 10\n") + b"short",
    "content-length conflicting": request_bytes(headers=BASE + "l: 0\nContent-Length: 1\n") + b"x",
    "missing Via": request_bytes(headers=without("Via")),
    "missing From": request_bytes(headers=without("From")),
    "missing To": request_bytes(headers=without("To")),
    "missing Call-ID": request_bytes(headers=without("Call-ID")),
    "missing CSeq": request_bytes(headers=without("CSeq")),
    "empty Call-ID": request_bytes(headers=without("Call-ID") + "Call-ID:\n"),
    "cseq not integer": request_bytes(headers=without("CSeq") + "CSeq: one OPTIONS\n"),
    "cseq negative": request_bytes(headers=without("CSeq") + "CSeq: -1 OPTIONS\n"),
    "cseq too big": request_bytes(headers=without("CSeq") + "CSeq: 2147483648 OPTIONS\n"),
    "cseq without method": request_bytes(headers=without("CSeq") + "CSeq: 1\n"),
    "cseq method mismatch": request_bytes(headers=without("CSeq") + "CSeq: 1 INVITE\n"),
    "cseq method case mismatch": request_bytes(headers=without("CSeq") + "CSeq: 1 options\n"),
    "malformed Via": request_bytes(headers=without("Via") + "Via: nonsense\n"),
    "non-utf8 header": request_bytes(headers=BASE + "Subject: caf\xe9\n").replace(
        "caf\xe9".encode(), b"caf\xe9"
    ),
    "nul in header": request_bytes(headers=BASE + "Subject: a\x00b\n"),
    "bare CR in header": request_bytes(headers=BASE + "Subject: a\rInjected: b\n"),
    "response missing CSeq": crlf("SIP/2.0 200 OK\n" + without("CSeq") + "\n"),
}


@pytest.mark.parametrize("data", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_raises_bad_request(data: bytes) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_message(data)
    assert (caught.value.code, caught.value.reason) == (400, "Bad Request")


def test_unsupported_version_is_505() -> None:
    with pytest.raises(VersionNotSupported) as caught:
        parse_message(request_bytes("OPTIONS sip:b@example.org SIP/3.0"))
    assert isinstance(caught.value, BadRequest)
    assert caught.value.code == 505
    assert caught.value.request is not None
    assert caught.value.response_for(caught.value.request).status == 505


def test_bad_request_carries_answerable_request() -> None:
    data = request_bytes(headers=without("CSeq") + "CSeq: 1 INVITE\n")
    with pytest.raises(BadRequest) as caught:
        parse_message(data)
    request = caught.value.request
    assert request is not None and request.method == "OPTIONS"
    reply = caught.value.response_for(request, to_tag="err1")
    assert (reply.status, reply.reason) == (400, "Bad Request")
    assert reply.get("Via") == "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1"
    assert parse_name_addr(reply.get("To") or "").tag == "err1"
    # Unparseable start line: nothing to answer.
    with pytest.raises(BadRequest) as caught:
        parse_message(request_bytes("HELLO"))
    assert caught.value.request is None


def test_ack_is_never_attached_for_answering() -> None:
    headers = without("CSeq") + "CSeq: 1 INVITE\n"
    with pytest.raises(BadRequest) as caught:
        parse_message(request_bytes("ACK sip:b@example.org SIP/2.0", headers))
    assert caught.value.request is None


def test_message_too_large() -> None:
    data = request_bytes(headers=BASE + "Subject: " + "x" * 100 + "\n")
    assert parse_message(data, max_size=len(data))
    with pytest.raises(MessageTooLarge) as caught:
        parse_message(data, max_size=len(data) - 1)
    assert (caught.value.code, caught.value.reason) == (513, "Message Too Large")
    with pytest.raises(MessageTooLarge):
        parse_message(b"x" * 70000)


# -- response_to -------------------------------------------------------------------------------


def test_response_to_copies_rfc3261_8_2_6_headers() -> None:
    invite = parse_message(
        crlf(
            "INVITE sip:room@bridge.example.org SIP/2.0\n"
            "Via: SIP/2.0/UDP p2.example.org;branch=z9hG4bKp2, SIP/2.0/UDP p1;branch=z9hG4bKp1\n"
            "v: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKua;rport=5060\n"
            "Record-Route: <sip:p2.example.org;lr>\n"
            "Record-Route: <sip:p1.example.org;lr>\n"
            "Max-Forwards: 68\n"
            "f: Alice <sip:alice@example.org>;tag=a1\n"
            "t: <sip:room@bridge.example.org>\n"
            "i: call-42\n"
            "CSeq: 10 INVITE\n"
            "\n"
        )
    )
    assert isinstance(invite, Request)
    ok = response_to(invite, 200, "OK", to_tag="b2", body=SDP, content_type="application/sdp")
    assert ok.headers == (
        ("Via", "SIP/2.0/UDP p2.example.org;branch=z9hG4bKp2, SIP/2.0/UDP p1;branch=z9hG4bKp1"),
        ("Via", "SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKua;rport=5060"),
        ("Record-Route", "<sip:p2.example.org;lr>"),
        ("Record-Route", "<sip:p1.example.org;lr>"),
        ("From", "Alice <sip:alice@example.org>;tag=a1"),
        ("To", "<sip:room@bridge.example.org>;tag=b2"),
        ("Call-ID", "call-42"),
        ("CSeq", "10 INVITE"),
        ("Content-Type", "application/sdp"),
        ("Content-Length", str(len(SDP))),
    )
    assert [branch_of(v) for v in ok.get_all("Via")] == ["z9hG4bKp2", "z9hG4bKp1", "z9hG4bKua"]
    assert parse_message(serialise(ok)) == ok

    trying = response_to(invite, 100, "Trying")
    assert trying.get("To") == "<sip:room@bridge.example.org>"
    assert trying.get("Record-Route") is None  # only dialog-creating responses carry it
    busy = response_to(invite, 486, "Busy Here", to_tag="b2", extra_headers=[("Retry-After", "5")])
    assert busy.get("Record-Route") is None
    assert busy.get("Retry-After") == "5"

    # An existing tag is kept, not doubled.
    again = response_to(response_to_request(ok), 200, "OK", to_tag="zz")
    assert again.get("To") == "<sip:room@bridge.example.org>;tag=b2"
    with pytest.raises(ValueError):
        response_to(invite, 200, "OK", to_tag="a;b")


def response_to_request(resp: Response) -> Request:
    """An in-dialog request carrying the response's To (with its tag)."""
    return Request("BYE", "sip:room@bridge.example.org", resp.headers)


# -- header value helpers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1 INVITE", (1, "INVITE")), ("  4711\tBYE ", (4711, "BYE")), ("0 ACK", (0, "ACK"))],
)
def test_parse_cseq(value: str, expected: tuple[int, str]) -> None:
    assert parse_cseq(value) == expected


@pytest.mark.parametrize("value", ["", "INVITE", "1", "1.5 INVITE", "x 1", "1 IN VITE", "-3 BYE"])
def test_parse_cseq_rejects(value: str) -> None:
    with pytest.raises(BadRequest):
        parse_cseq(value)


def test_via_helpers() -> None:
    via = "SIP / 2.0 / tcp [2001:db8::1]:5070 ;branch=z9hG4bKx;received=192.0.2.1;rport"
    assert via_sent_by(via) == ("TCP", "2001:db8::1", 5070)
    assert via_params(via) == {"branch": "z9hG4bKx", "received": "192.0.2.1", "rport": None}
    assert branch_of(via) == "z9hG4bKx"
    assert branch_of("SIP/2.0/UDP host") is None
    for bad in ["SIP/2.0 host", "SIP/1.0/UDP host", "SIP/2.0/UDP", "SIP/2.0/UDP h:99999"]:
        with pytest.raises(BadRequest):
            via_sent_by(bad)


def test_header_params() -> None:
    assert header_params('<sip:a@b;lr>;tag=1;expires=60;+sip.instance="<urn:x;y>"') == {
        "tag": "1",
        "expires": "60",
        "+sip.instance": '"<urn:x;y>"',
    }
    assert header_params("sip:a@b;TAG=x;;") == {"tag": "x"}
    with pytest.raises(BadRequest):
        header_params("<sip:a@b>;ta g=1")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"Alice" <sip:a@b>;tag=x', NameAddr("Alice", "sip:a@b", {"tag": "x"})),
        ("<sip:a@b>", NameAddr(None, "sip:a@b", {})),
        ("sip:a@b;tag=x", NameAddr(None, "sip:a@b", {"tag": "x"})),
        ("Bob Smith <sip:b@h;transport=tcp>", NameAddr("Bob Smith", "sip:b@h;transport=tcp", {})),
        (r'"Al \"the pal\" \\ x" <sip:a@b>', NameAddr('Al "the pal" \\ x', "sip:a@b", {})),
        ('"" <tel:+15551234>;tag=t', NameAddr("", "tel:+15551234", {"tag": "t"})),
        ('"a;b<c>" <sip:a@b>;x', NameAddr("a;b<c>", "sip:a@b", {"x": None})),
    ],
)
def test_parse_name_addr(value: str, expected: NameAddr) -> None:
    parsed = parse_name_addr(value)
    assert parsed == expected
    assert parse_name_addr(str(parsed)) == parsed


@pytest.mark.parametrize(
    "value",
    [
        '"unterminated <sip:a@b>',
        "<sip:a@b",
        '"Alice" sip:a@b',
        "<sip:a@b> junk",
        "*",
        "",
        'Al"ice <sip:a>',
    ],
)
def test_parse_name_addr_rejects(value: str) -> None:
    with pytest.raises(BadRequest):
        parse_name_addr(value)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("sip:bridge.example.org", SipUri("sip", None, "bridge.example.org", None)),
        (
            "SIPS:alice:secret@[2001:db8::1]:5061;transport=TLS;lr?subject=hi&priority=urgent",
            SipUri(
                "sips",
                "alice",
                "2001:db8::1",
                5061,
                {"transport": "TLS", "lr": None},
                {"subject": "hi", "priority": "urgent"},
                "secret",
            ),
        ),
        (
            "sip:+1-212-555-1212;isub=1@gw.example.com;user=phone",
            SipUri("sip", "+1-212-555-1212;isub=1", "gw.example.com", None, {"user": "phone"}),
        ),
        ("sip:room%2042@10.0.0.1:5060", SipUri("sip", "room%2042", "10.0.0.1", 5060)),
        (
            "tel:+1-201-555-0123;phone-context=example.com",
            SipUri("tel", "+1-201-555-0123", "", None, {"phone-context": "example.com"}),
        ),
    ],
)
def test_parse_uri(uri: str, expected: SipUri) -> None:
    parsed = parse_uri(uri)
    assert parsed == expected
    assert parse_uri(str(parsed)) == parsed


@pytest.mark.parametrize(
    "uri",
    [
        "http://example.org",
        "example.org",
        "sip:",
        "sip:@host",
        "sip:a@",
        "sip:a@host:99999",
        "sip:a@host:port",
        "sip:a b@host",
        "sip:a@::1",
        "sip:a@host;",
        "sip:a@host?nohvalue",
        "tel:phone",
    ],
)
def test_parse_uri_rejects(uri: str) -> None:
    with pytest.raises(BadRequest):
        parse_uri(uri)


# -- TCP framing -------------------------------------------------------------------------------


def test_stream_two_messages_in_one_buffer_with_keepalives() -> None:
    buffer = bytearray(b"\r\n\r\n" + SIPP_INVITE + b"\r\n" + OPTIONS + b"\r\n\r\n")
    assert parse_stream(buffer) == [parse_message(SIPP_INVITE), parse_message(OPTIONS)]
    assert buffer == b""


def test_stream_partial_messages() -> None:
    wire = SIPP_INVITE + OK_WITH_RECORD_ROUTE
    buffer = bytearray()
    got: list[Request | Response] = []
    for i in range(0, len(wire), 7):
        buffer += wire[i : i + 7]
        got += parse_stream(buffer)
    assert got == [parse_message(SIPP_INVITE), parse_message(OK_WITH_RECORD_ROUTE)]
    assert buffer == b""
    buffer = bytearray(OPTIONS + SIPP_INVITE[:-10])
    assert parse_stream(buffer) == [parse_message(OPTIONS)]
    assert buffer == SIPP_INVITE[:-10]  # partial message left for the next read
    assert parse_stream(buffer) == []


def test_stream_requires_content_length() -> None:
    data = request_bytes()
    buffer = bytearray(data)
    with pytest.raises(BadRequest):
        parse_stream(buffer)
    assert buffer == data  # framing unknown: nothing consumed, caller closes the connection


def test_stream_too_large() -> None:
    with pytest.raises(MessageTooLarge):
        parse_stream(bytearray(b"OPTIONS sip:x SIP/2.0\r\nSubject: " + b"x" * 70000))
    with pytest.raises(MessageTooLarge):
        parse_stream(
            bytearray(request_bytes(headers=BASE + "Content-Length: 1000\n")), max_size=500
        )
    assert parse_stream(bytearray(b"OPTIONS sip:x SIP/2.0\r\nSubject: xx")) == []


def test_stream_bad_message_between_good_ones() -> None:
    bad = request_bytes(headers=without("CSeq") + "CSeq: 1 BYE\nContent-Length: 0\n")
    buffer = bytearray(OPTIONS + bad + COMPACT)
    assert parse_stream(buffer) == [parse_message(OPTIONS)]
    with pytest.raises(BadRequest) as caught:
        parse_stream(buffer)
    assert caught.value.request is not None  # consumed, answerable, stream continues
    assert parse_stream(buffer) == [parse_message(COMPACT)]
    assert parse_stream(buffer) == []


# -- fuzzing -------------------------------------------------------------------------------------


def parses_or_sip_error(data: bytes) -> None:
    try:
        msg = parse_message(data)
    except SipError:
        return
    assert isinstance(msg, Request | Response)
    # Whatever was accepted re-serialises to a canonical form that is a fixed point.
    wire = serialise(msg)
    assert serialise(parse_message(wire)) == wire


@FUZZ
@given(st.binary(max_size=600))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    parses_or_sip_error(data)


@FUZZ
@given(st.sampled_from([b"INVITE sip:a@b SIP/2.0\r\n", b"SIP/2.0 200 OK\r\n"]), st.binary())
def test_fuzz_bytes_after_start_line(start: bytes, rest: bytes) -> None:
    parses_or_sip_error(start + rest)


MUTATION = st.tuples(
    st.sampled_from(["flip", "truncate", "insert", "delete", "duplicate"]),
    st.integers(min_value=0, max_value=10_000),
    st.binary(min_size=1, max_size=8),
)


def mutate(data: bytes, mutations: list[tuple[str, int, bytes]]) -> bytes:
    for kind, where, blob in mutations:
        pos = where % (len(data) + 1)
        if kind == "flip" and pos < len(data):
            data = data[:pos] + bytes([data[pos] ^ blob[0]]) + data[pos + 1 :]
        elif kind == "truncate":
            data = data[:pos]
        elif kind == "insert":
            data = data[:pos] + blob + data[pos:]
        elif kind == "delete":
            data = data[:pos] + data[pos + len(blob) :]
        elif kind == "duplicate":
            data = data[:pos] + data[pos : pos + 40] + data[pos:]
    return data


@FUZZ
@given(st.sampled_from(VALID), st.lists(MUTATION, min_size=1, max_size=5))
def test_fuzz_mutated_messages(data: bytes, mutations: list[tuple[str, int, bytes]]) -> None:
    mutated = mutate(data, mutations)
    parses_or_sip_error(mutated)
    buffer = bytearray(mutated)
    try:
        parse_stream(buffer)
    except SipError:
        pass
    assert len(buffer) <= len(mutated)


@FUZZ
@given(
    st.sampled_from(["", "sip:", "sips:", "tel:", '"x" <sip:', "<sip:a@", "sip:a@b;"]),
    st.text('ab@:;?&=[]<>"\\ .0123+-%,\t' + "é", max_size=30) | st.text(max_size=30),
)
def test_fuzz_uri_and_name_addr(prefix: str, text: str) -> None:
    # Either rejected as a SipError, or str() renders something that parses to the same value.
    for parse in (parse_uri, parse_name_addr):
        try:
            parsed = parse(prefix + text)
        except SipError:
            continue
        assert parse(str(parsed)) == parsed


TOKEN = st.text("abcXYZ0189.!%*_+`'~-", min_size=1, max_size=12)
HOST = st.lists(st.text("abcxyz0189-", min_size=1, max_size=10), min_size=1, max_size=4).map(
    ".".join
)
VALUE = st.text(st.characters(exclude_categories=["Cs", "Cc"]) | st.just("\t"), max_size=40).map(
    lambda s: s.strip(" \t")
)


@st.composite
def requests(draw: st.DrawFn) -> Request:
    method = draw(TOKEN)
    host = draw(HOST)
    uri = f"sip:{draw(TOKEN)}@{host}"
    body = draw(st.binary(max_size=200))
    port = draw(st.integers(1, 65535))
    via = f"SIP/2.0/{draw(TOKEN)} {host}:{port};branch=z9hG4bK{draw(TOKEN)}"
    sender = f'"{draw(VALUE)}" <sip:{draw(TOKEN)}@{host}>;tag={draw(TOKEN)}'
    headers = [
        (draw(st.sampled_from(["Via", "v"])), via),
        (draw(st.sampled_from(["From", "f"])), sender),
        (draw(st.sampled_from(["To", "t"])), f"<{uri}>"),
        (draw(st.sampled_from(["Call-ID", "i"])), draw(TOKEN)),
        ("CSeq", f"{draw(st.integers(0, 2**31 - 1))} {method}"),
    ]
    extra = draw(st.lists(st.tuples(TOKEN.map(lambda t: f"X-{t}"), VALUE), max_size=6))
    headers += extra
    headers.insert(draw(st.integers(0, len(headers))), ("Content-Length", str(len(body))))
    return Request(method, uri, draw(st.permutations(headers)), body)


@STRUCTURED
@given(requests())
def test_structured_requests_round_trip(request: Request) -> None:
    wire = serialise(request)
    assert parse_message(wire) == request
    head, _, body = wire.partition(b"\r\n\r\n")
    assert parse_message(head.replace(b"\r\n", b"\n") + b"\n\n" + body) == request


@STRUCTURED
@given(st.lists(requests(), min_size=1, max_size=4), st.lists(st.integers(1, 300), max_size=20))
def test_structured_stream_any_chunking(messages: list[Request], cuts: list[int]) -> None:
    wire = b"\r\n".join(serialise(m) for m in messages)
    buffer = bytearray()
    got: list[Request | Response] = []
    pos = 0
    for size in [*cuts, len(wire)]:
        buffer += wire[pos : pos + size]
        pos += size
        got += parse_stream(buffer)
    assert got == messages
    assert buffer == b""
