"""SDP offer/answer (RFC 3264) for the bridge's single audio stream.

The bridge speaks G.711 only (PCMU, static payload type 0, and PCMA, 8) plus RFC 4733
telephone-event at 8 kHz for DTMF, on plain RTP/AVP or, when the caller of these functions
passes key material (it does so only for calls signalled over TLS), on SRTP keyed with SDES
(RTP/SAVP and ``a=crypto``, RFC 4568; see sdp/crypto.py). It accepts the first audio stream
it can use and rejects every other offered stream with port 0, so the answer always has as
many m-lines as the offer (RFC 3264 section 6).

Dial-in uses :func:`answer_offer`; dial-out and re-INVITE (including hold) use
:func:`make_offer` and then :func:`accept_answer` on what the far end returns.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

from callroster.sdp.crypto import (
    SUITES,
    CryptoAttribute,
    CryptoError,
    for_suite,
    format_crypto,
    parse_crypto,
)
from callroster.sdp.session import (
    Connection,
    MediaDescription,
    Origin,
    SdpError,
    SdpSyntaxError,
    SessionDescription,
    Timing,
)

Direction = Literal["sendrecv", "sendonly", "recvonly", "inactive"]

STATIC_PAYLOAD_TYPES = {"PCMU": 0, "PCMA": 8}
"""The codecs the bridge supports, with their RFC 3551 static payload types."""
CLOCK_RATE = 8000
DEFAULT_PTIME = 20
TELEPHONE_EVENT = "telephone-event"

# Narrows a parsed attribute name to Direction without a cast.
_DIRECTIONS: dict[str, Direction] = {
    "sendrecv": "sendrecv",
    "sendonly": "sendonly",
    "recvonly": "recvonly",
    "inactive": "inactive",
}
# RFC 3264 6.1: the answer's direction is the offer's seen from the other end.
_MIRROR: dict[str, Direction] = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}
# RFC 4733 events the bridge acts on: DTMF 0-9, *, # and A-D. Flash (16) and the rest mean
# nothing to a conference, so they are not accepted even when offered.
_OUR_EVENTS = frozenset(range(16))
# RFC 4733 section 2.4.1: no fmtp means the peer supports 0-15.
_DEFAULT_EVENTS = frozenset(range(16))
# Event numbers are 0-255, and real lists have a handful of items ("0-15", "0-16,32-41").
# Items past this many are ignored, so a long list costs no more than a short one.
_MAX_EVENT_ITEMS = 32
_EVENT_ITEM = re.compile(r"([0-9]{1,3})(?:-([0-9]{1,3}))?")
_ADDRESS = re.compile(r"[!-~]+")
# Crypto lines looked at per section: phones offer one to four; more are ignored.
_MAX_CRYPTO_LINES = 8


SAVP = "RTP/SAVP"
AVP = "RTP/AVP"


@dataclass(frozen=True)
class SrtpKeys:
    """The SRTP keys one offer/answer exchange settled.

    Attributes:
        suite: One of :data:`~callroster.sdp.crypto.SUITES`.
        local_key: Master key and salt the bridge protects what it sends with (its own).
        remote_key: Master key and salt the far end protects what it sends with.
        tag: The ``a=crypto`` tag the answer took.
    """

    suite: str
    local_key: bytes
    remote_key: bytes
    tag: int


@dataclass(frozen=True)
class Negotiated:
    """The outcome of one offer/answer exchange for the audio stream.

    Attributes:
        answer: The answer: the one the bridge built (:func:`answer_offer`) or the one the
            far end sent (:func:`accept_answer`).
        codec: ``"PCMU"`` or ``"PCMA"``.
        payload_type: RTP payload type of ``codec`` in this session.
        telephone_event_pt: Payload type of telephone-event/8000, or None without DTMF.
        remote_address: Where to send RTP (the effective ``c=``, multicast suffix removed).
        remote_port: Where to send RTP.
        remote_direction: Direction the far end declared for itself (``a=`` attribute at
            media or session level, ``sendrecv`` when absent).
        on_hold: The far end does not want our audio: it declared ``sendonly`` or
            ``inactive``, or used the old RFC 2543 hold address ``0.0.0.0``.
        ptime: Packet time to send with, in milliseconds (the far end's ``a=ptime`` when
            sane, else 20).
        local_direction: The bridge's own direction in this exchange.
        media_index: Position of the audio stream among the m-lines of offer and answer.
        srtp: The SRTP keys, or None for plain RTP.
    """

    answer: SessionDescription
    codec: str
    payload_type: int
    telephone_event_pt: int | None
    remote_address: str
    remote_port: int
    remote_direction: Direction
    on_hold: bool
    ptime: int = DEFAULT_PTIME
    local_direction: Direction = "sendrecv"
    media_index: int = 0
    srtp: SrtpKeys | None = None


def answer_offer(
    offer: SessionDescription,
    *,
    local_address: str,
    local_port: int,
    session_id: int,
    session_version: int,
    preferred: Sequence[str] = ("PCMU", "PCMA"),
    srtp_key: bytes | None = None,
) -> Negotiated:
    """Answers an offer received in an INVITE (or re-INVITE, UPDATE).

    The codec is the first one in the offer's order that is in ``preferred``: the offerer's
    preference wins, ``preferred`` only says what the bridge is willing to use.

    With ``srtp_key``, the first audio stream that offers a crypto suite the bridge supports
    is taken (an RTP/SAVP one, or an RTP/AVP one with ``a=crypto``, as "best effort" stacks
    offer), and answered with one ``a=crypto`` line: the offerer's first usable line's tag
    and suite, keyed with ``srtp_key``. An offer with no such stream falls back to its first
    plain RTP/AVP stream (the caller decides whether plain RTP will do). Without
    ``srtp_key``, only RTP/AVP is answered and any ``a=crypto`` is ignored.

    Args:
        offer: The parsed offer.
        local_address: Address the bridge receives RTP on (IPv4, IPv6 or host name).
        local_port: Port the bridge receives RTP on.
        session_id: ``o=`` session id; constant for the dialog, chosen by the caller.
        session_version: ``o=`` version; the caller increments it on each new answer.
        preferred: Codecs the bridge may use, a subset of ``("PCMU", "PCMA")``.
        srtp_key: Fresh random bytes (at least
            :data:`~callroster.sdp.crypto.MAX_KEY_MATERIAL`) to key SRTP with, or None to
            answer plain RTP only.

    Returns:
        The answer and the negotiated parameters.

    Raises:
        SdpError: 488 when no usable audio stream has a codec in common with
            ``preferred``; :class:`~callroster.sdp.session.SdpSyntaxError` (400) when the
            chosen stream has no connection address.
        ValueError: For bad local arguments (unknown codec, port out of range, ...).
    """
    allowed = _codec_names(preferred)
    origin = _local_origin(local_address, session_id, session_version)
    _check_port(local_port)
    index, codec, payload_type, theirs = _first_usable_audio(offer, allowed, srtp_key is not None)
    ours: CryptoAttribute | None = None
    if theirs is not None and srtp_key is not None:
        ours = for_suite(theirs.tag, theirs.suite, srtp_key)
    media = offer.media[index]
    remote = _effective_connection(offer, media)
    remote_direction = _effective_direction(offer, media)
    local_direction = _MIRROR[remote_direction]
    dtmf = _answer_telephone_event(media, exclude=payload_type)
    audio = _audio_section(
        port=local_port,
        proto=media.proto,
        codecs=[(codec, payload_type)],
        telephone_event=dtmf,
        direction=local_direction,
        crypto=() if ours is None else (ours,),
    )
    answer = SessionDescription(
        origin=origin,
        connection=_local_connection(local_address),
        timing=offer.timing,  # RFC 3264 6: the answer's t= equals the offer's
        media=tuple(audio if i == index else _rejected(m) for i, m in enumerate(offer.media)),
    )
    return Negotiated(
        answer=answer,
        codec=codec,
        payload_type=payload_type,
        telephone_event_pt=dtmf[0] if dtmf else None,
        remote_address=remote.host,
        remote_port=media.port,
        remote_direction=remote_direction,
        on_hold=_on_hold(remote_direction, remote),
        ptime=_usable_ptime(media.ptime),
        local_direction=local_direction,
        media_index=index,
        srtp=None
        if ours is None or theirs is None
        else SrtpKeys(ours.suite, ours.key, theirs.key, ours.tag),
    )


def make_offer(
    *,
    local_address: str,
    local_port: int,
    session_id: int,
    session_version: int,
    codecs: Sequence[str] = ("PCMU", "PCMA"),
    telephone_event_pt: int | None = 101,
    direction: Direction = "sendrecv",
    srtp_key: bytes | None = None,
    suites: Sequence[str] = SUITES,
    srtp_mandatory: bool = True,
) -> SessionDescription:
    """Builds an offer for dial-out or a re-INVITE (``direction="sendonly"`` puts on hold).

    With ``srtp_key`` the stream is RTP/SAVP with an ``a=crypto`` line for each of
    ``suites`` (tags 1, 2, ...), all keyed from ``srtp_key``: only the one the answer takes
    is ever used. With ``srtp_mandatory=False`` it is RTP/AVP with the same lines ("best
    effort" SRTP): a far end that does SDES answers with one, any other ignores them and
    the call is plain RTP.

    Args:
        local_address: Address the bridge receives RTP on.
        local_port: Port the bridge receives RTP on.
        session_id: ``o=`` session id; constant for the dialog, chosen by the caller.
        session_version: ``o=`` version; the caller increments it for each re-INVITE.
        codecs: Codecs to offer, most preferred first; a subset of ``("PCMU", "PCMA")``.
        telephone_event_pt: Dynamic payload type (96-127) for telephone-event/8000, or None
            to offer no DTMF.
        direction: The bridge's direction: ``sendrecv``, or ``sendonly`` / ``inactive`` to
            hold the call.
        srtp_key: Fresh random bytes to key SRTP with (see :func:`answer_offer`), or None
            for plain RTP.
        suites: The crypto suites to offer, most preferred first.
        srtp_mandatory: RTP/SAVP (True) or RTP/AVP with ``a=crypto`` (False).

    Returns:
        A description with one RTP/AVP (or RTP/SAVP) audio stream.

    Raises:
        ValueError: For an unknown codec or direction, a payload type outside 96-127, a port
            out of range, or a malformed address.
    """
    names = _codec_names(codecs)
    origin = _local_origin(local_address, session_id, session_version)
    _check_port(local_port)
    if telephone_event_pt is not None and not 96 <= telephone_event_pt <= 127:
        raise ValueError(f"telephone-event payload type must be 96-127: {telephone_event_pt}")
    if direction not in _DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}")
    crypto = (
        ()
        if srtp_key is None
        else tuple(for_suite(tag, suite, srtp_key) for tag, suite in enumerate(suites, 1))
    )
    if srtp_key is not None and not crypto:
        raise ValueError("no crypto suites to offer")
    audio = _audio_section(
        port=local_port,
        proto=SAVP if srtp_key is not None and srtp_mandatory else AVP,
        codecs=[(name, STATIC_PAYLOAD_TYPES[name]) for name in names],
        telephone_event=None if telephone_event_pt is None else (telephone_event_pt, "0-15"),
        direction=direction,
        crypto=crypto,
    )
    return SessionDescription(
        origin=origin,
        connection=_local_connection(local_address),
        timing=Timing(),
        media=(audio,),
    )


def accept_answer(offer: SessionDescription, answer: SessionDescription) -> Negotiated:
    """Reads the answer to an offer the bridge made (:func:`make_offer`).

    Args:
        offer: The offer the bridge sent.
        answer: The parsed answer from the far end.

    Returns:
        The negotiated parameters; ``answer`` is the far end's description and
        ``local_direction`` the direction the bridge offered.

    Raises:
        SdpError: 488 when the answer's m-line count differs from the offer's, the audio
            stream was rejected or changed, the answer uses no codec that was offered, or
            (to an SRTP offer) does not take exactly one of the offered crypto lines;
            :class:`~callroster.sdp.session.SdpSyntaxError` (400) when it has no connection
            address.
        ValueError: If ``offer`` has no usable audio stream (it was not made by us).
    """
    if len(answer.media) != len(offer.media):
        raise SdpError(
            f"answer has {len(answer.media)} m-lines, offer had {len(offer.media)}", warning=304
        )
    offered = [i for i, m in enumerate(offer.media) if _is_usable_audio(m, srtp=True)]
    if not offered:
        raise ValueError("the offer has no RTP/AVP audio stream")
    # The answerer may take any one of several offered audio streams; port 0 rejects.
    index = next((i for i in offered if answer.media[i].port != 0), None)
    if index is None:
        raise SdpError("the audio stream was rejected", warning=304)
    ours, theirs = offer.media[index], answer.media[index]
    if theirs.media.lower() != "audio" or theirs.proto.upper() != ours.proto.upper():
        raise SdpError(
            f"answer changed the audio stream to {theirs.media} {theirs.proto}", warning=304
        )
    names = [name for name, _ in _supported_codecs(ours, tuple(STATIC_PAYLOAD_TYPES))]
    chosen = next(iter(_supported_codecs(theirs, names)), None)
    if chosen is None:
        raise SdpError("the answer uses no codec that was offered", warning=305)
    codec, payload_type = chosen
    dtmf = _telephone_event_pt(theirs) if _telephone_event_pt(ours) is not None else None
    srtp = _accepted_crypto(ours, theirs)
    remote = _effective_connection(answer, theirs)
    remote_direction = _effective_direction(answer, theirs)
    return Negotiated(
        answer=answer,
        codec=codec,
        payload_type=payload_type,
        telephone_event_pt=dtmf if dtmf != payload_type else None,
        remote_address=remote.host,
        remote_port=theirs.port,
        remote_direction=remote_direction,
        on_hold=_on_hold(remote_direction, remote),
        ptime=_usable_ptime(theirs.ptime),
        local_direction=_effective_direction(offer, ours),
        media_index=index,
        srtp=srtp,
    )


def _accepted_crypto(ours: MediaDescription, theirs: MediaDescription) -> SrtpKeys | None:
    """The keys an answer to our offer settled: None for plain RTP; refused (SdpError)
    unless an SRTP offer's answer takes exactly one offered line, same tag and suite."""
    offered = {c.tag: c for c in _crypto_lines(ours)}
    if not offered:
        return None
    answered = theirs.attribute_values("crypto")
    if not answered and ours.proto.upper() == AVP:
        return None  # best effort, and the far end does not do SRTP: plain RTP
    if len(answered) != 1:
        raise SdpError(f"the answer has {len(answered)} crypto lines, not one", warning=305)
    try:
        chosen = parse_crypto(answered[0])
    except CryptoError as exc:
        raise SdpError(f"the answer's crypto line is unusable: {exc}", warning=305) from None
    mine = offered.get(chosen.tag)
    if mine is None or mine.suite != chosen.suite:
        raise SdpError("the answer's crypto line matches none offered", warning=305)
    return SrtpKeys(mine.suite, mine.key, chosen.key, mine.tag)


def _crypto_lines(media: MediaDescription) -> list[CryptoAttribute]:
    """The section's usable ``a=crypto`` lines, in its order (the unusable ones skipped)."""
    usable = []
    for value in media.attribute_values("crypto")[:_MAX_CRYPTO_LINES]:
        try:
            usable.append(parse_crypto(value))
        except CryptoError:
            continue
    return usable


def _codec_names(codecs: Sequence[str]) -> tuple[str, ...]:
    if isinstance(codecs, str):
        codecs = (codecs,)  # a lone "PCMU" would otherwise be read as "P", "C", "M", "U"
    names: list[str] = []
    for codec in codecs:
        name = codec.upper()
        if name not in STATIC_PAYLOAD_TYPES:
            raise ValueError(f"unsupported codec {codec!r}; use PCMU or PCMA")
        if name not in names:
            names.append(name)
    if not names:
        raise ValueError("no codecs given")
    return tuple(names)


def _local_origin(address: str, session_id: int, session_version: int) -> Origin:
    if session_id < 0 or session_version < 0:
        raise ValueError("session id and version must not be negative")
    connection = _local_connection(address)
    return Origin("-", session_id, session_version, "IN", connection.addr_type, address)


def _local_connection(address: str) -> Connection:
    if not _ADDRESS.fullmatch(address):
        raise ValueError(f"malformed local address {address!r}")
    return Connection("IN", "IP6" if ":" in address else "IP4", address)


def _check_port(port: int) -> None:
    if not 1 <= port <= 65535:
        raise ValueError(f"port out of range: {port}")


def _is_usable_audio(media: MediaDescription, *, srtp: bool = False) -> bool:
    # Port 0 means the offerer disabled the stream. Only RTP/AVP, and RTP/SAVP when SRTP is
    # on the table: answering AVPF would promise RTCP feedback the bridge does not do.
    if media.media.lower() != "audio" or media.port == 0:
        return False
    proto = media.proto.upper()
    return proto == AVP or (srtp and proto == SAVP)


def _supported_codecs(media: MediaDescription, allowed: Sequence[str]) -> list[tuple[str, int]]:
    """(codec, payload type) for each format in offer order that is an allowed G.711.

    One dictionary look-up per format (``rtpmap`` is indexed), so linear in the section.
    """
    found = []
    for payload_type in media.payload_types:
        rtpmap = media.rtpmap(payload_type)
        # Matching by name rather than number covers dynamic types mapped to PCMU or PCMA;
        # encoding names are case-insensitive (RFC 4855 3).
        if rtpmap is None or rtpmap.clock_rate != CLOCK_RATE or rtpmap.channels not in (None, 1):
            continue
        name = rtpmap.encoding.upper()
        if name in allowed:
            found.append((name, payload_type))
    return found


def _first_usable_audio(
    offer: SessionDescription, allowed: Sequence[str], srtp: bool
) -> tuple[int, str, int, CryptoAttribute | None]:
    """(index, codec, payload type, the offerer's crypto line) of the stream to take: with
    ``srtp``, the first with a usable crypto line, else the first plain RTP/AVP one."""
    saw_audio = saw_savp = False
    plain: tuple[int, str, int, CryptoAttribute | None] | None = None
    for index, media in enumerate(offer.media):
        if not _is_usable_audio(media, srtp=srtp):
            continue
        saw_audio = True
        codecs = _supported_codecs(media, allowed)
        if not codecs:
            continue
        crypto = _crypto_lines(media) if srtp else []
        if crypto:
            return index, *codecs[0], crypto[0]
        if media.proto.upper() == SAVP:
            saw_savp = True  # SRTP with no suite we do: not a stream we can take
        elif plain is None:
            plain = (index, *codecs[0], None)
            if not srtp:
                return plain
    if plain is not None:
        return plain
    if saw_savp:
        raise SdpError(
            f"no crypto suite in common; the bridge supports {', '.join(SUITES)}", warning=305
        )
    if saw_audio:
        raise SdpError(
            f"no audio codec in common; the bridge supports {', '.join(allowed)}", warning=305
        )
    raise SdpError("no RTP/AVP audio stream offered", warning=304)


def offers_srtp(offer: SessionDescription) -> bool:
    """Whether an offer has an RTP/SAVP audio stream (the caller wants SRTP, not merely
    allows it: ``a=crypto`` on RTP/AVP is only a "best effort" offer)."""
    return any(
        m.media.lower() == "audio" and m.port != 0 and m.proto.upper() == SAVP for m in offer.media
    )


def check_media_address(address: str, families: Collection[str]) -> None:
    """Raise unless the bridge can send RTP to ``address`` from a socket of one of
    ``families`` (``IP4``, ``IP6``): an IP literal of such a family. A host name is not
    resolved here (a media path must not wait on DNS), and an IPv6 address cannot be
    reached from an IPv4 socket: either would fail at every send.

    Raises:
        SdpError: 488 with warn-code 301.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise SdpError("the media address is a host name, not an IP address", warning=301) from None
    if f"IP{ip.version}" not in families:
        raise SdpError(
            f"IPv{ip.version} media offered to a bridge with {' and '.join(families)} media",
            warning=301,
        )


def _telephone_event_pt(media: MediaDescription) -> int | None:
    # Linphone offers telephone-event at 48, 16 and 8 kHz; only 8 kHz matches G.711's clock.
    for payload_type in media.payload_types:
        rtpmap = media.rtpmap(payload_type)
        if (
            rtpmap is not None
            and rtpmap.encoding.lower() == TELEPHONE_EVENT
            and rtpmap.clock_rate == CLOCK_RATE
        ):
            return payload_type
    return None


def _answer_telephone_event(media: MediaDescription, *, exclude: int) -> tuple[int, str] | None:
    payload_type = _telephone_event_pt(media)
    if payload_type is None or payload_type == exclude:
        return None
    events = _parse_events(media.fmtp(payload_type)) & _OUR_EVENTS
    if not events:
        return None
    return payload_type, _format_events(events)


def _parse_events(text: str | None) -> frozenset[int]:
    if text is None or not text.strip(" \t"):
        return _DEFAULT_EVENTS
    # A bit per event: a range costs one shift whatever its length ("0-255" a thousand
    # times was a quarter of a million set insertions).
    mask = 0
    for item in text.split(",", _MAX_EVENT_ITEMS)[:_MAX_EVENT_ITEMS]:
        match = _EVENT_ITEM.fullmatch(item.strip(" \t"))
        if match is None:
            continue  # not an event list item; ignoring it beats refusing DTMF altogether
        low = int(match.group(1))
        high = min(int(match.group(2)) if match.group(2) else low, 255)
        if low <= high:
            mask |= ((1 << (high - low + 1)) - 1) << low
    return frozenset(event for event in range(256) if mask >> event & 1)


def _format_events(events: frozenset[int]) -> str:
    ranges: list[str] = []
    ordered = sorted(events)
    start = previous = ordered[0]
    for event in [*ordered[1:], None]:
        if event is not None and event == previous + 1:
            previous = event
            continue
        ranges.append(str(start) if start == previous else f"{start}-{previous}")
        if event is not None:
            start = previous = event
    return ",".join(ranges)


def _effective_connection(sd: SessionDescription, media: MediaDescription) -> Connection:
    connection = media.connection or sd.connection
    if connection is None:
        raise SdpSyntaxError("no c= line for the audio stream")
    return connection


def _effective_direction(sd: SessionDescription, media: MediaDescription) -> Direction:
    # Media-level overrides session-level; none at all means sendrecv (RFC 3264 5.1).
    return _DIRECTIONS[media.direction or sd.direction or "sendrecv"]


def _on_hold(direction: Direction, connection: Connection) -> bool:
    return direction in ("sendonly", "inactive") or connection.host == "0.0.0.0"


def _usable_ptime(ptime: int | None) -> int:
    # G.711 stacks packetise in 10 ms steps; anything else is a typo or a trap.
    if ptime is not None and 10 <= ptime <= 120 and ptime % 10 == 0:
        return ptime
    return DEFAULT_PTIME


def _audio_section(
    *,
    port: int,
    proto: str,
    codecs: Sequence[tuple[str, int]],
    telephone_event: tuple[int, str] | None,
    direction: Direction,
    crypto: Sequence[CryptoAttribute] = (),
) -> MediaDescription:
    formats = [str(pt) for _, pt in codecs]
    # rtpmap even for the static types: harmless, and some PBXes log warnings without it.
    attributes: list[tuple[str, str | None]] = [
        ("rtpmap", f"{pt} {name}/{CLOCK_RATE}") for name, pt in codecs
    ]
    if telephone_event is not None:
        pt, events = telephone_event
        formats.append(str(pt))
        attributes.append(("rtpmap", f"{pt} {TELEPHONE_EVENT}/{CLOCK_RATE}"))
        attributes.append(("fmtp", f"{pt} {events}"))
    attributes += [("ptime", str(DEFAULT_PTIME)), (direction, None)]
    attributes += [("crypto", format_crypto(c)) for c in crypto]
    return MediaDescription("audio", port, proto, tuple(formats), attributes=tuple(attributes))


def _rejected(media: MediaDescription) -> MediaDescription:
    # RFC 3264 6: port 0 rejects; the formats are ignored but at least one must be listed.
    return MediaDescription(media.media, 0, media.proto, media.formats or ("0",))
