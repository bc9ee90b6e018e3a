"""SDES ``a=crypto`` lines (callroster.sdp.crypto) and SRTP in offer/answer
(callroster.sdp.offer_answer)."""

from __future__ import annotations

import base64

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callroster.sdp.crypto import (
    AEAD_AES_128_GCM,
    AES_CM_128_HMAC_SHA1_80,
    KEY_SALT_LENGTHS,
    MAX_KEY_MATERIAL,
    MAX_VALUE,
    CryptoAttribute,
    CryptoError,
    for_suite,
    format_crypto,
    parse_crypto,
)
from callroster.sdp.offer_answer import accept_answer, answer_offer, make_offer, offers_srtp
from callroster.sdp.session import SdpError, SessionDescription, parse_sdp, serialise_sdp

FUZZ = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
LOCAL = {"local_address": "198.51.100.7", "local_port": 40000, "session_id": 7}
OUR_KEY = bytes(range(100, 100 + MAX_KEY_MATERIAL))
THEIR_KEY30 = bytes(range(30))
B64_30 = base64.b64encode(THEIR_KEY30).decode()
B64_28 = base64.b64encode(THEIR_KEY30[:28]).decode()


def sdp(text: str) -> SessionDescription:
    return parse_sdp(text.replace("\n", "\r\n").encode())


def savp_offer(*crypto: str, proto: str = "RTP/SAVP") -> SessionDescription:
    lines = "".join(f"a=crypto:{c}\n" for c in crypto)
    return sdp(
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n"
        f"m=audio 5004 {proto} 8 0 101\na=rtpmap:101 telephone-event/8000\n{lines}"
    )


# -- the attribute ----------------------------------------------------------------------


def test_reads_the_rfc_4568_example_shape() -> None:
    line = parse_crypto(f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}|2^20")
    assert line == CryptoAttribute(1, AES_CM_128_HMAC_SHA1_80, THEIR_KEY30, 1 << 20)
    assert format_crypto(line) == f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}|2^20"


def test_reads_gcm_keys_of_28_bytes_and_a_decimal_lifetime() -> None:
    line = parse_crypto(f"7 AEAD_AES_128_GCM inline:{B64_28}|1000")
    assert (line.tag, line.suite, line.key, line.lifetime) == (
        7,
        AEAD_AES_128_GCM,
        THEIR_KEY30[:28],
        1000,
    )


def test_unpadded_base64_is_accepted() -> None:
    assert parse_crypto(f"1 AEAD_AES_128_GCM inline:{B64_28.rstrip('=')}").key == THEIR_KEY30[:28]


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("1 AES_CM_128_HMAC_SHA1_80", "needs a tag"),
        (f"x AES_CM_128_HMAC_SHA1_80 inline:{B64_30}", "tag"),
        (f"1234567890 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}", "tag"),
        (f"1 AES_CM_128_HMAC_SHA1_32 inline:{B64_30}", "unsupported crypto suite"),
        (f"1 F8_128_HMAC_SHA1_80 inline:{B64_30}", "unsupported crypto suite"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64_28}", "30"),
        (f"1 AEAD_AES_128_GCM inline:{B64_30}", "28"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}|2^20|1:4", "MKI"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30};inline:{B64_30}", "more than one key"),
        (f"1 AES_CM_128_HMAC_SHA1_80 uri:{B64_30}", "inline"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30} KDR=1", "session parameters"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30} UNENCRYPTED_SRTP", "session parameters"),
        ("1 AES_CM_128_HMAC_SHA1_80 inline:not*base64", "base64"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}|2^99", "lifetime"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}|0", "lifetime"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}|2^20|2^21", "two crypto key lifetimes"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}{'A' * MAX_VALUE}", "too long"),
    ],
)
def test_refuses_what_it_cannot_use_and_says_why(value: str, why: str) -> None:
    with pytest.raises(CryptoError, match=why):
        parse_crypto(value)


