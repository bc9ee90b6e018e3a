"""Digest authentication, the client's side (RFC 3261 22, RFC 2617, RFC 7616).

A carrier answers our request with 401 (``WWW-Authenticate``) or 407
(``Proxy-Authenticate``); :func:`choose_challenge` reads those headers and picks the
challenge to answer, and :func:`authorization` computes the value of the ``Authorization``
(or ``Proxy-Authorization``) header of the request sent again.

Supported: the algorithms MD5, MD5-sess, SHA-256 and SHA-256-sess; qop ``auth``, and
``auth-int`` when it is the only one offered (the response then covers the body's hash);
no qop at all (RFC 2069). Not supported: SHA-512-256, ``userhash`` (the username is always
sent in clear) and ``charset`` (everything is UTF-8).

Exceptions:
    DigestError (a ValueError): a challenge that is malformed or that we cannot answer.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = [
    "Challenge",
    "Credentials",
    "DigestError",
    "authorization",
    "choose_challenge",
    "parse_challenge",
]

# Algorithm name (as RFC 7616 spells it) -> (hashlib's name, whether HA1 is per session).
_ALGORITHMS = {
    "MD5": ("md5", False),
    "MD5-sess": ("md5", True),
    "SHA-256": ("sha256", False),
    "SHA-256-sess": ("sha256", True),
}
_BY_LOWER = {name.lower(): name for name in _ALGORITHMS}
# Among several challenges the strongest hash wins; equals keep the server's order.
_STRENGTH = {"MD5": 0, "MD5-sess": 0, "SHA-256": 1, "SHA-256-sess": 1}

_TOKEN = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+")
_WS = re.compile(r"[ \t\r\n]*")
_TOKEN68 = re.compile(r"[A-Za-z0-9._~+/-]+=*(?=[ \t\r\n]*(?:,|$))")
_BARE_VALUE = re.compile(r"[^ \t\r\n,\"]*")
_CTL = re.compile(r"[\x00-\x1f\x7f]")


class DigestError(ValueError):
    """A challenge that is malformed, not Digest, or asks for something we do not support."""


@dataclass(frozen=True)
class Credentials:
    """A username and password for a SIP trunk. The password never appears in a repr."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Challenge:
    """One Digest challenge from a ``WWW-Authenticate`` or ``Proxy-Authenticate`` header.

    Attributes:
        realm: Protection space; credentials are per realm.
        nonce: The server's nonce.
        opaque: Returned unchanged, when given.
        algorithm: ``MD5``, ``MD5-sess``, ``SHA-256`` or ``SHA-256-sess``.
        qop: The qop options offered, lower case (empty: RFC 2069 style).
        stale: The previous request's nonce had expired, not its credentials.
        proxy: From a 407 (answer with ``Proxy-Authorization``), not a 401.
    """

    realm: str
    nonce: str
    opaque: str | None = None
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    stale: bool = False
    proxy: bool = False

    @property
    def header_name(self) -> str:
        """The header that answers this challenge."""
        return "Proxy-Authorization" if self.proxy else "Authorization"


Params = list[tuple[str, str, bool]]  # (name in lower case, value, whether it was quoted)


