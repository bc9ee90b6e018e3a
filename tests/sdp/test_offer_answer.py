"""SDP offer/answer for the bridge's audio stream (callroster.sdp.offer_answer)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callroster.sdp.offer_answer import (
    Negotiated,
    accept_answer,
    answer_offer,
    make_offer,
)
from callroster.sdp.session import (
    Connection,
    MediaDescription,
    Origin,
    RtpMap,
    SdpError,
    SessionDescription,
    Timing,
    parse_sdp,
    serialise_sdp,
)

# No example database: it would write .hypothesis/ into the source tree.
FUZZ = settings(
    max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
LOCAL = {
    "local_address": "198.51.100.7",
    "local_port": 40000,
    "session_id": 7,
    "session_version": 1,
}


def offer(text: str) -> SessionDescription:
    return parse_sdp(text.replace("\n", "\r\n").encode())


def answer(sd: SessionDescription, **overrides: object) -> Negotiated:
    return answer_offer(sd, **{**LOCAL, **overrides})  # type: ignore[arg-type]


# sipp 3.6.1 built-in scenarios as sipp -sd prints them, placeholders filled in.
SIPP_UAC = (  # sipp -sn uac: PCMU only, no DTMF
    "v=0\n"
    "o=user1 53655765 2353687637 IN IP4 127.0.1.1\n"
    "s=-\n"
    "c=IN IP4 127.0.1.1\n"
    "t=0 0\n"
    "m=audio 6000 RTP/AVP 0\n"
    "a=rtpmap:0 PCMU/8000\n"
)
SIPP_UAC_PCAP = (  # sipp -sn uac_pcap: PCMA plus telephone-event at 101
    "v=0\n"
    "o=user1 53655765 2353687637 IN IP4 127.0.1.1\n"
    "s=-\n"
    "c=IN IP4 127.0.1.1\n"
    "t=0 0\n"
    "m=audio 6002 RTP/AVP 8 101\n"
    "a=rtpmap:8 PCMA/8000\n"
    "a=rtpmap:101 telephone-event/8000\n"
    "a=fmtp:101 0-11,16\n"
)
# A custom sipp scenario of the kind test suites write: PCMU with telephone-event at 96.
SIPP_CUSTOM_96 = (
    "v=0\n"
    "o=user1 53655765 2353687637 IN IP4 127.0.1.1\n"
    "s=-\n"
    "c=IN IP4 127.0.1.1\n"
    "t=0 0\n"
    "m=audio 6004 RTP/AVP 0 96\n"
    "a=rtpmap:0 PCMU/8000\n"
    "a=rtpmap:96 telephone-event/8000\n"
    "a=fmtp:96 0-15\n"
)
# Captured from baresip 1.0.0 (Debian 12) with opus, g722 and g711 loaded, rtcp_mux on.
BARESIP = (
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
# Linphone style: static types without rtpmap, telephone-event at three clock rates, and a
# video stream the bridge must reject.
LINPHONE = (
    "v=0\n"
    "o=alice 3425 2874 IN IP4 192.168.1.20\n"
    "s=Talk\n"
    "c=IN IP4 192.168.1.20\n"
    "t=0 0\n"
    "a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\n"
    "m=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100\n"
    "a=rtpmap:96 opus/48000/2\n"
    "a=fmtp:96 useinbandfec=1\n"
    "a=rtpmap:97 SILK/16000\n"
    "a=rtpmap:98 speex/16000\n"
    "a=fmtp:98 vbr=on\n"
    "a=fmtp:18 annexb=yes\n"
    "a=rtpmap:101 telephone-event/48000\n"
    "a=rtpmap:99 telephone-event/16000\n"
    "a=rtpmap:100 telephone-event/8000\n"
    "a=rtcp-fb:* trr-int 1000\n"
    "m=video 9078 RTP/AVP 96\n"
    "a=rtpmap:96 VP8/90000\n"
    "a=rtcp-fb:* nack pli\n"
)
# Asterisk (chan_pjsip) style: PCMA first, media-level c=, ptime and maxptime.
ASTERISK = (
    "v=0\n"
    "o=- 1843473093 1843473093 IN IP4 203.0.113.10\n"
    "s=Asterisk\n"
    "t=0 0\n"
    "m=audio 17130 RTP/AVP 8 0 3 9 101\n"
    "c=IN IP4 203.0.113.10\n"
    "a=rtpmap:8 PCMA/8000\n"
    "a=rtpmap:0 PCMU/8000\n"
    "a=rtpmap:3 GSM/8000\n"
    "a=rtpmap:9 G722/8000\n"
    "a=rtpmap:101 telephone-event/8000\n"
    "a=fmtp:101 0-16\n"
    "a=ptime:20\n"
    "a=maxptime:150\n"
    "a=sendrecv\n"
)


def test_sipp_uac() -> None:
    result = answer(offer(SIPP_UAC))
    assert (result.codec, result.payload_type, result.telephone_event_pt) == ("PCMU", 0, None)
    assert (result.remote_address, result.remote_port) == ("127.0.1.1", 6000)
    assert (result.remote_direction, result.local_direction) == ("sendrecv", "sendrecv")
    assert not result.on_hold and result.ptime == 20 and result.media_index == 0
    assert serialise_sdp(result.answer) == (
        "v=0\r\n"
        "o=- 7 1 IN IP4 198.51.100.7\r\n"
        "s=-\r\n"
        "c=IN IP4 198.51.100.7\r\n"
        "t=0 0\r\n"
        "m=audio 40000 RTP/AVP 0\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=ptime:20\r\n"
        "a=sendrecv\r\n"
    )


def test_sipp_uac_pcap_gets_pcma_and_only_the_dtmf_events_both_sides_know() -> None:
    result = answer(offer(SIPP_UAC_PCAP))
    assert (result.codec, result.payload_type, result.telephone_event_pt) == ("PCMA", 8, 101)
    audio = result.answer.media[0]
    assert audio.formats == ("8", "101")
    assert audio.fmtp(101) == "0-11"  # 16 (flash) dropped: the bridge has no use for it
    assert audio.rtpmap(101) == RtpMap(101, "telephone-event", 8000)


def test_telephone_event_keeps_the_offered_payload_type() -> None:
    result = answer(offer(SIPP_CUSTOM_96))
    assert (result.codec, result.telephone_event_pt) == ("PCMU", 96)
    assert result.answer.media[0].formats == ("0", "96")
    assert result.answer.media[0].fmtp(96) == "0-15"


def test_baresip_offer() -> None:
    result = answer(offer(BARESIP))
    # Opus and G722 come first but are unsupported; PCMU is the offerer's next choice.
    assert (result.codec, result.payload_type, result.telephone_event_pt) == ("PCMU", 0, 101)
    assert (result.remote_address, result.remote_port) == ("192.0.2.2", 17696)
    audio = result.answer.media[0]
    assert audio.formats == ("0", "101")
    # No rtcp-mux, ssrc or opus in the answer: RTCP stays on port + 1 (RFC 5761 5.1.1).
    assert not audio.has_attribute("rtcp-mux") and not audio.has_attribute("ssrc")
    assert result.answer.attributes == ()


def test_preferred_limits_codecs_without_reordering_the_offer() -> None:
    assert answer(offer(BARESIP), preferred=("PCMA",)).codec == "PCMA"
    # The offer lists PCMA first: PCMA wins even though preferred lists PCMU first.
    assert answer(offer(ASTERISK), preferred=("PCMU", "PCMA")).codec == "PCMA"
    assert answer(offer(ASTERISK), preferred=("pcmu",)).codec == "PCMU"
    assert answer(offer(ASTERISK), preferred="PCMU").codec == "PCMU"


def test_linphone_offer_rejects_video_and_picks_8khz_dtmf() -> None:
    sd = offer(LINPHONE)
    result = answer(sd)
    assert (result.codec, result.payload_type, result.telephone_event_pt) == ("PCMU", 0, 100)
    assert len(result.answer.media) == 2
    audio, video = result.answer.media
    assert (audio.port, audio.formats) == (40000, ("0", "100"))
    assert audio.rtpmap(0) is not None and audio.has_attribute("rtpmap")
    assert video == MediaDescription("video", 0, "RTP/AVP", ("96",))
    assert "m=video 0 RTP/AVP 96\r\n" in serialise_sdp(result.answer)


def test_asterisk_offer_with_media_level_connection() -> None:
    result = answer(offer(ASTERISK))
    assert (result.codec, result.payload_type, result.telephone_event_pt) == ("PCMA", 8, 101)
    assert (result.remote_address, result.remote_port, result.ptime) == ("203.0.113.10", 17130, 20)
    assert result.answer.media[0].fmtp(101) == "0-15"


def test_media_level_connection_overrides_session_level() -> None:
    sd = offer(SIPP_UAC.replace("a=rtpmap", "c=IN IP4 10.9.8.7\na=rtpmap"))
    assert answer(sd).remote_address == "10.9.8.7"


def test_dynamic_payload_types_mapped_to_g711_case_insensitively() -> None:
    sd = offer(
        "v=0\no=- 1 1 IN IP4 h\ns=-\nc=IN IP4 10.0.0.2\nt=0 0\n"
        "m=audio 5000 RTP/AVP 110 97 98\n"
        "a=rtpmap:110 PCMU/16000\n"  # wrong clock rate: not G.711
        "a=rtpmap:97 pcma/8000\n"
        "a=rtpmap:98 Telephone-Event/8000\n"
    )
    result = answer(sd)
    assert (result.codec, result.payload_type, result.telephone_event_pt) == ("PCMA", 97, 98)
    assert result.answer.media[0].attributes[0] == ("rtpmap", "97 PCMA/8000")


def test_static_type_without_rtpmap_and_missing_fmtp_means_default_events() -> None:
    sd = offer(
        "v=0\no=- 1 1 IN IP4 h\ns=-\nc=IN IP4 10.0.0.2\nt=0 0\n"
        "m=audio 5000 RTP/AVP 8 101\na=rtpmap:101 telephone-event/8000\n"
    )
    result = answer(sd)
    assert (result.codec, result.telephone_event_pt) == ("PCMA", 101)
    assert result.answer.media[0].fmtp(101) == "0-15"


def test_dtmf_left_out_when_no_offered_event_is_one_we_know() -> None:
    sd = offer(SIPP_CUSTOM_96.replace("a=fmtp:96 0-15", "a=fmtp:96 16,32-40"))
    result = answer(sd)
    assert result.telephone_event_pt is None
    assert result.answer.media[0].formats == ("0",)


def test_first_usable_audio_stream_is_taken_and_others_rejected() -> None:
    sd = offer(
        "v=0\no=- 1 1 IN IP4 h\ns=-\nc=IN IP4 10.0.0.2\nt=0 0\n"
        "m=audio 5000 RTP/SAVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:abc\n"
        "m=audio 0 RTP/AVP 0\n"
        "m=audio 5002 RTP/AVP 18\n"
        "m=audio 5004 RTP/AVP 8\n"
        "m=audio 5006 RTP/AVP 0\n"
        "m=image 0 udptl t38\n"
    )
    result = answer(sd)
    assert (result.media_index, result.remote_port, result.codec) == (3, 5004, "PCMA")
    ports = [m.port for m in result.answer.media]
    assert ports == [0, 0, 0, 40000, 0, 0]
    assert [m.proto for m in result.answer.media] == [m.proto for m in sd.media]


def test_answer_copies_offer_timing() -> None:
    sd = offer(SIPP_UAC.replace("t=0 0", "t=3034423619 3042462419"))
    assert answer(sd).answer.timing == Timing(3034423619, 3042462419)


@pytest.mark.parametrize(
    ("line", "ptime"), [("a=ptime:30", 30), ("a=ptime:7", 20), ("a=ptime:abc", 20)]
)
def test_ptime_follows_the_offer_when_sane(line: str, ptime: int) -> None:
    result = answer(offer(SIPP_UAC + line + "\n"))
    assert result.ptime == ptime
    assert result.answer.media[0].ptime == 20  # what the bridge wants to receive


def test_ipv6_local_address() -> None:
    result = answer(offer(SIPP_UAC), local_address="2001:db8::7")
    assert result.answer.connection == Connection("IN", "IP6", "2001:db8::7")
    assert result.answer.origin.addr_type == "IP6"


HOLDS = [
    # (how the re-INVITE holds, remote direction, our direction, on hold, remote address)
    ("a=sendonly", "sendonly", "recvonly", True, "127.0.1.1"),
    ("a=inactive", "inactive", "inactive", True, "127.0.1.1"),
    ("a=recvonly", "recvonly", "sendonly", False, "127.0.1.1"),
    ("a=sendrecv", "sendrecv", "sendrecv", False, "127.0.1.1"),
    ("c=IN IP4 0.0.0.0", "sendrecv", "sendrecv", True, "0.0.0.0"),
]


@pytest.mark.parametrize(("line", "remote", "local", "held", "address"), HOLDS)
def test_hold_reinvites(line: str, remote: str, local: str, held: bool, address: str) -> None:
    reinvite = SIPP_UAC.replace("2353687637", "2353687638") + line + "\n"
    result = answer(offer(reinvite), session_version=2)
    assert (result.remote_direction, result.local_direction) == (remote, local)
    assert result.on_hold is held
    assert result.remote_address == address
    assert result.answer.media[0].direction == local
    assert result.answer.origin.session_version == 2


def test_session_level_direction_applies_unless_media_overrides() -> None:
    held = SIPP_UAC.replace("t=0 0\n", "t=0 0\na=sendonly\n")
    assert answer(offer(held)).remote_direction == "sendonly"
    assert answer(offer(held + "a=sendrecv\n")).remote_direction == "sendrecv"
    assert answer(offer(SIPP_UAC + "a=INACTIVE\n")).remote_direction == "inactive"


@pytest.mark.parametrize(
    "m_lines",
    [
        "m=audio 5000 RTP/AVP 18 9\na=rtpmap:18 G729/8000\na=rtpmap:9 G722/8000\n",
        "m=audio 5000 RTP/AVP 96 101\na=rtpmap:96 opus/48000/2\n"
        "a=rtpmap:101 telephone-event/8000\n",
        "m=audio 5000 RTP/AVP 97\n",  # dynamic type without rtpmap: unknown codec
        "m=audio 5000 RTP/SAVP 0\n",
        "m=audio 5000 RTP/AVPF 0\n",
        "m=audio 0 RTP/AVP 0\n",
        "m=video 5000 RTP/AVP 0\n",
        "",
    ],
)
def test_no_common_audio_codec_is_488(m_lines: str) -> None:
    sd = offer("v=0\no=- 1 1 IN IP4 h\ns=-\nc=IN IP4 10.0.0.2\nt=0 0\n" + m_lines)
    with pytest.raises(SdpError) as caught:
        answer(sd)
    assert (caught.value.code, caught.value.reason) == (488, "Not Acceptable Here")


def test_preferred_pcma_only_against_pcmu_only_offer_is_488() -> None:
    with pytest.raises(SdpError, match="no audio codec in common") as caught:
        answer(offer(SIPP_UAC), preferred=("PCMA",))
    assert caught.value.code == 488


def test_offer_without_any_connection_is_a_400() -> None:
    sd = offer(SIPP_UAC.replace("c=IN IP4 127.0.1.1\n", ""))
    with pytest.raises(SdpError, match="c=") as caught:
        answer(sd)
    assert caught.value.code == 400


@pytest.mark.parametrize(
    "overrides",
    [
        {"preferred": ("opus",)},
        {"preferred": ()},
        {"local_port": 0},
        {"local_port": 65536},
        {"local_address": "10.0.0.1\r\nm=video 9 RTP/AVP 0"},
        {"local_address": ""},
        {"session_id": -1},
    ],
)
def test_answer_rejects_bad_local_arguments(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        answer(offer(SIPP_UAC), **overrides)


def test_make_offer() -> None:
    sd = make_offer(**LOCAL)  # type: ignore[arg-type]
    assert serialise_sdp(sd) == (
        "v=0\r\n"
        "o=- 7 1 IN IP4 198.51.100.7\r\n"
        "s=-\r\n"
        "c=IN IP4 198.51.100.7\r\n"
        "t=0 0\r\n"
        "m=audio 40000 RTP/AVP 0 8 101\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:8 PCMA/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=fmtp:101 0-15\r\n"
        "a=ptime:20\r\n"
        "a=sendrecv\r\n"
    )
    assert parse_sdp(serialise_sdp(sd)) == sd


def test_make_offer_for_hold_without_dtmf() -> None:
    sd = make_offer(
        local_address="198.51.100.7",
        local_port=40000,
        session_id=7,
        session_version=2,
        codecs=("pcma",),
        telephone_event_pt=None,
        direction="sendonly",
    )
    (audio,) = sd.media
    assert audio.formats == ("8",)
    assert audio.direction == "sendonly"
    assert sd.origin.session_version == 2
    # Answered by the bridge itself: the far end sees us holding it.
    result = answer(sd)
    assert (result.remote_direction, result.local_direction, result.on_hold) == (
        "sendonly",
        "recvonly",
        True,
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"codecs": ("G729",)},
        {"codecs": ()},
        {"telephone_event_pt": 8},
        {"telephone_event_pt": 128},
        {"direction": "hold"},
        {"local_port": -1},
        {"local_address": "a b"},
        {"session_version": -2},
    ],
)
def test_make_offer_rejects_bad_arguments(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        make_offer(**{**LOCAL, **overrides})  # type: ignore[arg-type]


OUR_OFFER = make_offer(
    local_address="198.51.100.7", local_port=40000, session_id=7, session_version=1
)
ASTERISK_ANSWER = (
    "v=0\n"
    "o=- 1843473093 1843473094 IN IP4 203.0.113.10\n"
    "s=Asterisk\n"
    "c=IN IP4 203.0.113.10\n"
    "t=0 0\n"
    "m=audio 17130 RTP/AVP 8 101\n"
    "a=rtpmap:8 PCMA/8000\n"
    "a=rtpmap:101 telephone-event/8000\n"
    "a=fmtp:101 0-16\n"
    "a=ptime:30\n"
    "a=maxptime:150\n"
    "a=sendrecv\n"
)


def test_accept_answer_from_asterisk() -> None:
    theirs = offer(ASTERISK_ANSWER)
    result = accept_answer(OUR_OFFER, theirs)
    assert result.answer is theirs
    assert (result.codec, result.payload_type, result.telephone_event_pt) == ("PCMA", 8, 101)
    assert (result.remote_address, result.remote_port, result.ptime) == ("203.0.113.10", 17130, 30)
    assert (result.remote_direction, result.local_direction, result.on_hold) == (
        "sendrecv",
        "sendrecv",
        False,
    )


def test_accept_answer_with_static_type_only_and_other_dtmf_type() -> None:
    theirs = offer(
        "v=0\no=- 1 1 IN IP4 h\ns=-\nc=IN IP4 10.0.0.2\nt=0 0\n"
        "m=audio 5000 RTP/AVP 0 96\na=rtpmap:96 telephone-event/8000\na=recvonly\n"
    )
    result = accept_answer(OUR_OFFER, theirs)
    assert (result.codec, result.payload_type, result.telephone_event_pt) == ("PCMU", 0, 96)
    assert result.remote_direction == "recvonly" and not result.on_hold


def test_accept_answer_ignores_dtmf_we_did_not_offer() -> None:
    ours = make_offer(**LOCAL, telephone_event_pt=None)  # type: ignore[arg-type]
    result = accept_answer(ours, offer(ASTERISK_ANSWER))
    assert result.telephone_event_pt is None


def test_accept_answer_on_hold_by_far_end() -> None:
    theirs = offer(ASTERISK_ANSWER.replace("a=sendrecv", "a=inactive"))
    assert accept_answer(OUR_OFFER, theirs).on_hold


@pytest.mark.parametrize(
    ("change", "mentions"),
    [
        (("m=audio 17130 RTP/AVP 8 101", "m=audio 17130 RTP/AVP 18"), "no codec"),
        (("a=rtpmap:8 PCMA/8000", "a=rtpmap:8 G729/8000"), "no codec"),
        (("m=audio 17130", "m=audio 0"), "rejected"),
        (("m=audio 17130 RTP/AVP", "m=audio 17130 RTP/SAVP"), "changed"),
        (("a=sendrecv", "a=sendrecv\nm=video 0 RTP/AVP 31"), "m-lines"),
    ],
)
def test_accept_answer_rejects_answers_that_break_the_offer(
    change: tuple[str, str], mentions: str
) -> None:
    theirs = offer(ASTERISK_ANSWER.replace(*change))
    with pytest.raises(SdpError, match=mentions):
        accept_answer(OUR_OFFER, theirs)


def test_accept_answer_needs_an_audio_offer() -> None:
    video_only = SessionDescription(
        origin=Origin("-", 1, 1, "IN", "IP4", "h"),
        media=(MediaDescription("video", 5000, "RTP/AVP", ("31",)),),
    )
    with pytest.raises(ValueError, match="no RTP/AVP audio"):
        accept_answer(video_only, video_only)


@pytest.mark.parametrize("text", [SIPP_UAC, SIPP_UAC_PCAP, BARESIP, LINPHONE, ASTERISK])
def test_real_offers_round_trip_and_answers_are_accepted_by_ourselves(text: str) -> None:
    sd = offer(text)
    assert parse_sdp(serialise_sdp(sd)) == sd
    ours = answer(sd)
    assert parse_sdp(serialise_sdp(ours.answer)) == ours.answer
    back = accept_answer(sd, ours.answer)
    assert (back.codec, back.payload_type) == (ours.codec, ours.payload_type)
    assert back.telephone_event_pt == ours.telephone_event_pt


# Random offers: a mix of streams the bridge rejects around (optionally) one it can take.
ENCODINGS = [
    "PCMU/8000",
    "pcma/8000",
    "PCMU/16000",
    "opus/48000/2",
    "G722/8000",
    "telephone-event/8000",
    "telephone-event/48000",
    "G729/8000",
    "VP8/90000",
]
RTP_PROTOS = ["RTP/AVP", "rtp/avp", "RTP/SAVP", "RTP/AVPF", "UDP/TLS/RTP/SAVPF"]
DIRECTION = st.sampled_from([None, "sendrecv", "sendonly", "recvonly", "inactive"])
HOST = st.sampled_from(["10.0.0.2", "0.0.0.0", "2001:db8::2", "pbx.example.net"])


def connection(host: str) -> Connection:
    return Connection("IN", "IP6" if ":" in host else "IP4", host)


@st.composite
def media_sections(draw: st.DrawFn, usable: bool) -> MediaDescription:
    if usable:
        kind, proto, port = "audio", draw(st.sampled_from(["RTP/AVP", "rtp/avp"])), None
    else:
        kind = draw(st.sampled_from(["audio", "audio", "video", "application", "image"]))
        proto = draw(st.sampled_from([*RTP_PROTOS, "udptl", "TCP/BFCP"]))
        port = draw(st.sampled_from([0, None]))
    if port is None:
        port = draw(st.integers(1, 65535))
    attributes: list[tuple[str, str | None]] = []
    if "RTP" in proto.upper():
        pts = draw(st.lists(st.integers(0, 127), min_size=1, max_size=6, unique=True))
        for pt in pts:
            if draw(st.booleans()):
                attributes.append(("rtpmap", f"{pt} {draw(st.sampled_from(ENCODINGS))}"))
            if draw(st.booleans()):
                attributes.append(("fmtp", f"{pt} {draw(st.sampled_from(['0-15', '0-11,16']))}"))
        if usable:
            # One G.711 format, either static without rtpmap or dynamic with one.
            g711 = draw(st.sampled_from([0, 8, *range(96, 128)]).filter(lambda p: p not in pts))
            pts.insert(draw(st.integers(0, len(pts))), g711)
            if g711 >= 96:
                attributes.insert(
                    0, ("rtpmap", f"{g711} {draw(st.sampled_from(['PCMU', 'pcma']))}/8000")
                )
        formats = tuple(str(pt) for pt in pts)
    else:
        formats = tuple(draw(st.lists(st.sampled_from(["*", "t38", "x"]), min_size=1, max_size=2)))
    if (direction := draw(DIRECTION)) is not None:
        attributes.append((direction, None))
    if draw(st.booleans()):
        attributes.append(("ptime", str(draw(st.integers(1, 200)))))
    return MediaDescription(
        media=kind,
        port=port,
        proto=proto,
        formats=formats,
        connection=connection(draw(HOST)) if draw(st.booleans()) else None,
        attributes=tuple(attributes),
    )


@st.composite
def offers(draw: st.DrawFn, usable: bool) -> SessionDescription:
    media = draw(st.lists(media_sections(usable=False), max_size=4))
    if usable:
        media.insert(draw(st.integers(0, len(media))), draw(media_sections(usable=True)))
    session_direction = draw(DIRECTION)
    return SessionDescription(
        origin=Origin(
            "-", draw(st.integers(0, 2**64)), draw(st.integers(0, 2**32)), "IN", "IP4", "h"
        ),
        # Without a session-level c=, every usable stream needs its own.
        connection=connection(draw(HOST)),
        timing=Timing(draw(st.integers(0, 2**32)), 0),
        attributes=() if session_direction is None else ((session_direction, None),),
        media=tuple(media),
    )


@FUZZ
@given(offers(usable=True))
def test_random_usable_offers_always_get_a_full_answer(sd: SessionDescription) -> None:
    received = parse_sdp(serialise_sdp(sd).encode())
    assert received == sd
    result = answer(received)
    assert len(result.answer.media) == len(sd.media)
    for i, (ours, theirs) in enumerate(zip(result.answer.media, sd.media, strict=True)):
        assert ours.media == theirs.media and ours.proto == theirs.proto
        assert ours.port == (40000 if i == result.media_index else 0)
    assert result.codec in ("PCMU", "PCMA")
    assert str(result.payload_type) in sd.media[result.media_index].formats
    assert result.answer.timing == sd.timing
    assert parse_sdp(serialise_sdp(result.answer)) == result.answer
    back = accept_answer(received, result.answer)
    assert (back.codec, back.payload_type) == (result.codec, result.payload_type)
    assert back.telephone_event_pt == result.telephone_event_pt


@FUZZ
@given(offers(usable=False))
def test_random_offers_get_a_full_answer_or_a_488(sd: SessionDescription) -> None:
    try:
        result = answer(parse_sdp(serialise_sdp(sd)))
    except SdpError as err:
        assert err.code == 488
        return
    assert len(result.answer.media) == len(sd.media)
