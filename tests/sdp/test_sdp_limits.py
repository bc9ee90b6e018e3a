"""What one session description may cost (issue 12, finding 4): limits on lines, media
sections, formats and attributes, each just under (accepted) and just over (refused 488 with
warn-code 399), linear look-ups, and a bound on the work any body up to 64 KB costs.

The work is counted in Python lines run (tests/support/cost.py), which no load on the machine
can move; the issue's 5 ms per body is a speed target and lives in ``make bench``
(bench/parse_cost.py), which times the same costliest description."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from tests.support.cost import lines_run

from callroster.sdp.offer_answer import answer_offer
from callroster.sdp.session import (
    MAX_ATTRIBUTES,
    MAX_FORMATS,
    MAX_LINES,
    MAX_MEDIA,
    RtpMap,
    SdpError,
    SdpTooLarge,
    parse_sdp,
)

HEAD = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0"]
AUDIO = "m=audio 40000 RTP/AVP 0"
LOCAL = {"local_address": "127.0.0.1", "local_port": 40000, "session_id": 1, "session_version": 1}
# Python lines any body up to 64 KB may run: about twice the costliest description the limits
# allow (27,822 lines when this was written, 5 ms being the speed target benchmarked for it).
# A look-up gone quadratic in the 512 lines a body may have would run hundreds of thousands.
WORK_BOUND = 60_000
LARGEST = 64 * 1024


def body(lines: list[str], ending: str = "\r\n") -> str:
    return ending.join(lines) + ending


def refused_as_too_large(text: str, mentions: str) -> None:
    with pytest.raises(SdpTooLarge, match=mentions) as caught:
        parse_sdp(text)
    error = caught.value
    assert isinstance(error, SdpError)
    assert (error.code, error.reason, error.warning) == (488, "Not Acceptable Here", 399)
    assert error.warning_text == "Session description too large"


# -- lines ---------------------------------------------------------------------------------


@pytest.mark.parametrize("ending", ["\r\n", "\n", "\r"])
def test_max_lines_accepted_one_more_refused(ending: str) -> None:
    at_limit = [*HEAD, *[AUDIO, *["a=x"] * 100] * 4]
    at_limit += ["b=AS:64"] * (MAX_LINES - len(at_limit))
    assert len(at_limit) == MAX_LINES
    assert len(parse_sdp(body(at_limit, ending)).media) == 4
    refused_as_too_large(body([*at_limit, "b=AS:64"], ending), "lines")


def test_blank_lines_count_but_trailing_ones_do_not() -> None:
    lines = [*HEAD, AUDIO]
    padded = body(lines) + "\r\n" * (MAX_LINES - len(lines) - 1)
    parse_sdp(padded + "a=sendrecv\r\n")  # the MAX_LINES-th line
    parse_sdp(padded + "a=sendrecv\r\n" + "\r\n" * 5000)  # only blank lines past it
    refused_as_too_large(padded + "\r\na=sendrecv\r\n", "lines")


# -- media sections, formats, attributes ------------------------------------------------------


def test_max_media_sections_accepted_one_more_refused() -> None:
    sections = [f"m=audio {40000 + 2 * i} RTP/AVP 0" for i in range(MAX_MEDIA)]
    sd = parse_sdp(body([*HEAD, *sections]))
    assert len(sd.media) == MAX_MEDIA
    # The answer rejects every stream but the first, one m= line for each offered.
    assert len(answer_offer(sd, **LOCAL).answer.media) == MAX_MEDIA  # type: ignore[arg-type]
    refused_as_too_large(body([*HEAD, *sections, "m=audio 9 RTP/AVP 8"]), "media sections")


@pytest.mark.parametrize("proto", ["RTP/AVP", "UDP/TLS/RTP/SAVPF", "TCP/BFCP"])
def test_max_formats_accepted_one_more_refused(proto: str) -> None:
    formats = [str(i % 128) for i in range(MAX_FORMATS)]
    sd = parse_sdp(body([*HEAD, f"m=audio 40000 {proto} {' '.join(formats)}"]))
    assert len(sd.media[0].formats) == MAX_FORMATS
    over = f"m=audio 40000 {proto} {' '.join(formats)} 0"
    refused_as_too_large(body([*HEAD, over]), "formats")


def test_formats_are_counted_however_they_are_spaced() -> None:
    formats = "\t ".join(["0"] * MAX_FORMATS)
    parse_sdp(body([*HEAD, f"m=audio  40000\tRTP/AVP  {formats}  "]))
    refused_as_too_large(body([*HEAD, f"m=audio 40000 RTP/AVP {formats}\t 8"]), "formats")


def test_max_attributes_per_section_accepted_one_more_refused() -> None:
    many = ["a=x"] * MAX_ATTRIBUTES
    sd = parse_sdp(body([*HEAD, *many, AUDIO, *many[:200]]))
    assert (len(sd.attributes), len(sd.media[0].attributes)) == (MAX_ATTRIBUTES, 200)
    sd = parse_sdp(body([*HEAD, "a=x", AUDIO, *many]))
    assert (len(sd.attributes), len(sd.media[0].attributes)) == (1, MAX_ATTRIBUTES)
    refused_as_too_large(body([*HEAD, *many, "a=x", AUDIO]), "attributes at session level")
    refused_as_too_large(body([*HEAD, AUDIO, *many, "a=x"]), "attributes in a media section")


def test_flags_and_valued_attributes_count_alike_and_empty_ones_not_at_all() -> None:
    mixed = ["a=sendrecv", "a=ptime:20"] * (MAX_ATTRIBUTES // 2)
    parse_sdp(body([*HEAD, AUDIO, *mixed, "a=", "a=:x"]))  # nothing to keep: not counted
    refused_as_too_large(body([*HEAD, AUDIO, *mixed, "a=rtcp-mux"]), "attributes")


# -- the attack of the issue, and what the look-ups still mean -----------------------------


def attack() -> bytes:
    """The finding's INVITE body: 12,000 formats and 1,500 rtpmaps, about 55 KB."""
    formats = " ".join(str(1 + i % 7) for i in range(12_000))
    rtpmaps = [f"a=rtpmap:{100 + i % 28} X/8000" for i in range(1_500)]
    return body([*HEAD, f"m=audio 40000 RTP/AVP {formats}", *rtpmaps]).encode()


