"""SIP messages (RFC 3261 section 7): model, parser, serialiser and stream framing.

Sans-I/O on purpose: everything here maps bytes to values and back, with no sockets, clocks or
randomness, so the transport, transaction and dialog layers built on it can be tested by feeding
bytes in and reading bytes out. Name-addr and URI parsing live in :mod:`callroster.sip.uri`.

Longer than our usual few hundred lines (about 600) on purpose: it is one grammar, and the
header-value helpers (Via, CSeq, parameters) share its token rules and error types; split
apart, each half would need the other's regular expressions.

Anyone can send a message, so what one costs is bounded (issue 12): a header section holds at
most :data:`MAX_HEADERS` lines and :data:`MAX_DELIMITERS` list and parameter separators,
quotes and ``<``, which bounds every pass over a header value; folded lines are joined once;
lists are split by one regular expression rather than character by character; and a message
indexes its headers by name on the first look-up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property

_TOKEN_CHARS = r"A-Za-z0-9.!%*_+`'~-"
_TOKEN = re.compile(f"[{_TOKEN_CHARS}]+")
# A scheme plus printable ASCII but for the delimiters " < > (RFC 3986 excludes them): enough
# to reject garbage without restricting to sip: URIs.
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[!#-;=?-~]+")
# Controls other than HT never appear in a valid header line; rejecting them also stops
# bare CRs from smuggling extra lines past a later serialise().
_CTL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# The same, over a whole header section whose line ends are LF: what _CTL finds in any line.
_CTL_IN_HEAD = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_VERSION = re.compile(r"SIP/[0-9]+\.[0-9]+", re.IGNORECASE)
_STATUS = re.compile(r"[1-6][0-9][0-9]")
_CSEQ = re.compile(f"([0-9]+)[ \\t]+([{_TOKEN_CHARS}]+)")
_SENT_BY = re.compile(
    f"SIP[ \\t]*/[ \\t]*2\\.0[ \\t]*/[ \\t]*([{_TOKEN_CHARS}]+)[ \\t]+(.+)", re.IGNORECASE
)
_HOSTPORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?:[ \t]*:[ \t]*([0-9]{1,5}))?")

# RFC 3261 7.3.3 compact forms, plus those later RFCs (6665, 3515, 3892, 4028) registered.
_COMPACT = {
    short: full
    for short, _, full in (
        pair.partition("=")
        for pair in "i=call-id f=from t=to v=via m=contact l=content-length c=content-type "
        "k=supported s=subject e=content-encoding o=event u=allow-events r=refer-to "
        "b=referred-by x=session-expires".split()
    )
}
# Only headers whose grammar is a comma list; Date, Authorization and friends contain commas
# that do not separate values, so they must never be split.
_LIST_HEADERS = frozenset(
    "via route record-route contact allow allow-events supported require proxy-require "
    "unsupported accept accept-encoding accept-language content-encoding".split()
)
_MANDATORY = ("Via", "From", "To", "Call-ID", "CSeq")  # RFC 3261 8.1.1
# RFC 3261 12.1.1: responses that establish a dialog carry the request's Record-Route.
_DIALOG_CREATING = frozenset({"INVITE", "SUBSCRIBE", "REFER", "NOTIFY"})

# Limits on a received header section; more is refused 513 (HeaderSectionTooLarge). A
# request that came through 70 proxies (Max-Forwards) has 70 Via and 70 Record-Route values,
# each perhaps on a line of its own, beside the twenty or so lines any request has; its Vias
# and Record-Routes hold about 500 separators (";branch=", ";lr", commas and "<"). An
# ordinary request has about 30.
MAX_HEADERS = 256
"""Lines of the header section after the start line (a folded header counts each line)."""
MAX_DELIMITERS = 1024
"""Commas, semicolons, double quotes and ``<`` in the header section: every element of a
list, parameter, quoted string and bracketed address is one pass of a loop or a regular
expression's alternation, so these bound them all."""


