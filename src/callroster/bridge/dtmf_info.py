"""Digits sent in SIP INFO: ``application/dtmf-relay`` (``Signal=5``) and
``application/dtmf`` (the digit alone). Pure."""

from __future__ import annotations

from callroster.sip.message import Request

VALID = set("0123456789*#ABCD")


def digit_from_info(request: Request) -> str | None:
    content_type = (request.get("Content-Type") or "").split(";")[0].strip().lower()
    try:
        body = request.body.decode("ascii", errors="strict").strip()
    except UnicodeDecodeError:
        return None
    if content_type == "application/dtmf-relay":
        for line in body.splitlines():
            key, _, value = line.partition("=")
            if key.strip().lower() == "signal":
                digit = value.strip().upper()
                return digit if digit in VALID else None
        return None
    if content_type == "application/dtmf":
        digit = body.upper()
        if digit in VALID:
            return digit
        if digit.isdigit() and 10 <= int(digit) <= 15:  # some phones send event codes
            return "*#ABCD"[int(digit) - 10]
    return None