def test_the_attack_is_refused_at_once() -> None:
    data = attack()
    assert 50_000 < len(data) < LARGEST
    with pytest.raises(SdpTooLarge):
        parse_sdp(data)
    # Within the limits, the same shape (every format looked up among every rtpmap) is
    # answered: one pass over the section builds the index that the formats share.
    formats = " ".join(str(1 + i % 127) for i in range(MAX_FORMATS - 1))
    rtpmaps = [f"a=rtpmap:{1 + i % 127} X/8000" for i in range(MAX_ATTRIBUTES - 6)]
    section = [f"m=audio 40000 RTP/AVP {formats} 0", *rtpmaps]
    within = body([*HEAD, *section * 2]).encode()
    negotiated = answer_offer(parse_sdp(within), **LOCAL)  # type: ignore[arg-type]
    assert (negotiated.codec, negotiated.payload_type) == ("PCMU", 0)


def test_the_costliest_description_within_the_limits_stays_within_the_work_bound() -> None:
    """Every media section the limits allow, each with every format, and rtpmaps for them
    in all the lines left: each format is looked up, none is usable, every section tried."""
    formats = " ".join(str(1 + i % 127) for i in range(MAX_FORMATS))
    per_section = (MAX_LINES - len(HEAD)) // MAX_MEDIA - 1
    rtpmaps = [f"a=rtpmap:{1 + i % 127} X/8000" for i in range(per_section)]
    text = body([*HEAD, *[f"m=audio 40000 RTP/AVP {formats}", *rtpmaps] * MAX_MEDIA])
    assert MAX_LINES - MAX_MEDIA < text.count("\n") <= MAX_LINES

    def answer() -> None:
        with pytest.raises(SdpError, match="no audio codec in common"):
            answer_offer(parse_sdp(text), **LOCAL)  # type: ignore[arg-type]

    work = lines_run(answer)
    # Positive control: it is the costliest, so it does real work on every line it has.
    assert MAX_LINES * 20 < work <= WORK_BOUND