def _element(sep: str) -> re.Pattern[str]:
    # One element of a list separated by sep: plain characters, quoted strings (with
    # backslash escapes) and <...>, either of which may run to the end unclosed.
    # The quoted string is unrolled (runs between escapes) so that it is matched run by run
    # rather than character by character, with one way to match any text.
    return re.compile(rf'(?:[^"<{sep}]+|"[^"\\]*(?:\\.[^"\\]*)*"?|<[^>]*>?)*', re.DOTALL)


_ELEMENT = {sep: _element(sep) for sep in ",;"}
# Elements each followed by sep: findall over the value with sep appended splits it in one
# pass (an unclosed quote or <...> gives the appended sep back, and ends the last element).
_ELEMENTS = {sep: re.compile(f"({_ELEMENT[sep].pattern}){sep}", re.DOTALL) for sep in ",;"}
_LIST_START = re.compile(r"[ \t,]*")


class SipError(Exception):
    """A received message that cannot be processed, and the status code that answers it.

    Attributes:
        code: SIP status code of the reply.
        reason: Reason phrase of the reply.
        detail: What exactly was wrong, for logs (not sent to the peer).
        request: The offending request when it was parsed far enough to be answered, so the
            transport can send ``err.response_for(err.request)``; None otherwise. Never set
            for ACK, which is not answered.
    """

    code: int = 500
    reason: str = "Server Internal Error"

    def __init__(self, detail: str = "", *, request: Request | None = None) -> None:
        super().__init__(detail or self.reason)
        self.detail = detail
        self.request = request

    def response_for(self, request: Request, *, to_tag: str | None = None) -> Response:
        """Builds the error response to ``request`` (see :func:`response_to`).

        Args:
            request: The request being rejected.
            to_tag: Tag to add to To; RFC 3261 8.2.6.2 wants one on every final response,
                and generating it needs randomness, which this module does not own.

        Returns:
            The response carrying this error's code and reason.
        """
        return response_to(request, self.code, self.reason, to_tag=to_tag)


class BadRequest(SipError):
    """Malformed message. Malformed responses raise it too; they are dropped, not answered."""

    code = 400
    reason = "Bad Request"


class VersionNotSupported(BadRequest):
    """Well-formed SIP version other than 2.0: answered 505 (RFC 3261 21.5.6), not 400."""

    code = 505
    reason = "Version Not Supported"


class MessageTooLarge(SipError):
    """Message (or stream frame) above the size limit."""

    code = 513
    reason = "Message Too Large"


class HeaderSectionTooLarge(MessageTooLarge):
    """More header lines than :data:`MAX_HEADERS`, or delimiters than
    :data:`MAX_DELIMITERS`: a message larger than the bridge reads, answered 513 like one of
    too many bytes. ``request`` is built from the first :data:`MAX_HEADERS` lines."""


def _canon(name: str) -> str:
    lower = name.lower()
    return _COMPACT.get(lower, lower)


def _split_top(value: str, sep: str) -> list[str]:
    """Splits on ``sep`` (``,`` or ``;``) outside quoted strings and <...>; never raises,
    even if unbalanced. A backslash escapes the next character inside quotes only."""
    if '"' not in value and "<" not in value:
        return value.split(sep)
    return _ELEMENTS[sep].findall(value + sep)


def _first_element(value: str) -> str | None:
    """The first non-empty element of a comma list, without splitting the rest."""
    start = _LIST_START.match(value)
    assert start is not None  # it matches the empty string
    if start.end() == len(value):
        return None
    element = _ELEMENT[","].match(value, start.end())
    assert element is not None  # it matches the empty string
    return element.group().rstrip(" \t")