def test_our_lines_take_the_first_bytes_of_the_key_material() -> None:
    assert for_suite(2, AEAD_AES_128_GCM, OUR_KEY).key == OUR_KEY[:28]
    with pytest.raises(ValueError, match="30 bytes"):
        for_suite(1, AES_CM_128_HMAC_SHA1_80, OUR_KEY[:29])


_SUITES = st.sampled_from(sorted(KEY_SALT_LENGTHS))


@FUZZ
@given(
    tag=st.integers(0, 999_999_999),
    suite=_SUITES,
    material=st.binary(min_size=MAX_KEY_MATERIAL, max_size=MAX_KEY_MATERIAL),
    lifetime=st.none() | st.integers(1, 1 << 48),
)
def test_format_then_parse_gives_the_same_line(
    tag: int, suite: str, material: bytes, lifetime: int | None
) -> None:
    line = CryptoAttribute(tag, suite, material[: KEY_SALT_LENGTHS[suite]], lifetime)
    assert parse_crypto(format_crypto(line)) == line


@FUZZ
@given(st.text(max_size=400))
def test_any_text_is_read_or_refused_with_a_crypto_error(value: str) -> None:
    try:
        line = parse_crypto(value)
    except CryptoError:
        return
    assert len(line.key) == KEY_SALT_LENGTHS[line.suite]


@FUZZ
@given(
    tag=st.from_regex(r"[0-9]{1,9}", fullmatch=True),
    suite=_SUITES | st.from_regex(r"[A-Z0-9_]{1,20}", fullmatch=True),
    key=st.from_regex(r"[A-Za-z0-9+/=]{0,60}", fullmatch=True),
    extras=st.lists(st.from_regex(r"[0-9^:]{0,8}", fullmatch=True), max_size=3),
)
def test_near_miss_lines_are_read_or_refused_cleanly(
    tag: str, suite: str, key: str, extras: list[str]
) -> None:
    value = f"{tag} {suite} inline:{'|'.join([key, *extras])}"
    try:
        line = parse_crypto(value)
    except CryptoError:
        return
    assert line.suite in KEY_SALT_LENGTHS and line.tag == int(tag)


# -- offer/answer -----------------------------------------------------------------------


def test_a_savp_offer_is_answered_with_the_first_suite_we_support_in_its_order() -> None:
    offer = savp_offer(
        f"1 AES_CM_128_HMAC_SHA1_32 inline:{B64_30}",  # not ours: skipped
        f"2 AEAD_AES_128_GCM inline:{B64_28}",
        f"3 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}",
    )
    negotiated = answer_offer(offer, session_version=1, srtp_key=OUR_KEY, **LOCAL)  # type: ignore[arg-type]
    media = negotiated.answer.media[0]
    assert media.proto == "RTP/SAVP"
    [line] = media.attribute_values("crypto")
    assert parse_crypto(line) == CryptoAttribute(2, AEAD_AES_128_GCM, OUR_KEY[:28])
    assert negotiated.srtp is not None
    assert negotiated.srtp.suite == AEAD_AES_128_GCM
    assert negotiated.srtp.remote_key == THEIR_KEY30[:28]
    assert negotiated.srtp.local_key == OUR_KEY[:28]
    assert negotiated.codec == "PCMA" and negotiated.telephone_event_pt == 101
    # and it survives the wire
    assert parse_sdp(serialise_sdp(negotiated.answer)).media[0].attribute_values("crypto") == [line]