def test_indexed_look_ups_keep_their_meaning() -> None:
    sd = parse_sdp(
        body(
            [
                *HEAD,
                "m=audio 40000 RTP/AVP 96 0 101 97",
                "a=rtpmap:96 bad",  # malformed: ignored, the next one for 96 counts
                "a=rtpmap:96 PCMA/8000",
                "a=rtpmap:96 PCMU/8000",  # not the first: ignored
                "a=rtpmap:0 G722/8000",  # overrides the static default
                "a=fmtp:101 0-15",
                "a=fmtp:101 0-11",  # not the first
                "a=fmtp:x 1",  # malformed
                "a=rtpmap:101 telephone-event/8000",
            ]
        )
    )
    media = sd.media[0]
    assert media.payload_types == (96, 0, 101, 97)
    assert media.rtpmap(96) == RtpMap(96, "PCMA", 8000)
    assert media.rtpmap(0) == RtpMap(0, "G722", 8000)
    assert media.rtpmap(8) == RtpMap(8, "PCMA", 8000)  # static default, though not offered
    assert media.rtpmap(97) is None
    assert (media.fmtp(101), media.fmtp(96)) == ("0-15", None)
    negotiated = answer_offer(sd, **LOCAL)  # type: ignore[arg-type]
    assert (negotiated.codec, negotiated.payload_type, negotiated.telephone_event_pt) == (
        "PCMA",
        96,
        101,
    )


@pytest.mark.parametrize(("items", "dtmf"), [(31, True), (32, False)])
def test_telephone_event_lists_are_read_to_32_items(items: int, dtmf: bool) -> None:
    events = ",".join(["200"] * items + ["0-15"])  # the last item is the one that counts
    sd = parse_sdp(
        body(
            [
                *HEAD,
                "m=audio 40000 RTP/AVP 0 101",
                "a=rtpmap:101 telephone-event/8000",
                f"a=fmtp:101 {events}",
            ]
        )
    )
    negotiated = answer_offer(sd, **LOCAL)  # type: ignore[arg-type]
    assert (negotiated.telephone_event_pt is not None) is dtmf


def test_a_long_telephone_event_list_costs_no_more_than_a_short_one() -> None:
    events = ",".join(["0-255"] * 10_000)
    sd = parse_sdp(body([*HEAD, "m=audio 40000 RTP/AVP 0 101", f"a=fmtp:101 {events}"]).encode())
    short = parse_sdp(body([*HEAD, "m=audio 40000 RTP/AVP 0 101", "a=fmtp:101 0-15"]).encode())
    long_work = lines_run(lambda: answer_offer(sd, **LOCAL))  # type: ignore[arg-type]
    short_work = lines_run(lambda: answer_offer(short, **LOCAL))  # type: ignore[arg-type]
    assert long_work <= short_work + 20, (long_work, short_work)


# -- any body up to 64 KB ----------------------------------------------------------------------

PAYLOAD_TYPES = st.sampled_from(
    ["0", "8", "101", "96", "127", "1", "7", "0 8", "96 97 98", "128", "00", "x"]
)
ENCODINGS = st.sampled_from(["PCMU", "pcma", "telephone-event", "X", "opus", "bad"])


