"""The TOTP second factor (RFC 6238: 6 digits, 30-second steps, SHA-1, as every
authenticator app expects) and its single-use recovery codes.

Time is passed in. A code is accepted for the current step and one step either side (a
phone's clock may drift), and never for a step at or before the last one accepted, so a
code seen over someone's shoulder cannot be replayed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets

import pyotp

ISSUER = "Callroster"
STEP_SECONDS = 30
DIGITS = 6
RECOVERY_CODE_COUNT = 10
# 16 characters from 31 letters and digits (no 0/o, 1/l/i): 79 random bits, so a plain
# SHA-256 of the code is enough to store it (no one can try 2^79 guesses against it).
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_RECOVERY_GROUPS = 4
_SIX_DIGITS = re.compile(r"\d{6}")


def new_secret() -> str:
    """A random base32 secret (160 bits), as authenticator apps take it."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account_label: str) -> str:
    """The ``otpauth://totp/…`` URI an authenticator app reads (typed or from a QR code)."""
    return pyotp.TOTP(secret).provisioning_uri(name=account_label, issuer_name=ISSUER)


def step_of(now: dt.datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def code_at(secret: str, now: dt.datetime) -> str:
    """The code an authenticator app shows at ``now`` (for tests and for nothing else)."""
    return pyotp.TOTP(secret).at(now)


def looks_like_totp(text: str) -> bool:
    return bool(_SIX_DIGITS.fullmatch(text.replace(" ", "")))


def verify(secret: str, code: str, now: dt.datetime, last_step: int | None) -> int | None:
    """The step ``code`` is valid for at ``now`` (±1 step), or None.

    A step at or before ``last_step`` (the last one accepted) is refused: codes are single
    use. Compared in constant time.
    """
    code = code.replace(" ", "")
    if not _SIX_DIGITS.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret)
    current = step_of(now)
    matched = None
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            matched = step
    if matched is None or (last_step is not None and matched <= last_step):
        return None
    return matched


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """Fresh recovery codes, ``xxxx-xxxx-xxxx-xxxx``, shown to their owner once."""
    return [
        "-".join(
            "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(4))
            for _ in range(_RECOVERY_GROUPS)
        )
        for _ in range(count)
    ]


def normalise_recovery_code(text: str) -> str:
    """Case, spaces and dashes do not matter when a recovery code is typed."""
    return re.sub(r"[\s-]", "", text).lower()


def recovery_code_hash(code: str) -> bytes:
    return hashlib.sha256(f"recovery\x00{normalise_recovery_code(code)}".encode()).digest()