def _scan(value: str) -> list[tuple[str, Params]]:
    """The challenges in one header value: ``[(scheme, params)]`` (RFC 7235 4.1).

    Lenient where servers are known to err: empty list elements, missing commas between
    parameters, and an unquoted ``qop=auth,auth-int``.

    Raises:
        DigestError: Not a list of challenges (a parameter before any scheme, an unclosed
            quoted string, a stray character).
    """
    challenges: list[tuple[str, Params]] = []
    pos, end = 0, len(value)

    def skip(at: int) -> int:
        match = _WS.match(value, at)
        return match.end() if match else at

    while True:
        pos = skip(pos)
        while pos < end and value[pos] == ",":
            pos = skip(pos + 1)
        if pos >= end:
            return challenges
        name = _TOKEN.match(value, pos)
        if name is None:
            raise DigestError(f"unexpected {value[pos]!r} at {pos}")
        after = skip(name.end())
        if after < end and value[after] == "=":
            if not challenges:
                raise DigestError("a parameter before the scheme")
            pos = skip(after + 1)
            if pos < end and value[pos] == '"':
                text, pos = _quoted(value, pos)
                quoted = True
            else:
                bare = _BARE_VALUE.match(value, pos)
                assert bare is not None  # the pattern matches the empty string
                text, pos, quoted = bare.group(), bare.end(), False
            challenges[-1][1].append((name.group().lower(), text, quoted))
            continue
        params = challenges[-1][1] if challenges else []
        if params and params[-1][0] == "qop" and not params[-1][2]:
            if after >= end or value[after] == ",":  # qop=auth,auth-int without quotes
                params[-1] = ("qop", f"{params[-1][1]},{name.group()}", False)
                pos = after
                continue
        challenges.append((name.group(), []))
        pos = after
        token68 = _TOKEN68.match(value, pos)
        if token68 is not None and pos > name.end():
            pos = token68.end()  # e.g. Basic's credentials: not ours to read


def _quoted(value: str, pos: int) -> tuple[str, int]:
    """The quoted string starting at ``value[pos]`` (a ``"``), unescaped, and where it ends."""
    chars: list[str] = []
    pos += 1
    while pos < len(value):
        ch = value[pos]
        if ch == "\\" and pos + 1 < len(value):
            chars.append(value[pos + 1])
            pos += 2
        elif ch == '"':
            return "".join(chars), pos + 1
        else:
            chars.append(ch)
            pos += 1
    raise DigestError("unclosed quoted string")


def _challenge(scheme: str, params: Params, proxy: bool) -> Challenge:
    """A :class:`Challenge` from a scanned one; see :func:`parse_challenge`."""
    if scheme.lower() != "digest":
        raise DigestError(f"scheme {scheme!r} is not Digest")
    values: dict[str, str] = {}
    for name, text, _ in params:
        if name in values:
            raise DigestError(f"{name} given twice")
        values[name] = text
    realm, nonce = values.get("realm"), values.get("nonce")
    if realm is None:
        raise DigestError("no realm")
    if not nonce:
        raise DigestError("no nonce")
    algorithm = _BY_LOWER.get(values.get("algorithm", "MD5").strip().lower())
    if algorithm is None:
        raise DigestError(f"unsupported algorithm {values['algorithm']!r}")
    qop: tuple[str, ...] = ()
    if "qop" in values:
        qop = tuple(q for q in (o.strip(" \t").lower() for o in values["qop"].split(",")) if q)
        if qop and not {"auth", "auth-int"} & set(qop):
            raise DigestError(f"unsupported qop {values['qop']!r}")
    if _ALGORITHMS[algorithm][1] and not qop:
        # -sess hashes a cnonce into HA1, but without qop no cnonce is sent (RFC 2617 3.2.2)
        raise DigestError(f"{algorithm} without qop cannot be answered")
    return Challenge(
        realm=realm,
        nonce=nonce,
        opaque=values.get("opaque"),
        algorithm=algorithm,
        qop=qop,
        stale=values.get("stale", "").strip().lower() == "true",
        proxy=proxy,
    )


def parse_challenge(value: str, proxy: bool) -> Challenge:
    """Parses a header value holding one Digest challenge.

    Parameter names, the scheme, ``algorithm`` and ``stale`` are read in any case; values
    may be quoted or not; spaces around ``=`` and ``,`` and unknown parameters are ignored.

    Args:
        value: A ``WWW-Authenticate`` or ``Proxy-Authenticate`` value.
        proxy: Whether it came from a 407 (``Proxy-Authenticate``).

    Returns:
        The challenge.

    Raises:
        DigestError: Not exactly one challenge, not Digest, no realm or nonce, a parameter
            given twice, or an algorithm or qop we do not support.
    """
    challenges = _scan(value)
    if len(challenges) != 1:
        raise DigestError(f"{len(challenges)} challenges in one value")
    scheme, params = challenges[0]
    return _challenge(scheme, params, proxy)


