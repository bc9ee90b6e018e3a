"""Session descriptions (RFC 8866): model, parser and serialiser.

The model keeps what the bridge negotiates with: the origin, session name, connection data,
timing, attributes and media descriptions. Lines it never needs (``i=``, ``u=``, ``e=``, ``p=``,
``b=``, ``r=``, ``z=``, ``k=``, extra ``t=`` and unknown type letters) are skipped, so a parsed
description serialises to a canonical form rather than the original bytes; parsing that form
again gives the same value.

The parser is strict about the fields the bridge relies on (``v=``, ``o=``, ``c=``, ``m=``) and
lenient about everything else, because phones, carriers and PBXes all bend the grammar a little:
LF-only line endings, trailing blanks, runs of spaces, unknown lines and attributes are accepted.

It is also bounded, because any caller can send one: a description with more lines, media
sections, formats or attributes than :data:`MAX_LINES`, :data:`MAX_MEDIA`, :data:`MAX_FORMATS`
and :data:`MAX_ATTRIBUTES` is refused (:class:`SdpTooLarge`) as soon as the count is passed,
and every look-up is linear: a section indexes its rtpmaps and fmtps by payload type once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_TYPE_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_BLANKS = re.compile(r"[ \t]+")
# [0-9] rather than \d or str.isdigit(): those accept non-ASCII digits that int() then
# rejects or silently converts, so a fuzzed line could escape as a plain ValueError.
_DIGITS = re.compile(r"[0-9]+")
# A whole run of RTP payload types, each of up to three digits and at most 127: checks an m=
# line's formats in one pass (one at a time only to say which is wrong).
_PAYLOAD_TYPES = re.compile(r"(?:(?:0?[0-9]{1,2}|1[01][0-9]|12[0-7])(?:[ \t]+|\Z))*")
_RTPMAP = re.compile(r"([0-9]{1,3})[ \t]+([^/ \t]+)/([0-9]{1,10})(?:/([0-9]{1,3}))?[ \t]*")
_FMTP = re.compile(r"([0-9]{1,3})(?:[ \t]+(.*))?", re.DOTALL)
_PTIME = re.compile(r"([0-9]{1,4})(?:\.[0-9]*)?")
# What a serialised line must never contain: it would end the line early (or the body, for
# NUL-terminated stacks), letting a value such as a conference name inject SDP lines.
_UNSAFE = re.compile(r"[\r\n\x00]")
# Enough for a 64-bit NTP-style session id with room to spare, while keeping int() far away
# from Python's limit on digits in a string conversion.
_MAX_ID_DIGITS = 40

# Limits on what one description may hold. Any caller can send an offer, and the bridge reads
# it on the event loop that also answers SIP and mixes audio, so the work a description can
# cause must be small whatever its shape (issue 12: 12,000 formats and 1,500 rtpmaps in one
# 64 KB INVITE stalled everything for seconds). Each limit is well above what real offers
# carry: a phone's offer has 10 to 30 lines; a browser's offer with audio, video and data
# about 300, its video section about 200 attributes over 40 formats. At the limits, the
# costliest description takes about 2 ms to parse and answer here (under 5 ms: the tests).
MAX_LINES = 512
"""Lines per description, blank ones included: bounds the parse whatever the lines are."""
MAX_MEDIA = 16
"""Media sections (``m=`` lines). The bridge takes one audio stream; gateways offer a few."""
MAX_FORMATS = 128
"""Formats per ``m=`` line: RTP has 128 payload types, so more can only repeat one."""
MAX_ATTRIBUTES = 256
"""``a=`` lines at session level, and in each media section."""

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
"""The RFC 3264 direction attributes, in no particular order."""


Attribute = tuple[str, str | None]
"""An ``a=`` line: the name, and the value after the first colon (None for a flag)."""


class SdpError(ValueError):
    """A session description the bridge cannot accept, and the SIP status that answers it.

    Attributes:
        code: SIP status code of the reply (488 unless a subclass says otherwise).
        reason: Reason phrase of the reply.
        detail: What exactly was wrong, for logs (not sent to the peer).
        warning: The RFC 3261 (20.43) warn-code of the reply's ``Warning`` header, saying
            why in terms a peer's engineer knows: 301 incompatible network address formats,
            304 media type not available, 305 incompatible media format, 399 otherwise.
    """

    code: int = 488
    reason: str = "Not Acceptable Here"

    def __init__(self, detail: str, *, warning: int = 399) -> None:
        super().__init__(detail)
        self.detail = detail
        self.warning = warning

    @property
    def warning_text(self) -> str:
        """The ``Warning`` header's text: generic, never what the peer sent."""
        return WARNING_TEXTS.get(self.warning, "Session description not acceptable")