def _hostport(text: str) -> tuple[str, int | None]:
    """Parses ``host[:port]``; IPv6 references lose their brackets."""
    match = _HOSTPORT.fullmatch(text.strip(" \t"))
    if match is None:
        raise BadRequest(f"malformed host {text!r}")
    port = int(match.group(2)) if match.group(2) else None
    if port is not None and port > 65535:
        raise BadRequest(f"port out of range in {text!r}")
    host = match.group(1)
    return (host[1:-1] if host.startswith("[") else host), port


def _normalise_headers(headers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    result = []
    for name, value in headers:
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"invalid header name {name!r}")
        if _CTL.search(value):
            raise ValueError(f"control character in {name} header")
        result.append((name, value.strip(" \t")))
    return tuple(result)


class _HeaderLookup:
    headers: Sequence[tuple[str, str]]

    @cached_property
    def _by_name(self) -> dict[str, list[str]]:
        # Values by canonical name, built on the first look-up: a message is asked for a
        # dozen headers or more on its way through, each then costs one dictionary look-up
        # rather than a pass over every header. (cached_property writes the instance's
        # __dict__, which a frozen dataclass allows; equality still sees only the fields.)
        index: dict[str, list[str]] = {}
        for header, value in self.headers:
            index.setdefault(_canon(header), []).append(value)
        return index

    def get_all(self, name: str) -> list[str]:
        """All values of a header, case-insensitively and understanding compact forms.

        Args:
            name: Header name in any case, full or compact (``"Call-ID"``, ``"i"``).

        Returns:
            Values in message order. Comma lists (Via, Route, Record-Route, Contact,
            Supported, ...) are split into one entry per element.
        """
        wanted = _canon(name)
        found = self._by_name.get(wanted, [])
        if wanted not in _LIST_HEADERS:
            return list(found)
        values: list[str] = []
        for value in found:
            values.extend(p.strip(" \t") for p in _split_top(value, ",") if p.strip(" \t"))
        return values

    def get(self, name: str) -> str | None:
        """First value of a header (the first list element for comma lists), or None.

        Args:
            name: Header name in any case, full or compact.

        Returns:
            ``get_all(name)[0]``, or None when the header is absent.
        """
        wanted = _canon(name)
        found = self._by_name.get(wanted, [])
        if wanted not in _LIST_HEADERS:
            return found[0] if found else None
        if wanted not in self._first_elements:
            # The first element only, found once: a long list is not split for it.
            firsts = (_first_element(value) for value in found)
            self._first_elements[wanted] = next((f for f in firsts if f is not None), None)
        return self._first_elements[wanted]

    @cached_property
    def _first_elements(self) -> dict[str, str | None]:
        return {}


@dataclass(frozen=True)
class Request(_HeaderLookup):
    """A SIP request. Headers are kept in order as (name, value) pairs, names as received."""

    method: str
    uri: str
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""

    def __post_init__(self) -> None:
        if not _TOKEN.fullmatch(self.method):
            raise ValueError(f"invalid method {self.method!r}")
        if not _URI.fullmatch(self.uri):
            raise ValueError(f"invalid Request-URI {self.uri!r}")
        # Normalised to a tuple so messages compare equal however they were built.
        object.__setattr__(self, "headers", _normalise_headers(self.headers))
        object.__setattr__(self, "body", bytes(self.body))


@dataclass(frozen=True)
class Response(_HeaderLookup):
    """A SIP response. Headers are kept in order as (name, value) pairs, names as received."""

    status: int
    reason: str
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""

    def __post_init__(self) -> None:
        if not 100 <= self.status <= 699:
            raise ValueError(f"status {self.status} outside 100-699")
        if _CTL.search(self.reason):
            raise ValueError("control character in reason phrase")
        object.__setattr__(self, "reason", self.reason.strip(" \t"))
        object.__setattr__(self, "headers", _normalise_headers(self.headers))
        object.__setattr__(self, "body", bytes(self.body))