def test_without_key_material_a_savp_offer_is_refused_and_avp_crypto_ignored() -> None:
    assert offers_srtp(savp_offer(f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}"))
    with pytest.raises(SdpError):
        answer_offer(
            savp_offer(f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}"),
            session_version=1,
            **LOCAL,  # type: ignore[arg-type]
        )
    best_effort = savp_offer(f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}", proto="RTP/AVP")
    assert not offers_srtp(best_effort)
    clear = answer_offer(best_effort, session_version=1, **LOCAL)  # type: ignore[arg-type]
    assert clear.srtp is None
    assert clear.answer.media[0].attribute_values("crypto") == []
    assert clear.answer.media[0].proto == "RTP/AVP"


def test_with_key_material_a_best_effort_avp_offer_gets_srtp() -> None:
    offer = savp_offer(f"5 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}", proto="RTP/AVP")
    negotiated = answer_offer(offer, session_version=1, srtp_key=OUR_KEY, **LOCAL)  # type: ignore[arg-type]
    assert negotiated.srtp is not None and negotiated.srtp.tag == 5
    assert negotiated.answer.media[0].proto == "RTP/AVP"


def test_a_savp_offer_with_no_suite_of_ours_is_refused_with_305() -> None:
    offer = savp_offer(f"1 AES_CM_128_HMAC_SHA1_32 inline:{B64_30}")
    with pytest.raises(SdpError, match="no crypto suite in common") as caught:
        answer_offer(offer, session_version=1, srtp_key=OUR_KEY, **LOCAL)  # type: ignore[arg-type]
    assert caught.value.warning == 305


def test_a_clear_offer_with_key_material_is_answered_clear() -> None:
    offer = savp_offer(proto="RTP/AVP")
    negotiated = answer_offer(offer, session_version=1, srtp_key=OUR_KEY, **LOCAL)  # type: ignore[arg-type]
    assert negotiated.srtp is None


def test_our_savp_offer_and_the_answer_to_it() -> None:
    ours = make_offer(session_version=1, srtp_key=OUR_KEY, **LOCAL)  # type: ignore[arg-type]
    media = ours.media[0]
    assert media.proto == "RTP/SAVP"
    lines = [parse_crypto(v) for v in media.attribute_values("crypto")]
    assert [(c.tag, c.suite) for c in lines] == [
        (1, AES_CM_128_HMAC_SHA1_80),
        (2, AEAD_AES_128_GCM),
    ]
    # The far end answers as the bridge itself would.
    far = answer_offer(
        ours,
        local_address="192.0.2.9",
        local_port=6000,
        session_id=1,
        session_version=1,
        srtp_key=bytes(MAX_KEY_MATERIAL),
    )
    negotiated = accept_answer(ours, far.answer)
    assert negotiated.srtp is not None
    assert negotiated.srtp.suite == AES_CM_128_HMAC_SHA1_80
    assert negotiated.srtp.local_key == OUR_KEY[:30]
    assert negotiated.srtp.remote_key == bytes(30)


@pytest.mark.parametrize(
    "crypto",
    [
        [],
        [f"9 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}"],  # a tag we never offered
        [f"1 AEAD_AES_128_GCM inline:{B64_28}"],  # our tag 1 was AES_CM
        [f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}", f"2 AEAD_AES_128_GCM inline:{B64_28}"],
    ],
)
def test_an_answer_to_our_srtp_offer_must_take_one_offered_line(crypto: list[str]) -> None:
    ours = make_offer(session_version=1, srtp_key=OUR_KEY, **LOCAL)  # type: ignore[arg-type]
    with pytest.raises(SdpError):
        accept_answer(ours, savp_offer(*crypto))


def test_a_best_effort_offer_gets_srtp_from_a_far_end_that_does_it_and_plain_rtp_otherwise() -> (
    None
):
    ours = make_offer(session_version=1, srtp_key=OUR_KEY, srtp_mandatory=False, **LOCAL)  # type: ignore[arg-type]
    assert ours.media[0].proto == "RTP/AVP" and len(ours.media[0].attribute_values("crypto")) == 2
    plain = answer_offer(
        ours, local_address="192.0.2.9", local_port=6000, session_id=1, session_version=1
    )
    assert accept_answer(ours, plain.answer).srtp is None
    keyed = answer_offer(
        ours,
        local_address="192.0.2.9",
        local_port=6000,
        session_id=1,
        session_version=1,
        srtp_key=bytes(MAX_KEY_MATERIAL),
    )
    negotiated = accept_answer(ours, keyed.answer)
    assert negotiated.srtp is not None and negotiated.srtp.remote_key == bytes(30)
