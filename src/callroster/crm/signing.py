"""Signatures on the webhooks Callroster sends, and their check on the receiving side.

The ``Callroster-Signature`` header reads ``t=<timestamp>,v1=<signature>``: the Unix time the
request was signed, in whole seconds, and the lower-case hex HMAC-SHA256, under the webhook's
signing secret, of ``f"{timestamp}.".encode() + body`` (the raw request body, byte for byte).
Signing the timestamp with the body lets a receiver refuse an old request replayed later:
``verify`` accepts a timestamp only within ``tolerance`` seconds of its own clock, either way.

A receiver may see several ``v1=`` entries in one header (room for a secret being rotated); it
accepts the request when any of them matches. Pure: time is passed in, never read here.
"""

from __future__ import annotations

import hashlib
import hmac
import re

SCHEME = "v1"
DEFAULT_TOLERANCE = 300
MAX_HEADER_LENGTH = 1024
MAX_TIMESTAMP = 10**12 - 1  # twelve digits: far beyond any real clock, and bounded

_TIMESTAMP = re.compile(r"[0-9]{1,12}", re.ASCII)
_SIGNATURE = re.compile(r"[0-9a-f]{64}", re.ASCII)


def _digest(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``Callroster-Signature`` header value for ``body`` sent at ``timestamp``.

    Args:
        secret: the webhook's signing secret.
        timestamp: Unix time of sending, in whole seconds.
        body: the exact bytes of the request body.

    Raises:
        ValueError: the timestamp is negative or has more than twelve digits.
    """
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise ValueError("a signature's timestamp must be from 0 to 999999999999")
    return f"t={timestamp},{SCHEME}={_digest(secret, timestamp, body)}"


def _parse(header: str) -> tuple[int, list[str]] | None:
    """The timestamp and the v1 signatures of a header, or None if it is malformed."""
    if len(header) > MAX_HEADER_LENGTH:
        return None
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, equals, value = item.strip().partition("=")
        if not equals:
            return None
        if key == "t":
            if timestamp is not None or not _TIMESTAMP.fullmatch(value):
                return None
            timestamp = int(value)
        elif key == SCHEME:
            if not _SIGNATURE.fullmatch(value):
                return None
            signatures.append(value)
        # Other keys are other schemes (a future v2): ignored, as the format allows.
    if timestamp is None or not signatures:
        return None
    return timestamp, signatures


def verify(
    secret: bytes,
    header: str,
    body: bytes,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE,
) -> bool:
    """Whether ``header`` is a valid, fresh signature of ``body`` under ``secret``.

    False (never an exception) for a malformed header, a signature that does not match, or a
    timestamp more than ``tolerance`` seconds from ``now`` in either direction (a replay, or a
    clock too far off). Signatures are compared in constant time.

    Args:
        secret: the webhook's signing secret.
        header: the ``Callroster-Signature`` header as received.
        body: the raw request body as received.
        now: the receiver's current Unix time.
        tolerance: how old (or how far ahead) a timestamp may be, in seconds.
    """
    parsed = _parse(header) if isinstance(header, str) else None
    if parsed is None:
        return False
    timestamp, signatures = parsed
    if not abs(now - timestamp) <= tolerance:  # written so that a NaN clock fails too
        return False
    expected = _digest(secret, timestamp, body)
    # Every candidate is compared, so the time taken does not say which one matched.
    matched = False
    for candidate in signatures:
        matched |= hmac.compare_digest(expected, candidate)
    return matched