def header_params(value: str) -> dict[str, str | None]:
    """Parameters of a name-addr or Via style header value (``;name=value`` after the address).

    Args:
        value: One header value, e.g. ``"Bob" <sip:b@h;lr>;tag=7``. Params after an
            addr-spec without <> belong to the header (RFC 3261 20.10).

    Returns:
        Lower-cased names to raw values (quotes kept), None for valueless params; the first
        occurrence wins.

    Raises:
        BadRequest: A parameter name is not a token, or there are more separators than a
            header section may hold (:data:`MAX_DELIMITERS`; a message too large to read is
            still answered, and its Via and To are read for that).
    """
    params: dict[str, str | None] = {}
    parts = _split_top(value, ";")
    if len(parts) > MAX_DELIMITERS + 1:
        raise BadRequest(f"more than {MAX_DELIMITERS} parameters in a header value")
    for part in parts[1:]:
        name, eq, raw = part.partition("=")
        name = name.strip(" \t").lower()
        if not name and not eq:
            continue  # tolerate ";;" and a trailing ";"
        if not _TOKEN.fullmatch(name):
            raise BadRequest(f"malformed parameter in {value!r}")
        params.setdefault(name, raw.strip(" \t") if eq else None)
    return params


def via_params(via_value: str) -> dict[str, str | None]:
    """Parameters of one Via element (``msg.get_all("Via")`` entry); see :func:`header_params`.

    Args:
        via_value: One Via element.

    Returns:
        Lower-cased names to values; None for valueless ones such as ``rport``.
    """
    return header_params(via_value)


def branch_of(via_value: str) -> str | None:
    """The branch parameter of one Via element, or None if it has none.

    Args:
        via_value: One Via element.

    Returns:
        The branch (``z9hG4bK...`` for RFC 3261 peers), or None.
    """
    return via_params(via_value).get("branch")


def via_sent_by(via_value: str) -> tuple[str, str, int | None]:
    """Transport and sent-by of one Via element.

    Args:
        via_value: One Via element, e.g. ``SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1``.

    Returns:
        ``(transport, host, port)``: transport upper-cased, IPv6 host without brackets,
        port None when absent.

    Raises:
        BadRequest: Not ``SIP/2.0/<transport> host[:port]``.
    """
    sent_by = _ELEMENT[";"].match(via_value)
    assert sent_by is not None  # it matches the empty string
    match = _SENT_BY.fullmatch(sent_by.group().strip(" \t"))
    if match is None:
        raise BadRequest(f"malformed Via {via_value!r}")
    host, port = _hostport(match.group(2))
    return match.group(1).upper(), host, port


def parse_cseq(value: str) -> tuple[int, str]:
    """Parses a CSeq value.

    Args:
        value: e.g. ``"314159 INVITE"``.

    Returns:
        ``(number, method)``.

    Raises:
        BadRequest: Not ``number method``, or the number is not below 2**31 (RFC 3261 8.1.1.5).
    """
    match = _CSEQ.fullmatch(value.strip(" \t"))
    if match is None:
        raise BadRequest(f"malformed CSeq {value!r}")
    # Bounded before int() so huge digit strings cannot hit int's digit limit.
    digits = match.group(1).lstrip("0") or "0"
    if len(digits) > 10 or int(digits) >= 2**31:
        raise BadRequest(f"CSeq number out of range in {value!r}")
    return int(digits), match.group(2)


