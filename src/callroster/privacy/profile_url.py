"""A public social profile's address, checked before anyone else on a call may see it.

A participant may show a link to a public profile of theirs (privacy-policy-2016.txt's
"social networks") beside their name in Live Call Status, only with their consent. Every
other participant's browser renders it as a link, so it must be a plain web address and
nothing else: ``https`` only (no ``javascript:``, ``data:``, ``http:``), a host name (no
address, no ``user:password@``, no port), no fragment, no backslash (browsers read it as a
slash), no spaces or control characters, at most :data:`MAX_LENGTH` characters. An
internationalised host name is kept in its ASCII (punycode) form, so a look-alike letter
cannot pass for a familiar site in the roster; other non-ASCII characters are
percent-encoded.

Pure: no I/O. :func:`check_profile_url` raises only :class:`ProfileUrlError`.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import quote, urlsplit

import idna

MAX_LENGTH = 300
# RFC 3986 characters allowed as they are in a path and a query ("%" keeps an existing
# percent-escape as it is).
_SAFE = "/:@!$&'()*+,;=-._~%?"
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


class ProfileUrlError(ValueError):
    """The address is not one a profile link may have; ``str()`` says why, in plain words."""


def check_profile_url(text: str) -> str:
    """The address as it will be shown, or why it cannot be.

    Args:
        text: what the participant typed.

    Returns:
        The normalised address: ``https://`` + the host in lower case ASCII (punycode for
        an internationalised name) + path and query, percent-encoded.

    Raises:
        ProfileUrlError: the address is not an https address of a named host, or is too long.
    """
    if not isinstance(text, str):
        raise ProfileUrlError("a profile address is text")
    text = text.strip()
    if not text:
        raise ProfileUrlError("type the address of your public profile")
    if len(text) > MAX_LENGTH:
        raise ProfileUrlError(f"a profile address is at most {MAX_LENGTH} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zs", "Zl", "Zp") for c in text):
        raise ProfileUrlError("a profile address has no spaces or control characters")
    if "\\" in text:
        raise ProfileUrlError("a profile address has no backslash")
    if not text.lower().startswith("https://"):
        raise ProfileUrlError("a profile address starts with https://")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ProfileUrlError("this is not a web address") from None
    if parts.fragment or "#" in text:
        raise ProfileUrlError("a profile address has no #fragment")
    if "@" in parts.netloc:
        raise ProfileUrlError("a profile address has no user name or password in it")
    if port is not None or parts.netloc.endswith(":"):
        raise ProfileUrlError("a profile address has no port number")
    host = _ascii_host(parts.hostname or "")
    path = _escaped(parts.path) or "/"
    query = _escaped(parts.query)
    shown = f"https://{host}{path}" + (f"?{query}" if query else "")
    if len(shown) > MAX_LENGTH:
        raise ProfileUrlError(f"a profile address is at most {MAX_LENGTH} characters")
    return shown


def profile_host(url: str) -> str:
    """The host a checked address links to, as the roster shows it ("linkedin.com")."""
    host = urlsplit(url).hostname or ""
    return host[4:] if host.startswith("www.") else host


def _ascii_host(host: str) -> str:
    if not host:
        raise ProfileUrlError("a profile address names a site (https://site.example/you)")
    if host.startswith("[") or _is_address(host):
        raise ProfileUrlError("a profile address names a site, not a network address")
    host = host.rstrip(".")
    try:
        ascii_host = idna.encode(host, uts46=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError, ValueError):
        raise ProfileUrlError("the site's name in this address is not a valid name") from None
    labels = ascii_host.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise ProfileUrlError("the site's name in this address is not a valid name")
    if labels[-1].isdigit():
        raise ProfileUrlError("a profile address names a site, not a network address")
    return ascii_host


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _escaped(part: str) -> str:
    """Non-ASCII and unsafe characters percent-encoded; a lone "%" too."""
    return quote(_ESCAPE.sub("%25", part), safe=_SAFE)
