"""SDP parsing and serialising (callroster.sdp.session)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callroster.sdp.session import (
    Connection,
    MediaDescription,
    Origin,
    RtpMap,
    SdpError,
    SdpSyntaxError,
    SessionDescription,
    Timing,
    parse_sdp,
    serialise_sdp,
)

# No example database: it would write .hypothesis/ into the source tree.
FUZZ = settings(max_examples=200, deadline=None, database=None)


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


# Captured from baresip 1.0.0 (Debian 12) dialling a loopback UDP listener, with the opus,
# g722 and g711 modules loaded and rtcp_mux enabled.
BARESIP = crlf(
    "v=0\n"
    "o=- 3986123057 243637289 IN IP4 192.0.2.2\n"
    "s=-\n"
    "c=IN IP4 192.0.2.2\n"
    "t=0 0\n"
    "a=tool:baresip 1.0.0\n"
    "m=audio 17696 RTP/AVP 96 9 0 8 101\n"
    "a=rtpmap:96 opus/48000/2\n"
    "a=fmtp:96 stereo=1;sprop-stereo=1;maxaveragebitrate=28000\n"
    "a=rtpmap:9 G722/8000\n"
    "a=rtpmap:0 PCMU/8000\n"
    "a=rtpmap:8 PCMA/8000\n"
    "a=rtpmap:101 telephone-event/8000\n"
    "a=fmtp:101 0-15\n"
    "a=sendrecv\n"
    "a=label:1\n"
    "a=rtcp-rsize\n"
    "a=ssrc:1457650968 cname:sip:bob@127.0.0.1\n"
    "a=rtcp-mux\n"
    "a=minptime:20\n"
    "a=ptime:20\n"
)

# sipp 3.6.1 built-in "uac" scenario (sipp -sd uac), placeholders filled as sipp does.
SIPP_UAC = crlf(
    "v=0\n"
    "o=user1 53655765 2353687637 IN IP4 127.0.1.1\n"
    "s=-\n"
    "c=IN IP4 127.0.1.1\n"
    "t=0 0\n"
    "m=audio 6000 RTP/AVP 0\n"
    "a=rtpmap:0 PCMU/8000\n"
)

# Several streams and the lines the model skips (i=, b=, k=, r=, z=, unknown types).
MULTI = (
    "v=0\n"
    "o=alice 2890844526 2890842807 IN IP4 203.0.113.5\n"
    "s=Conference call\n"
    "i=A call with extras\n"
    "c=IN IP4 203.0.113.5\n"
    "b=AS:256\n"
    "t=2873397496 2873404696\n"
    "r=7d 1h 0 25h\n"
    "z=2882844526 -1h\n"
    "k=prompt\n"
    "a=recvonly\n"
    "m=audio 49170/2 RTP/AVP 0 97\n"
    "i=speech\n"
    "c=IN IP4 224.2.17.12/127\n"
    "c=IN IP4 224.2.17.13/127\n"
    "b=AS:64\n"
    "a=rtpmap:97 iLBC/8000\n"
    "a=fmtp:97 mode=30\n"
    "m=video 51372 RTP/AVP 99\n"
    "a=rtpmap:99 h263-1998/90000\n"
    "m=application 9 TCP/BFCP *\n"
    "a=floorctrl:c-s\n"
    "m=image 0 udptl t38\n"
)


def test_parses_baresip_offer() -> None:
    sd = parse_sdp(BARESIP)
    assert sd.origin == Origin("-", 3986123057, 243637289, "IN", "IP4", "192.0.2.2")
    assert sd.session_name == "-"
    assert sd.connection == Connection("IN", "IP4", "192.0.2.2")
    assert sd.timing == Timing(0, 0)
    assert sd.attributes == (("tool", "baresip 1.0.0"),)
    (audio,) = sd.media
    assert (audio.media, audio.port, audio.proto) == ("audio", 17696, "RTP/AVP")
    assert audio.formats == ("96", "9", "0", "8", "101")
    assert audio.payload_types == (96, 9, 0, 8, 101)
    assert audio.connection is None
    assert audio.rtpmap(96) == RtpMap(96, "opus", 48000, 2)
    assert audio.rtpmap(101) == RtpMap(101, "telephone-event", 8000)
    assert str(audio.rtpmap(96)) == "opus/48000/2"
    assert audio.fmtp(101) == "0-15"
    assert audio.fmtp(0) is None
    assert audio.ptime == 20
    assert audio.direction == "sendrecv"
    assert audio.has_attribute("rtcp-mux") and audio.has_attribute("RTCP-MUX")
    assert not audio.has_attribute("ice-ufrag")
    assert audio.attribute_values("ssrc") == ["1457650968 cname:sip:bob@127.0.0.1"]
    assert audio.attributes[-2:] == (("minptime", "20"), ("ptime", "20"))


def test_lf_only_str_and_bytes_parse_alike() -> None:
    expected = parse_sdp(BARESIP)
    assert parse_sdp(BARESIP.replace(b"\r\n", b"\n")) == expected
    assert parse_sdp(BARESIP.decode()) == expected
    # Bare CRs, trailing blanks and blank lines are tolerated too.
    sloppy = BARESIP.replace(b"\r\n", b" \t\r").replace(b"t=0 0", b"\nt=0   0")
    assert parse_sdp(sloppy) == expected


def test_static_payload_types_need_no_rtpmap() -> None:
    sd = parse_sdp(
        "v=0\no=- 1 1 IN IP4 h\ns=-\nc=IN IP4 h\nt=0 0\nm=audio 4000 RTP/AVP 8 0 18 96\n"
    )
    audio = sd.media[0]
    assert audio.rtpmap(0) == RtpMap(0, "PCMU", 8000)
    assert audio.rtpmap(8) == RtpMap(8, "PCMA", 8000)
    assert audio.rtpmap(18) == RtpMap(18, "G729", 8000)
    assert audio.rtpmap(96) is None
    assert audio.ptime is None and audio.direction is None


def test_rtpmap_overrides_static_default_and_malformed_ones_are_ignored() -> None:
    sd = parse_sdp(
        "v=0\no=- 1 1 IN IP4 h\ns=-\nc=IN IP4 h\nt=0 0\nm=audio 4000 RTP/AVP 0 8 97\n"
        "a=rtpmap:8 garbage\na=rtpmap:97\na=rtpmap:0 pcmu/8000\na=fmtp:97\na=ptime:20.0\n"
    )
    audio = sd.media[0]
    assert audio.rtpmap(0) == RtpMap(0, "pcmu", 8000)
    assert audio.rtpmap(8) == RtpMap(8, "PCMA", 8000)
    assert audio.rtpmap(97) is None
    assert audio.fmtp(97) == ""
    assert audio.ptime == 20


def test_attribute_lookup_is_case_insensitive_and_flags_are_none() -> None:
    sd = parse_sdp(
        "v=0\no=- 1 1 IN IP4 h\ns=-\nc=IN IP4 h\nt=0 0\na=SendOnly\n"
        "m=audio 4000 RTP/AVP 0\na=Inactive\na=label:\na=candidate:1 1 UDP 2 h 4000 typ host\n"
    )
    assert sd.direction == "sendonly"
    assert sd.media[0].direction == "inactive"
    assert sd.media[0].attributes == (
        ("Inactive", None),
        ("label", ""),
        ("candidate", "1 1 UDP 2 h 4000 typ host"),
    )


def test_skips_lines_the_model_does_not_need() -> None:
    sd = parse_sdp(MULTI + "x=unknown type\nnot a line\na=\na=:value\n")
    assert sd.session_name == "Conference call"
    assert sd.timing == Timing(2873397496, 2873404696)
    assert sd.attributes == (("recvonly", None),)
    audio, video, bfcp, t38 = sd.media
    assert audio.port_count == 2
    assert audio.connection == Connection("IN", "IP4", "224.2.17.12/127")
    assert audio.connection.host == "224.2.17.12"
    assert video.rtpmap(99) == RtpMap(99, "h263-1998", 90000)
    assert (bfcp.proto, bfcp.formats, bfcp.payload_types) == ("TCP/BFCP", ("*",), ())
    assert (t38.port, t38.formats) == (0, ("t38",))
    assert t38.attributes == ()


def test_missing_session_name_and_timing_get_placeholders() -> None:
    sd = parse_sdp("v=0\no=- 1 2 IN IP6 ::1\nm=audio 0 RTP/AVP\n")
    assert sd.session_name == "-" and sd.timing == Timing(0, 0) and sd.connection is None
    assert sd.media[0].formats == ()


def test_non_utf8_bytes_fall_back_to_latin1() -> None:
    sd = parse_sdp(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=Besprechungsr\xe4ume\r\nt=0 0\r\n")
    assert sd.session_name == "Besprechungsräume"


BAD = [
    ("", "empty"),
    ("\n\r\n", "empty"),
    ("o=- 1 1 IN IP4 h\ns=-\n", "v="),
    ("hello\nv=0\no=- 1 1 IN IP4 h\n", "v="),
    ("v=1\no=- 1 1 IN IP4 h\n", "version"),
    ("v=0\ns=-\nt=0 0\n", "o="),
    ("v=0\nm=audio 4000 RTP/AVP 0\no=- 1 1 IN IP4 h\n", "o="),
    ("v=0\no=- 1 IN IP4 h\n", "o="),
    ("v=0\no=- x 1 IN IP4 h\n", "session id"),
    ("v=0\no=- 1 -1 IN IP4 h\n", "version"),
    ("v=0\no=- 1 1 IN IP4 h\no=- 1 1 IN IP4 h\n", "o="),
    ("v=0\no=- 1 1 IN IP4 h\nv=0\n", "v="),
    ("v=0\no=- 1 1 IN IP4 h\nc=IN IP4\n", "c="),
    ("v=0\no=- 1 1 IN IP4 h\nt=now\n", "t="),
    ("v=0\no=- 1 1 IN IP4 h\nm=audio 4000\n", "m="),
    ("v=0\no=- 1 1 IN IP4 h\nm=audio port RTP/AVP 0\n", "port"),
    ("v=0\no=- 1 1 IN IP4 h\nm=audio 70000 RTP/AVP 0\n", "port"),
    ("v=0\no=- 1 1 IN IP4 h\nm=audio 4000/x RTP/AVP 0\n", "port count"),
    ("v=0\no=- 1 1 IN IP4 h\nm=audio 4000 RTP/AVP\n", "formats"),
    ("v=0\no=- 1 1 IN IP4 h\nm=audio 4000 RTP/AVP 0 PCMA\n", "payload type"),
    ("v=0\no=- 1 1 IN IP4 h\nm=audio 4000 RTP/AVP 128\n", "payload type"),
    ("v=0\no=- 1 1 IN IP4 h\nm=audio 4000 RTP/AVP 0\nc=IN\n", "c="),
    ("v=0\no=- 1 1 IN IP4 h\ns=a\x00b\n", "NUL"),
    ("v=0\no=- 1 1 IN IP4 h\nm=audio ٤٠٠٠ RTP/AVP 0\n", "port"),
    ("v=0\no=- " + "9" * 5000 + " 1 IN IP4 h\n", "session id"),
]


@pytest.mark.parametrize(("text", "mentions"), BAD)
def test_malformed_sdp_is_a_400(text: str, mentions: str) -> None:
    with pytest.raises(SdpSyntaxError, match=mentions) as caught:
        parse_sdp(text)
    assert isinstance(caught.value, SdpError) and isinstance(caught.value, ValueError)
    assert (caught.value.code, caught.value.reason) == (400, "Bad Request")
    assert caught.value.detail == str(caught.value)


def test_sdp_error_defaults_to_488() -> None:
    err = SdpError("no codec in common")
    assert (err.code, err.reason, err.detail) == (488, "Not Acceptable Here", "no codec in common")


def test_serialises_in_rfc_order_with_crlf() -> None:
    sd = SessionDescription(
        origin=Origin("-", 7, 8, "IN", "IP4", "198.51.100.7"),
        connection=Connection("IN", "IP4", "198.51.100.7"),
        attributes=(("tool", "callroster"),),
        media=(
            MediaDescription(
                "audio",
                40000,
                "RTP/AVP",
                ("0", "101"),
                connection=Connection("IN", "IP4", "198.51.100.8"),
                attributes=(("rtpmap", "0 PCMU/8000"), ("sendrecv", None), ("label", "")),
            ),
            MediaDescription("video", 0, "RTP/AVP", ("31",), port_count=2),
        ),
    )
    assert serialise_sdp(sd) == (
        "v=0\r\n"
        "o=- 7 8 IN IP4 198.51.100.7\r\n"
        "s=-\r\n"
        "c=IN IP4 198.51.100.7\r\n"
        "t=0 0\r\n"
        "a=tool:callroster\r\n"
        "m=audio 40000 RTP/AVP 0 101\r\n"
        "c=IN IP4 198.51.100.8\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=sendrecv\r\n"
        "a=label:\r\n"
        "m=video 0/2 RTP/AVP 31\r\n"
    )
    assert parse_sdp(serialise_sdp(sd)) == sd


@pytest.mark.parametrize("name", ["x\r\nm=video 9 RTP/AVP 0", "x\ny", "x\rY", "x\x00"])
def test_serialise_refuses_line_injection(name: str) -> None:
    sd = SessionDescription(origin=Origin("-", 1, 1, "IN", "IP4", "h"), session_name=name)
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        serialise_sdp(sd)


@pytest.mark.parametrize("body", [BARESIP, SIPP_UAC, MULTI.encode()])
def test_round_trip(body: bytes) -> None:
    sd = parse_sdp(body)
    assert parse_sdp(serialise_sdp(sd)) == sd
    assert serialise_sdp(parse_sdp(serialise_sdp(sd))) == serialise_sdp(sd)


def test_sipp_uac_serialises_back_to_its_own_bytes() -> None:
    assert serialise_sdp(parse_sdp(SIPP_UAC)).encode() == SIPP_UAC


def parses_or_sdp_error(data: str | bytes) -> None:
    try:
        sd = parse_sdp(data)
    except SdpError:
        return
    # Whatever was accepted serialises to a canonical form that parses to the same value.
    assert parse_sdp(serialise_sdp(sd)) == sd


@FUZZ
@given(st.binary(max_size=600))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    parses_or_sdp_error(data)


@FUZZ
@given(st.text(max_size=400))
def test_fuzz_arbitrary_text(text: str) -> None:
    parses_or_sdp_error(text)


# Line breaks inside a line are deliberate: they split it into more lines. Non-ASCII digits,
# vertical tab and U+2028 catch str.isdigit(), str.split() and str.splitlines() slips.
SDP_ALPHABET = "vosctma=: /\t\r\n0123456789INIP4.-*rtpmapfmtpPCMU8000RTP/AVPsendonly\x0b\u2028٣é"
LINES = st.lists(
    st.sampled_from(["o", "s", "c", "t", "m", "m", "a", "a", "b", "x", "V"]).flatmap(
        lambda kind: st.text(SDP_ALPHABET, max_size=40).map(lambda rest: f"{kind}={rest}")
    )
    | st.sampled_from(
        [
            "o=- 1 1 IN IP4 h",
            "c=IN IP4 0.0.0.0",
            "m=audio 4000 RTP/AVP 0 8 101",
            "a=rtpmap:101 telephone-event/8000",
            "a=sendonly",
        ]
    ),
    max_size=14,
)


@FUZZ
@given(st.booleans(), LINES, st.sampled_from(["\r\n", "\n", "\r"]))
def test_fuzz_sdp_shaped_lines(with_origin: bool, lines: list[str], ending: str) -> None:
    head = ["v=0", "o=- 1 1 IN IP4 h"] if with_origin else ["v=0"]
    parses_or_sdp_error(ending.join([*head, *lines]))


MUTATION = st.tuples(
    st.sampled_from(["flip", "truncate", "insert", "delete"]),
    st.integers(min_value=0, max_value=10_000),
    st.binary(min_size=1, max_size=8),
)


@FUZZ
@given(st.sampled_from([BARESIP, SIPP_UAC, MULTI.encode()]), st.lists(MUTATION, max_size=5))
def test_fuzz_mutated_bodies(data: bytes, mutations: list[tuple[str, int, bytes]]) -> None:
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
    parses_or_sdp_error(data)
