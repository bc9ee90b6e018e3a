"""SDES key exchange (RFC 4568): the ``a=crypto`` attribute, parsed and formatted.

``a=crypto:<tag> <crypto-suite> inline:<base64 key||salt>[|<lifetime>][|<MKI>:<length>]``

The bridge speaks two suites: ``AES_CM_128_HMAC_SHA1_80`` (RFC 4568, a 16-byte master key
and 14-byte salt) and ``AEAD_AES_128_GCM`` (RFC 7714, a 16-byte key and 12-byte salt).
Anything else in a line makes it one the bridge cannot use, said by :class:`CryptoError`:
an unknown suite, several keys (they need an MKI in every packet), an MKI at all (libsrtp's
policy here has none), a key of the wrong size, or session parameters (``KDR=``,
``UNENCRYPTED_SRTP`` and the like change what the suite means, and RFC 4568 6.3 says an
answerer that does not do them must not take the line). The offer/answer code then moves on
to the offerer's next line.

Any caller can send one, so the parser is bounded: a value longer than :data:`MAX_VALUE`
characters is refused before anything else is looked at. Pure: no randomness here; keys
come in as bytes (:func:`for_suite`).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

AES_CM_128_HMAC_SHA1_80 = "AES_CM_128_HMAC_SHA1_80"
AEAD_AES_128_GCM = "AEAD_AES_128_GCM"

KEY_SALT_LENGTHS = {AES_CM_128_HMAC_SHA1_80: 30, AEAD_AES_128_GCM: 28}
"""Master key plus master salt, in bytes, for each suite the bridge supports."""
SUITES = tuple(KEY_SALT_LENGTHS)
"""The supported suites, in the order the bridge offers them (the widest supported first)."""
MAX_KEY_MATERIAL = max(KEY_SALT_LENGTHS.values())
"""Bytes of random key material enough for any supported suite (see :func:`for_suite`)."""

MAX_VALUE = 256
"""Characters in one attribute value; a real one is about 70."""

_TAG = re.compile(r"[0-9]{1,9}")
_SUITE = re.compile(r"[A-Za-z0-9_]{1,64}")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_DECIMAL = re.compile(r"[1-9][0-9]{0,19}")
_POWER = re.compile(r"2\^([0-9]{1,2})")


class CryptoError(ValueError):
    """An ``a=crypto`` value the bridge cannot use, and why (for logs; never sent back)."""


@dataclass(frozen=True)
class CryptoAttribute:
    """One ``a=crypto`` line.

    Attributes:
        tag: The line's tag (1 to 999,999,999), which the answer repeats.
        suite: One of :data:`SUITES`.
        key: Master key followed by master salt, :data:`KEY_SALT_LENGTHS` bytes.
        lifetime: Packets the key may protect, when the line says (``2^31`` or a number).
    """

    tag: int
    suite: str
    key: bytes
    lifetime: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.tag <= 999_999_999:
            raise ValueError(f"crypto tag out of range: {self.tag}")
        if self.suite not in KEY_SALT_LENGTHS:
            raise ValueError(f"unsupported crypto suite {self.suite!r}")
        if len(self.key) != KEY_SALT_LENGTHS[self.suite]:
            raise ValueError(
                f"{self.suite} needs {KEY_SALT_LENGTHS[self.suite]} bytes of key and salt,"
                f" not {len(self.key)}"
            )
        if self.lifetime is not None and self.lifetime < 1:
            raise ValueError(f"key lifetime must be positive: {self.lifetime}")


def for_suite(tag: int, suite: str, key_material: bytes) -> CryptoAttribute:
    """A line of ours: ``suite`` keyed with the first bytes of ``key_material`` (random bytes
    from the caller, at least :data:`MAX_KEY_MATERIAL` of them).

    Raises:
        ValueError: an unknown suite, or too few bytes.
    """
    length = KEY_SALT_LENGTHS.get(suite)
    if length is None:
        raise ValueError(f"unsupported crypto suite {suite!r}")
    if len(key_material) < length:
        raise ValueError(f"{suite} needs {length} bytes of key material")
    return CryptoAttribute(tag, suite, bytes(key_material[:length]))


def parse_crypto(value: str) -> CryptoAttribute:
    """Reads the value of an ``a=crypto`` attribute (what follows ``a=crypto:``).

    Raises:
        CryptoError: malformed, too long, or not usable by the bridge (see the module).
    """
    if len(value) > MAX_VALUE:
        raise CryptoError("crypto attribute too long")
    fields = value.split()
    if len(fields) < 3:
        raise CryptoError("crypto attribute needs a tag, a suite and a key")
    tag_text, suite, key_params, *session_params = fields
    if not _TAG.fullmatch(tag_text):
        raise CryptoError("crypto tag is not a number of 1 to 9 digits")
    if not _SUITE.fullmatch(suite):
        raise CryptoError("malformed crypto suite")
    if suite not in KEY_SALT_LENGTHS:
        raise CryptoError(f"unsupported crypto suite {suite}")
    if session_params:
        raise CryptoError("crypto session parameters are not supported")
    if ";" in key_params:
        raise CryptoError("more than one key in a crypto attribute")
    method, _, info = key_params.partition(":")
    if method.lower() != "inline":
        raise CryptoError("crypto key method is not inline")
    key_text, *extras = info.split("|")
    if len(extras) > 2:
        raise CryptoError("too many crypto key parameters")
    key = _decode_key(key_text, KEY_SALT_LENGTHS[suite])
    lifetime: int | None = None
    for extra in extras:
        if ":" in extra:
            raise CryptoError("crypto keys with an MKI are not supported")
        if lifetime is not None:
            raise CryptoError("two crypto key lifetimes")
        lifetime = _lifetime(extra)
    return CryptoAttribute(int(tag_text), suite, key, lifetime)


def format_crypto(attribute: CryptoAttribute) -> str:
    """The attribute's value, as :func:`parse_crypto` reads it."""
    key = base64.b64encode(attribute.key).decode("ascii")
    lifetime = "" if attribute.lifetime is None else f"|{_format_lifetime(attribute.lifetime)}"
    return f"{attribute.tag} {attribute.suite} inline:{key}{lifetime}"


def _decode_key(text: str, length: int) -> bytes:
    if not _BASE64.fullmatch(text):
        raise CryptoError("crypto key is not base64")
    # Some stacks leave the padding off: put it back rather than refuse them.
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise CryptoError("crypto key is not base64") from None
    if len(key) != length:
        raise CryptoError(f"crypto key is {len(key)} bytes, the suite needs {length}")
    return key


def _lifetime(text: str) -> int:
    power = _POWER.fullmatch(text)
    if power is not None:
        exponent = int(power.group(1))
        if not 1 <= exponent <= 48:  # libsrtp's limit for these suites is 2^48 packets
            raise CryptoError("crypto key lifetime out of range")
        return 1 << exponent
    if _DECIMAL.fullmatch(text):
        lifetime = int(text)
        if lifetime <= 1 << 48:
            return lifetime
    raise CryptoError("malformed crypto key lifetime")


def _format_lifetime(lifetime: int) -> str:
    if lifetime & (lifetime - 1) == 0 and lifetime > 1:
        return f"2^{lifetime.bit_length() - 1}"
    return str(lifetime)