def _parse_head(head: bytes) -> tuple[str, list[tuple[str, str]], str | None]:
    """Start line and unfolded headers of a header section (which has no empty line), and
    what makes it too large, if anything (then only the first :data:`MAX_HEADERS` lines are
    read, and the caller refuses the message).

    Line ends, control characters and the limits are each checked in one pass in C; the
    loop in Python runs once per line kept.
    """
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("header section is not UTF-8") from None
    text = text.replace("\r\n", "\n")
    if text.endswith("\r"):
        text = text[:-1]  # the last line's CR, before the empty line that ends the section
    if _CTL_IN_HEAD.search(text):
        raise BadRequest("control character in header section")
    # The start line, up to MAX_HEADERS lines, and the rest in one piece if there is more.
    lines = text.split("\n", MAX_HEADERS + 1)
    too_large = None
    if len(lines) > MAX_HEADERS + 1:
        too_large = f"more than {MAX_HEADERS} header lines"
        del lines[-1]
    elif sum(text.count(c) for c in ',;"<') > MAX_DELIMITERS:
        too_large = f"more than {MAX_DELIMITERS} delimiters in the header section"
    fields: list[tuple[str, list[str]]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):
            # RFC 3261 7.3.1: a line starting with whitespace continues the previous one.
            if not fields:
                raise BadRequest("continuation line before the first header")
            fields[-1][1].append(line.strip(" \t"))
            continue
        name, colon, value = line.partition(":")
        name = name.rstrip(" \t")
        if not colon:
            raise BadRequest("header line without a colon")
        if not _TOKEN.fullmatch(name):
            raise BadRequest(f"invalid header name {name!r}")
        fields.append((name, [value.strip(" \t")]))
    # Folded lines joined once, by one space (joining line by line copied the value again
    # for every line); whitespace-only lines add nothing.
    headers = [(name, " ".join(part for part in parts if part)) for name, parts in fields]
    return lines[0], headers, too_large


def _check_version(version: str) -> None:
    if version.upper() == "SIP/2.0":
        return
    if _VERSION.fullmatch(version):
        raise VersionNotSupported(f"SIP version {version!r}")
    raise BadRequest(f"malformed SIP version {version!r}")


def _start(start_line: str, headers: list[tuple[str, str]], body: bytes) -> Request | Response:
    """Builds the message a start line describes."""
    try:
        if start_line[:4].upper() == "SIP/":
            version, _, rest = start_line.partition(" ")
            _check_version(version)
            status, _, reason = rest.partition(" ")
            if not _STATUS.fullmatch(status):
                raise BadRequest(f"malformed status line {start_line!r}")
            return Response(int(status), reason, headers, body)
        parts = [part for part in start_line.split(" ") if part]
        if len(parts) != 3:
            raise BadRequest(f"malformed request line {start_line!r}")
        request = Request(parts[0], parts[1], headers, body)
    except ValueError as exc:  # the constructors' validation
        raise BadRequest(str(exc)) from None
    try:
        _check_version(parts[2])
    except BadRequest as exc:
        # Built first so a 505 can be answered with the request's Via, From, To, ...
        if request.method != "ACK":
            exc.request = request
        raise
    return request


def _content_length(headers: Sequence[tuple[str, str]]) -> int | None:
    values = {value for name, value in headers if _canon(name) == "content-length"}
    if not values:
        return None
    if len(values) > 1:
        raise BadRequest("conflicting Content-Length headers")
    value = values.pop()
    if not value.isascii() or not value.isdigit():
        raise BadRequest(f"malformed Content-Length {value!r}")
    digits = value.lstrip("0") or "0"
    if len(digits) > 9:  # far beyond any max_size; also keeps int() cheap
        raise BadRequest(f"Content-Length {value} too large")
    return int(digits)


def _check(message: Request | Response) -> None:
    """The semantic checks every parsed message must pass (RFC 3261 8.1.1)."""
    for name in _MANDATORY:
        if not message.get(name):
            raise BadRequest(f"missing {name} header")
    _, method = parse_cseq(message.get("CSeq") or "")
    if isinstance(message, Request) and method != message.method:
        raise BadRequest(f"CSeq method {method} does not match {message.method}")
    via_sent_by(message.get("Via") or "")  # the reply is routed by the top Via