@st.composite
def pieces(draw: st.DrawFn) -> str:
    """One adversarial run of lines: each kind the limits and look-ups have to survive."""
    count = draw(
        st.integers(min_value=0, max_value=20_000)
        | st.integers(min_value=0, max_value=MAX_LINES + 10)  # within the limits, mostly
        | st.sampled_from([MAX_MEDIA, MAX_FORMATS - 1, MAX_ATTRIBUTES - 1, MAX_LINES - 20])
    )
    kind = draw(
        st.sampled_from(
            [
                "formats",
                "rtpmaps",
                "fmtps",
                "sections",
                "full sections",
                "attributes",
                "blank",
                "unknown",
                "long line",
                "events",
            ]
        )
    )
    pt = draw(PAYLOAD_TYPES)
    if kind == "formats":
        return f"m=audio 40000 {draw(st.sampled_from(['RTP/AVP', 'RTP/SAVP', 'x']))} " + (
            " ".join([pt] * count)
        )
    if kind == "rtpmaps":
        encoding = draw(ENCODINGS)
        return "\n".join(f"a=rtpmap:{i % 128} {encoding}/8000" for i in range(count))
    if kind == "fmtps":
        return "\n".join(f"a=fmtp:{i % 128} 0-15" for i in range(count))
    if kind == "sections":
        return "\n".join(
            f"m=audio {2 * i} RTP/AVP {pt}\na=rtpmap:{pt} X/8000" for i in range(count)
        )
    if kind == "full sections":  # each with every format it may have, and rtpmaps for them
        formats = " ".join(str(i % 128) for i in range(MAX_FORMATS))
        rtpmaps = "\n".join(f"a=rtpmap:{i} {draw(ENCODINGS)}/8000" for i in range(count % 64))
        return "\n".join([f"m=audio 40000 RTP/AVP {formats}\n{rtpmaps}"] * (count % 20))
    if kind == "attributes":
        return "\n".join([draw(st.sampled_from(["a=sendonly", "a=ptime:20", "a=x:y"]))] * count)
    if kind == "blank":
        return "\n" * count
    if kind == "unknown":
        return "\n".join(["x=y"] * count)
    if kind == "long line":
        prefix = draw(st.sampled_from(["a=", "s=", "o=- 1 1 IN IP4 ", "m=audio 1 RTP/AVP ", "q"]))
        return prefix + draw(st.sampled_from(["x", "0 ", " ", "/", ":"])) * count
    return f"a=rtpmap:101 telephone-event/8000\na=fmtp:101 {','.join(['0-255'] * count)}"


@settings(
    max_examples=150,
    deadline=None,
    database=None,  # it would write .hypothesis/ into the source tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    st.lists(pieces(), min_size=1, max_size=6),
    st.sampled_from(["\r\n", "\n", "\r"]),
    st.booleans(),
)
def test_any_body_up_to_64_kb_is_answered_or_refused_within_the_work_bound(
    runs: list[str], ending: str, usable: bool
) -> None:
    head = [*HEAD, AUDIO, "a=rtpmap:0 PCMU/8000"] if usable else HEAD
    text = "\n".join([*head, *runs]).replace("\n", ending)
    data = text.encode()[:LARGEST]

    def handle() -> None:
        try:
            answer_offer(parse_sdp(data), **LOCAL)  # type: ignore[arg-type]
        except SdpError:
            pass

    work = lines_run(handle)
    note(f"{len(data)} bytes, {text.count(ending)} lines: {work} Python lines run")
    assert work <= WORK_BOUND


def test_the_work_counter_sees_a_quadratic_look_up() -> None:
    """Positive control for the bounds above: the look-up a linear parser replaced (each
    format searched for among every attribute) counts as quadratic work."""

    def quadratic(n: int) -> None:
        attributes = [f"a=rtpmap:{i} X/8000" for i in range(n)]
        for fmt in range(n):
            for attribute in attributes:
                if attribute.startswith(f"a=rtpmap:{fmt} "):
                    break

    assert lines_run(lambda: quadratic(400)) > 16 * lines_run(lambda: quadratic(100)) / 2
    assert lines_run(lambda: quadratic(400)) > WORK_BOUND
