"""SIP/SIPS/tel URIs and name-addr header values (RFC 3261 19.1 and 20.10, RFC 3966).

Pure string parsing; errors are :class:`~callroster.sip.message.BadRequest` so that a
transport can answer a request whose From, To or Contact does not parse with a 400.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from callroster.sip.message import _URI, BadRequest, _hostport, _split_top, header_params

# RFC 3261 25.1 character classes (unreserved, escaped and the per-part extras).
_UNRESERVED = r"A-Za-z0-9\-_.!~*'()%"
_USER = re.compile(f"[{_UNRESERVED}&=+$,;?/]+")
_PASSWORD = re.compile(f"[{_UNRESERVED}&=+$,]*")
_PARAM = re.compile(f"[{_UNRESERVED}\\[\\]/:&+$]+")
_HNAME = re.compile(f"[{_UNRESERVED}\\[\\]/?:+$]+")
_HVALUE = re.compile(f"[{_UNRESERVED}\\[\\]/?:+$]*")
# RFC 3966 global (+digits) or local (hex digits, * #) numbers with visual separators.
_TEL = re.compile(r"\+?[0-9A-Fa-f*#.()\-]+")


@dataclass(frozen=True)
class SipUri:
    """A parsed sip:, sips: or tel: URI.

    For tel: the number is in ``user`` and ``host`` is empty. Percent-escapes are kept as
    received; parameter names are lower-cased.
    """

    scheme: str
    user: str | None
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    password: str | None = None

    def __str__(self) -> str:
        if self.scheme == "tel":
            text = f"tel:{self.user}"
        else:
            userinfo = ""
            if self.user is not None:
                secret = f":{self.password}" if self.password is not None else ""
                userinfo = f"{self.user}{secret}@"
            host = f"[{self.host}]" if ":" in self.host else self.host
            port = f":{self.port}" if self.port is not None else ""
            text = f"{self.scheme}:{userinfo}{host}{port}"
        text += "".join(f";{k}" if v is None else f";{k}={v}" for k, v in self.params.items())
        if self.headers:
            text += "?" + "&".join(f"{k}={v}" for k, v in self.headers.items())
        return text


@dataclass(frozen=True)
class NameAddr:
    """A From/To/Contact/Route style value: optional display name, URI, header params."""

    display_name: str | None
    uri: str
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        """The ``tag`` header parameter, or None."""
        return self.params.get("tag")

    def __str__(self) -> str:
        # Always <...>: mandatory when the URI has , ; or ? and harmless otherwise.
        text = f"<{self.uri}>"
        if self.display_name is not None:
            escaped = self.display_name.replace("\\", "\\\\").replace('"', '\\"')
            text = f'"{escaped}" {text}'
        return text + "".join(f";{k}" if v is None else f";{k}={v}" for k, v in self.params.items())


def _uri_params(items: list[str]) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not _PARAM.fullmatch(name) or (eq and not _PARAM.fullmatch(value)):
            raise BadRequest(f"malformed URI parameter {item!r}")
        params.setdefault(name.lower(), value if eq else None)
    return params


def parse_uri(uri: str) -> SipUri:
    """Parses a sip:, sips: or tel: URI.

    Args:
        uri: e.g. ``sip:alice:pw@[2001:db8::1]:5061;transport=tls?subject=hi``.

    Returns:
        The parts; scheme lower-cased, IPv6 host without brackets.

    Raises:
        BadRequest: Other scheme, whitespace, or a part that does not match RFC 3261 19.1.
    """
    scheme, colon, rest = uri.partition(":")
    scheme = scheme.lower()
    if not colon or scheme not in ("sip", "sips", "tel") or re.search(r"\s", rest):
        raise BadRequest(f"unsupported or malformed URI {uri!r}")
    if scheme == "tel":
        number, *items = rest.split(";")
        if not _TEL.fullmatch(number):
            raise BadRequest(f"malformed tel URI {uri!r}")
        return SipUri("tel", number, "", None, _uri_params(items))
    # '@' cannot appear unescaped anywhere but between userinfo and host, while the user
    # part may contain ';' and '?', so split on '@' before looking for params and headers.
    userinfo, at, hostpart = rest.partition("@")
    if not at:
        hostpart = rest
    hostpart, question, query = hostpart.partition("?")
    hostport, *items = hostpart.split(";")
    user = password = None
    if at:
        user, has_password, secret = userinfo.partition(":")
        if not _USER.fullmatch(user) or not _PASSWORD.fullmatch(secret):
            raise BadRequest(f"malformed user part in {uri!r}")
        password = secret if has_password else None
    host, port = _hostport(hostport)
    headers: dict[str, str] = {}
    for item in query.split("&") if question else ():
        name, eq, value = item.partition("=")
        if not eq or not _HNAME.fullmatch(name) or not _HVALUE.fullmatch(value):
            raise BadRequest(f"malformed URI header {item!r}")
        headers[name] = value
    return SipUri(scheme, user, host, port, _uri_params(items), headers, password)


def _unquote(text: str) -> tuple[str, str]:
    """Splits a leading quoted-string off ``text``: (unescaped content, remainder)."""
    chars: list[str] = []
    i = 1
    while i < len(text):
        ch = text[i]
        if ch == '"':
            return "".join(chars), text[i + 1 :]
        if ch == "\\":
            i += 1
            if i == len(text):
                break
            ch = text[i]
        chars.append(ch)
        i += 1
    raise BadRequest(f"unterminated quoted string in {text!r}")


def parse_name_addr(value: str) -> NameAddr:
    """Parses a name-addr or addr-spec header value with its header parameters.

    Handles ``"Alice \\"A\\"" <sip:a@b>;tag=x``, ``Alice <sip:a@b>``, ``<sip:a@b>`` and
    ``sip:a@b;tag=x``, where params after an addr-spec without <> belong to the header.

    Args:
        value: One header value (one element of a Contact/Route list).

    Returns:
        Display name (unescaped; None when absent), URI (not further parsed, see
        :func:`parse_uri`) and lower-cased header params.

    Raises:
        BadRequest: Unbalanced quotes or brackets, no URI, or stray text.
    """
    text = value.strip(" \t")
    display: str | None = None
    if text.startswith('"'):
        display, text = _unquote(text)
        text = text.lstrip(" \t")
        if not text.startswith("<"):
            raise BadRequest(f"quoted display name without <URI> in {value!r}")
    head = _split_top(text, ";")[0]
    if "<" in head:
        before, _, inner = head.partition("<")
        if display is None and before.strip(" \t"):
            display = before.strip(" \t")
            if '"' in display or ">" in display:
                raise BadRequest(f"malformed display name in {value!r}")
        elif before.strip(" \t"):
            raise BadRequest(f"stray text before <URI> in {value!r}")
        uri, gt, after = inner.partition(">")
        if not gt or after.strip(" \t"):
            raise BadRequest(f"malformed <URI> in {value!r}")
    else:
        uri = head
    uri = uri.strip(" \t")
    if not _URI.fullmatch(uri):
        raise BadRequest(f"malformed URI in {value!r}")
    return NameAddr(display, uri, header_params(text))