WARNING_TEXTS = {
    301: "Incompatible network address formats",
    304: "Media type not available",
    305: "Incompatible media format",
    399: "Session description not acceptable",
}


class SdpTooLarge(SdpError):
    """A description beyond the limits above: answered 488 (warn-code 399), since it may be
    acceptable elsewhere, but not here."""

    @property
    def warning_text(self) -> str:
        return "Session description too large"


class SdpSyntaxError(SdpError):
    """A body that is not a parseable session description: answered 400, not 488."""

    code = 400
    reason = "Bad Request"

    @property
    def warning_text(self) -> str:
        return "Malformed session description"


@dataclass(frozen=True)
class Origin:
    """The ``o=`` line: who created the session and which revision of it this is."""

    username: str
    session_id: int
    session_version: int
    net_type: str
    addr_type: str
    address: str


@dataclass(frozen=True)
class Connection:
    """A ``c=`` line. ``address`` is kept as sent, including any multicast ``/ttl`` suffix."""

    net_type: str
    addr_type: str
    address: str

    @property
    def host(self) -> str:
        """The address without a multicast ``/ttl[/count]`` suffix."""
        return self.address.partition("/")[0]


@dataclass(frozen=True)
class Timing:
    """The first ``t=`` line; ``0 0`` (the usual value for SIP) means unbounded."""

    start: int = 0
    stop: int = 0


class RtpMap(NamedTuple):
    """A decoded ``a=rtpmap`` (or the RFC 3551 static default for a payload type).

    A named tuple rather than a frozen dataclass like the rest of the model: one is built for
    every rtpmap of every offer, and a frozen dataclass costs several times as much to build.
    """

    payload_type: int
    encoding: str
    clock_rate: int
    channels: int | None = None

    def __str__(self) -> str:
        channels = f"/{self.channels}" if self.channels is not None else ""
        return f"{self.encoding}/{self.clock_rate}{channels}"


# RFC 3551 table 4: static audio payload types that may appear without an a=rtpmap.
_STATIC_AUDIO = {
    pt: RtpMap(pt, encoding, 8000)
    for pt, encoding in (
        (0, "PCMU"),
        (3, "GSM"),
        (4, "G723"),
        (8, "PCMA"),
        (9, "G722"),
        (13, "CN"),
        (18, "G729"),
    )
}


class _AttributeLookup:
    attributes: tuple[Attribute, ...]

    def attribute_values(self, name: str) -> list[str]:
        """Values of every ``a=name:value`` line, case-insensitively by name.

        Args:
            name: Attribute name, e.g. ``"rtpmap"``.

        Returns:
            The values in order; flags (``a=name`` without a colon) are left out.
        """
        wanted = name.lower()
        return [v for n, v in self.attributes if n.lower() == wanted and v is not None]

    def has_attribute(self, name: str) -> bool:
        """Whether an attribute (flag or valued) of that name is present, case-insensitively.

        Args:
            name: Attribute name, e.g. ``"rtcp-mux"``.

        Returns:
            True if at least one ``a=`` line has that name.
        """
        wanted = name.lower()
        return any(n.lower() == wanted for n, _ in self.attributes)

    @property
    def direction(self) -> str | None:
        """The explicit direction attribute at this level (lower case), or None if absent."""
        for name, value in self.attributes:
            if value is None and name.lower() in DIRECTIONS:
                return name.lower()
        return None