def _head_end(data: bytes | bytearray, stop: int) -> tuple[int, int] | None:
    """Where the empty line after the header section (CRLF or LF, after a line ending in CRLF
    or LF) starts and ends, within ``data[:stop]``; None if it is not there.

    Two substring searches rather than the regular expression ``\\r?\\n\\r?\\n``, which has no
    literal to skip to and costs ten times as much over a header section of short lines.
    """
    found = [at for at in (data.find(b"\n\n", 0, stop), data.find(b"\n\r\n", 0, stop)) if at >= 0]
    if not found:
        return None
    at = min(found)
    end = at + (2 if data[at + 1] == 0x0A else 3)
    return (at - 1 if at and data[at - 1] == 0x0D else at), end


def _parse(data: bytes, *, stream: bool) -> Request | Response:
    # RFC 3261 7.5: CRLFs before the start line are ignored (keep-alives, stray padding).
    data = bytes(data).lstrip(b"\r\n")
    head_end = _head_end(data, len(data))
    if head_end is None:
        raise BadRequest("no empty line after the header section")
    start_line, headers, too_large = _parse_head(data[: head_end[0]])
    message = _start(start_line, headers, data[head_end[1] :])
    try:
        if too_large is not None:
            raise HeaderSectionTooLarge(too_large)
        length = _content_length(message.headers)
        if length is None and stream:
            raise BadRequest("Content-Length is mandatory on stream transports")
        if length is not None:
            if length > len(message.body):
                raise BadRequest(f"Content-Length {length} exceeds the {len(message.body)} bytes")
            # RFC 3261 18.3: bytes past Content-Length in a datagram are discarded.
            message = replace(message, body=message.body[:length])
        _check(message)
    except SipError as exc:
        if isinstance(message, Request) and message.method != "ACK":
            exc.request = message
        raise
    return message


def parse_message(data: bytes, *, max_size: int = 65535) -> Request | Response:
    """Parses one datagram (or one framed stream message) into a Request or Response.

    Lenient where RFC 3261 asks for it: folded headers, LF-only line ends, leading CRLFs,
    bytes past Content-Length (dropped). Without Content-Length the body is the rest.

    Args:
        data: The whole message.
        max_size: Largest accepted message in bytes.

    Returns:
        The parsed message; header names as received, values with folding undone.

    Raises:
        MessageTooLarge: ``len(data) > max_size``; ``HeaderSectionTooLarge`` (a
            MessageTooLarge, with ``exc.request`` built from the first header lines) for more
            than :data:`MAX_HEADERS` header lines or :data:`MAX_DELIMITERS` delimiters.
        BadRequest: Anything malformed; ``exc.request`` holds the request when it got far
            enough to be answered. ``VersionNotSupported`` (a BadRequest) for SIP/x.y != 2.0.
    """
    if len(data) > max_size:
        raise MessageTooLarge(f"{len(data)} bytes exceed the {max_size} byte limit")
    return _parse(data, stream=False)


def _frame_length(buffer: bytearray, max_size: int) -> int | None:
    """Length of the complete message at the front of ``buffer``, or None if incomplete."""
    # A message that fits max_size has its header end inside the first max_size bytes.
    head_end = _head_end(buffer, max_size)
    if head_end is None:
        if len(buffer) >= max_size:
            raise MessageTooLarge(f"header section exceeds the {max_size} byte limit")
        return None
    _, headers, too_large = _parse_head(bytes(buffer[: head_end[0]]))
    if too_large is not None:
        raise HeaderSectionTooLarge(too_large)
    length = _content_length(headers)
    if length is None:
        raise BadRequest("Content-Length is mandatory on stream transports")
    total = head_end[1] + length
    if total > max_size:
        raise MessageTooLarge(f"{total} byte message exceeds the {max_size} byte limit")
    return total if len(buffer) >= total else None