def choose_challenge(values: Iterable[str], proxy: bool) -> Challenge:
    """The challenge to answer among all a response offers.

    Every value may hold several challenges. Those we cannot answer (other schemes,
    unsupported algorithms, malformed ones) are skipped; of the rest SHA-256 wins over MD5,
    and otherwise the first offered.

    Args:
        values: Every ``WWW-Authenticate`` (or ``Proxy-Authenticate``) value of a response.
        proxy: Whether they came from a 407.

    Returns:
        The chosen challenge.

    Raises:
        DigestError: None of them can be answered (the reason for the first).
    """
    usable: list[Challenge] = []
    errors: list[DigestError] = []
    for value in values:
        try:
            scanned = _scan(value)
        except DigestError as exc:
            errors.append(exc)
            continue
        for scheme, params in scanned:
            try:
                usable.append(_challenge(scheme, params, proxy))
            except DigestError as exc:
                errors.append(exc)
    if not usable:
        raise errors[0] if errors else DigestError("no challenge")
    return max(usable, key=lambda c: _STRENGTH[c.algorithm])  # max keeps the first of equals


def _quote(name: str, value: str) -> str:
    if _CTL.search(value):
        raise DigestError(f"control character in {name}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def authorization(
    challenge: Challenge,
    credentials: Credentials,
    method: str,
    uri: str,
    cnonce: str,
    nc: int = 1,
    body: bytes = b"",
) -> str:
    """The ``Authorization`` (or ``Proxy-Authorization``) value answering ``challenge``.

    Args:
        challenge: The challenge.
        credentials: Username and password.
        method: The request's method, e.g. ``"INVITE"``.
        uri: The digest-uri: the request's Request-URI (RFC 3261 22.4).
        cnonce: Our client nonce (used only with qop, and by the -sess algorithms).
        nc: How many requests, this one included, we have sent with this nonce.
        body: The request's body (hashed only for qop ``auth-int``).

    Returns:
        e.g. ``Digest username="…", realm="…", nonce="…", uri="…", response="…",
        algorithm=MD5, cnonce="…", qop=auth, nc=00000001, opaque="…"``.

    Raises:
        DigestError: A value we cannot put in the header (a control character), or ``nc``
            outside 1 to 2**32 - 1.
    """
    if not 0 < nc < 2**32:
        raise DigestError(f"nonce count {nc} out of range")
    hash_name, per_session = _ALGORITHMS[challenge.algorithm]

    def h(*parts: str | bytes) -> str:
        data = b":".join(p.encode() if isinstance(p, str) else p for p in parts)
        return hashlib.new(hash_name, data).hexdigest()

    ha1 = h(credentials.username, challenge.realm, credentials.password)
    if per_session:
        ha1 = h(ha1, challenge.nonce, cnonce)
    qop = "auth" if "auth" in challenge.qop else "auth-int" if challenge.qop else None
    ha2 = h(method, uri, h(body)) if qop == "auth-int" else h(method, uri)
    count = f"{nc:08x}"
    if qop is None:
        response = h(ha1, challenge.nonce, ha2)
    else:
        response = h(ha1, challenge.nonce, count, cnonce, qop, ha2)
    # nonce before cnonce: some servers (sipp 3.6) find parameters by substring.
    parts = [
        f"username={_quote('username', credentials.username)}",
        f"realm={_quote('realm', challenge.realm)}",
        f"nonce={_quote('nonce', challenge.nonce)}",
        f"uri={_quote('uri', uri)}",
        f'response="{response}"',
        f"algorithm={challenge.algorithm}",
    ]
    if qop is not None:
        parts += [f"cnonce={_quote('cnonce', cnonce)}", f"qop={qop}", f"nc={count}"]
    if challenge.opaque is not None:
        parts.append(f"opaque={_quote('opaque', challenge.opaque)}")
    return "Digest " + ", ".join(parts)