@dataclass(frozen=True)
class MediaDescription(_AttributeLookup):
    """An ``m=`` section: the media line, its own ``c=`` and its attributes in order.

    ``formats`` are kept as strings because only RTP profiles use payload type numbers; for
    those the parser has checked that every format is an integer from 0 to 127.
    """

    media: str
    port: int
    proto: str
    formats: tuple[str, ...]
    connection: Connection | None = None
    attributes: tuple[Attribute, ...] = ()
    port_count: int | None = None

    @property
    def is_rtp(self) -> bool:
        """Whether the transport is an RTP profile (RTP/AVP, RTP/SAVP, UDP/TLS/RTP/SAVPF...)."""
        return _is_rtp(self.proto)

    @cached_property
    def payload_types(self) -> tuple[int, ...]:
        """The formats as RTP payload type numbers, in offer order (empty if not RTP)."""
        if not self.is_rtp:
            return ()
        # ASCII digits only: isdigit() alone also takes digits int() rejects or converts.
        return tuple(int(f) for f in self.formats if len(f) <= 3 and f.isascii() and f.isdigit())

    def rtpmap(self, payload_type: int) -> RtpMap | None:
        """What a payload type stands for in this section.

        Args:
            payload_type: RTP payload type number.

        Returns:
            The first well-formed ``a=rtpmap`` for it, else the RFC 3551 static default
            (PCMU for 0, PCMA for 8, ...), else None. Malformed rtpmaps are ignored rather
            than rejected, since they may well describe a codec the bridge never uses.
        """
        return self._rtpmaps.get(payload_type) or _STATIC_AUDIO.get(payload_type)

    def fmtp(self, payload_type: int) -> str | None:
        """Format parameters for a payload type.

        Args:
            payload_type: RTP payload type number.

        Returns:
            The text after the payload type in the first matching ``a=fmtp`` (possibly
            empty), or None when there is none.
        """
        return self._fmtps.get(payload_type)

    # Built once per section on first use, so looking up every format costs one pass over
    # the attributes, not one per format (cached_property writes the instance's __dict__,
    # which a frozen dataclass allows; equality and hashing still see only the fields).
    @cached_property
    def _rtpmaps(self) -> dict[int, RtpMap]:
        index: dict[int, RtpMap] = {}
        for value in self.attribute_values("rtpmap"):
            match = _RTPMAP.fullmatch(value)
            if match is None or (payload_type := int(match.group(1))) in index:
                continue  # malformed, or not the first for its payload type
            channels = int(match.group(4)) if match.group(4) else None
            index[payload_type] = RtpMap(
                payload_type, match.group(2), int(match.group(3)), channels
            )
        return index

    @cached_property
    def _fmtps(self) -> dict[int, str]:
        index: dict[int, str] = {}
        for value in self.attribute_values("fmtp"):
            match = _FMTP.fullmatch(value.strip(" \t"))
            if match:
                index.setdefault(int(match.group(1)), (match.group(2) or "").strip(" \t"))
        return index

    @property
    def ptime(self) -> int | None:
        """The ``a=ptime`` packet time in milliseconds, or None if absent or unreadable."""
        for value in self.attribute_values("ptime"):
            match = _PTIME.fullmatch(value.strip(" \t"))
            if match:
                return int(match.group(1))
        return None


@dataclass(frozen=True)
class SessionDescription(_AttributeLookup):
    """A whole session description. ``connection`` and ``attributes`` are the session-level
    ones; each media section may override them."""

    origin: Origin
    session_name: str = "-"
    connection: Connection | None = None
    timing: Timing = field(default_factory=Timing)
    attributes: tuple[Attribute, ...] = ()
    media: tuple[MediaDescription, ...] = ()


@dataclass
class _MediaDraft:
    # Mutable while its lines are read, frozen into a MediaDescription at the end; building
    # the frozen value line by line would copy the attribute tuple once per line.
    head: MediaDescription
    connection: Connection | None = None
    attributes: list[Attribute] = field(default_factory=list)

    def freeze(self) -> MediaDescription:
        return MediaDescription(
            media=self.head.media,
            port=self.head.port,
            proto=self.head.proto,
            formats=self.head.formats,
            connection=self.connection,
            attributes=tuple(self.attributes),
            port_count=self.head.port_count,
        )