def parse_stream(buffer: bytearray, *, max_size: int = 65535) -> list[Request | Response]:
    """Takes the complete messages off the front of a TCP/TLS receive buffer.

    Consumed bytes are deleted from ``buffer``; a partial message stays for the next call.
    CRLFs between messages (RFC 5626 keep-alives) are dropped. Call again until it returns
    an empty list: messages before a bad one are returned first, and the bad one raises on
    the next call.

    Args:
        buffer: Receive buffer, modified in place.
        max_size: Largest accepted message in bytes.

    Returns:
        Messages in arrival order, possibly empty.

    Raises:
        BadRequest: A framed message is malformed: it has been consumed and the stream
            can continue (answer ``exc.request`` if set). If its framing itself is broken
            (bad header section, no or bad Content-Length) nothing is consumed and the
            connection must be closed.
        MessageTooLarge: The message at the front exceeds ``max_size``, or its header
            section the limits (:class:`HeaderSectionTooLarge`); close the connection.
    """
    messages: list[Request | Response] = []
    while True:
        del buffer[: len(buffer) - len(buffer.lstrip(b"\r\n"))]
        try:
            length = _frame_length(buffer, max_size) if buffer else None
        except SipError:
            if messages:
                break
            raise
        if length is None:
            break
        frame = bytes(buffer[:length])
        del buffer[:length]
        try:
            messages.append(_parse(frame, stream=True))
        except SipError:
            if messages:
                buffer[:0] = frame  # report it on the next call, after these messages
                break
            raise
    return messages


def serialise(msg: Request | Response) -> bytes:
    """Renders a message with CRLF line ends and a Content-Length matching the body.

    An existing Content-Length (or ``l``) keeps its place and gets the right value; otherwise
    one is appended.

    Args:
        msg: The message.

    Returns:
        Wire bytes.
    """
    if isinstance(msg, Request):
        lines = [f"{msg.method} {msg.uri} SIP/2.0"]
    else:
        lines = [f"SIP/2.0 {msg.status} {msg.reason}"]
    length = str(len(msg.body))
    seen = False
    for name, value in msg.headers:
        if _canon(name) == "content-length":
            if seen:
                continue
            seen, value = True, length
        lines.append(f"{name}: {value}")
    if not seen:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + msg.body


def response_to(
    request: Request,
    status: int,
    reason: str,
    *,
    to_tag: str | None = None,
    extra_headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> Response:
    """Builds a response to ``request`` as RFC 3261 8.2.6 describes.

    Copies every Via in order, From, To, Call-ID and CSeq; Record-Route too when the
    response can establish a dialog (101-299 to INVITE/SUBSCRIBE/REFER/NOTIFY, 12.1.1).

    Args:
        request: The request answered.
        status: Status code, 100-699.
        reason: Reason phrase.
        to_tag: Added to To as ``;tag=`` unless To already has a tag. Leave it out for 100.
        extra_headers: Appended after the copied headers (any Content-Length is ignored).
        body: Response body.
        content_type: Content-Type header value, added when given.

    Returns:
        The response, with a Content-Length matching ``body``.

    Raises:
        ValueError: ``to_tag`` is not a token, or a header/status is invalid.
    """
    if to_tag is not None and not _TOKEN.fullmatch(to_tag):
        raise ValueError(f"invalid To tag {to_tag!r}")
    copy_route = 100 < status < 300 and request.method in _DIALOG_CREATING
    headers: list[tuple[str, str]] = []
    for name, value in request.headers:
        canon = _canon(name)
        if canon == "via":
            headers.append(("Via", value))
        elif canon == "record-route" and copy_route:
            headers.append(("Record-Route", value))
    for name in _MANDATORY[1:]:
        copied = request.get(name)
        if copied is None:
            continue
        if name == "To" and to_tag is not None:
            try:
                tagged = "tag" in header_params(copied)
            except BadRequest:
                tagged = False
            if not tagged:
                copied = f"{copied};tag={to_tag}"
        headers.append((name, copied))
    headers.extend(h for h in extra_headers if _canon(h[0]) != "content-length")
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    headers.append(("Content-Length", str(len(body))))
    return Response(status, reason, headers, body)