def parse_sdp(text: str | bytes) -> SessionDescription:
    """Parses a session description, as found in an ``application/sdp`` body.

    Args:
        text: The body. Bytes are decoded as UTF-8, falling back to ISO-8859-1 (which some
            phones use for the session name) rather than failing.

    Returns:
        The parsed description.

    Raises:
        SdpSyntaxError: (an :class:`SdpError`, code 400) when the body is not SDP: no ``v=0``
            first, no or a malformed ``o=``, a malformed ``c=``, ``t=`` or ``m=`` line, a port
            out of range, a non-integer RTP payload type, or a NUL character.
        SdpTooLarge: (an :class:`SdpError`, code 488) when it has more lines, media
            sections, formats on an ``m=`` line or attributes in a section than
            :data:`MAX_LINES`, :data:`MAX_MEDIA`, :data:`MAX_FORMATS`, :data:`MAX_ATTRIBUTES`.
    """
    if isinstance(text, bytes):
        text = _decode(text)
    if "\x00" in text:
        raise SdpSyntaxError("NUL character in SDP")
    # Split no further than the limit: past it, the rest stays in one piece.
    lines = _LINE_BREAK.split(text, maxsplit=MAX_LINES)
    if len(lines) > MAX_LINES and lines[-1].strip(" \t\r\n"):
        raise SdpTooLarge(f"more than {MAX_LINES} lines")
    seen_version = False
    origin: Origin | None = None
    name: str | None = None
    connection: Connection | None = None
    timing: Timing | None = None
    attributes: list[Attribute] = []
    media: list[_MediaDraft] = []
    for raw in lines:
        line = raw.rstrip(" \t")
        if not line:
            continue
        kind, value = line[0], line[2:]
        is_field = line[1:2] == "=" and kind in _TYPE_LETTERS
        if not seen_version:
            if not is_field or kind != "v":
                raise SdpSyntaxError("SDP must start with v=")
            if value.strip(" \t") != "0":
                raise SdpSyntaxError(f"unsupported SDP version {value!r}")
            seen_version = True
            continue
        if not is_field:
            continue  # not a type=value line: skipped like any unknown line
        if kind == "v":
            raise SdpSyntaxError("more than one v= line")
        if kind == "a":  # most lines: kept in order, at session or media level
            attribute, colon, rest = value.partition(":")
            if not attribute:
                continue  # "a=" or "a=:x": nothing to look up by, so nothing to keep
            section = media[-1].attributes if media else attributes
            if len(section) == MAX_ATTRIBUTES:
                where = "in a media section" if media else "at session level"
                raise SdpTooLarge(f"more than {MAX_ATTRIBUTES} attributes {where}")
            section.append((attribute, rest if colon else None))
        elif kind == "m":
            if origin is None:
                raise SdpSyntaxError("m= line before o=")
            if len(media) == MAX_MEDIA:
                raise SdpTooLarge(f"more than {MAX_MEDIA} media sections")
            media.append(_MediaDraft(_parse_media_line(value)))
        elif media:
            # RFC 8866 allows several c= per section for layered multicast; the first is the
            # one a unicast peer means.
            if kind == "c" and media[-1].connection is None:
                media[-1].connection = _parse_connection(value)
        elif kind == "o":
            if origin is not None:
                raise SdpSyntaxError("more than one o= line")
            origin = _parse_origin(value)
        elif kind == "s" and name is None:
            name = value
        elif kind == "c" and connection is None:
            connection = _parse_connection(value)
        elif kind == "t" and timing is None:
            timing = _parse_timing(value)
    if not seen_version:
        raise SdpSyntaxError("empty SDP")
    if origin is None:
        raise SdpSyntaxError("missing o= line")
    return SessionDescription(
        origin=origin,
        # s= and t= are mandatory too, but nothing depends on them and some stacks omit
        # them; the RFC 8866 placeholders stand in.
        session_name="-" if name is None else name,
        connection=connection,
        timing=Timing() if timing is None else timing,
        attributes=tuple(attributes),
        media=tuple(draft.freeze() for draft in media),
    )


def serialise_sdp(sd: SessionDescription) -> str:
    """Renders a session description with CRLF line endings, in RFC 8866 field order.

    Args:
        sd: The description.

    Returns:
        The body text, ending with CRLF.

    Raises:
        ValueError: If a value contains CR, LF or NUL, which would inject extra lines.
    """
    o = sd.origin
    lines = [
        "v=0",
        f"o={o.username} {o.session_id} {o.session_version} {o.net_type} {o.addr_type} {o.address}",
        f"s={sd.session_name}",
    ]
    if sd.connection is not None:
        lines.append(_connection_line(sd.connection))
    lines.append(f"t={sd.timing.start} {sd.timing.stop}")
    lines.extend(_attribute_line(a) for a in sd.attributes)
    for m in sd.media:
        port = str(m.port) if m.port_count is None else f"{m.port}/{m.port_count}"
        lines.append(" ".join([f"m={m.media}", port, m.proto, *m.formats]))
        if m.connection is not None:
            lines.append(_connection_line(m.connection))
        lines.extend(_attribute_line(a) for a in m.attributes)
    for line in lines:
        if _UNSAFE.search(line):
            raise ValueError(f"CR, LF or NUL in SDP line {line!r}")
    return "\r\n".join(lines) + "\r\n"


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # ISO-8859-1 maps every byte, so this never fails; only free-text fields such as s=
        # can hold non-ASCII, and the bridge does not interpret them.
        return data.decode("latin-1")


def _is_rtp(proto: str) -> bool:
    return "RTP/" in proto.upper()


def _fields(value: str) -> list[str]:
    return [f for f in _BLANKS.split(value.strip(" \t")) if f]


def _number(text: str, what: str, max_digits: int) -> int:
    if not _DIGITS.fullmatch(text) or len(text) > max_digits:
        raise SdpSyntaxError(f"{what} is not a number: {text!r}")
    return int(text)


def _parse_origin(value: str) -> Origin:
    parts = _fields(value)
    if len(parts) != 6:
        raise SdpSyntaxError(f"o= needs 6 fields: {value!r}")
    username, session_id, version, net_type, addr_type, address = parts
    return Origin(
        username=username,
        session_id=_number(session_id, "o= session id", _MAX_ID_DIGITS),
        session_version=_number(version, "o= session version", _MAX_ID_DIGITS),
        net_type=net_type,
        addr_type=addr_type,
        address=address,
    )


def _parse_connection(value: str) -> Connection:
    parts = _fields(value)
    if len(parts) != 3:
        raise SdpSyntaxError(f"c= needs 3 fields: {value!r}")
    return Connection(*parts)


def _parse_timing(value: str) -> Timing:
    parts = _fields(value)
    if len(parts) != 2:
        raise SdpSyntaxError(f"t= needs 2 fields: {value!r}")
    return Timing(*(_number(p, "t= time", _MAX_ID_DIGITS) for p in parts))


def _parse_media_line(value: str) -> MediaDescription:
    # media, port and proto, then the formats: split no further than one past the limit.
    parts = [f for f in _BLANKS.split(value.strip(" \t"), maxsplit=3 + MAX_FORMATS) if f]
    if len(parts) > 3 + MAX_FORMATS:
        raise SdpTooLarge(f"more than {MAX_FORMATS} formats on an m= line")
    if len(parts) < 3:
        raise SdpSyntaxError(f"m= needs media, port and proto: {value!r}")
    media, port_text, proto, *formats = parts
    port_part, slash, count_part = port_text.partition("/")
    port = _number(port_part, "m= port", 5)
    if port > 65535:
        raise SdpSyntaxError(f"m= port out of range: {port}")
    count = _number(count_part, "m= port count", 5) if slash else None
    # The grammar wants at least one format, but a rejected (port 0) stream is sometimes
    # sent without any, and it carries no media anyway.
    if not formats and port != 0:
        raise SdpSyntaxError(f"m= line without formats: {value!r}")
    if _is_rtp(proto) and not _PAYLOAD_TYPES.fullmatch(" ".join(formats)):
        for fmt in formats:
            if _number(fmt, "RTP payload type", 3) > 127:
                raise SdpSyntaxError(f"RTP payload type out of range: {fmt}")
    return MediaDescription(media, port, proto, tuple(formats), port_count=count)


def _connection_line(c: Connection) -> str:
    return f"c={c.net_type} {c.addr_type} {c.address}"


def _attribute_line(attribute: Attribute) -> str:
    name, value = attribute
    return f"a={name}" if value is None else f"a={name}:{value}"
